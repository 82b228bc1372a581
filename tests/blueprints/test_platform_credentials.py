"""Every credential the audit archive, Velero, MLflow and the training runtime read is made by the
stack, in the namespace that reads it, on the cluster that reads it; MLflow's address for the
cloud pool is served over TLS from the stack's issuer."""
from __future__ import annotations

import copy

import pytest

from hybridai.config import StackConfigError
from hybridai.program import prepare
from tests.conftest import planned
from tests.helpers import named, of_type, stack_values

EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"


def external_secrets(stack: str) -> dict[tuple[str, str, str], str]:
    """(cluster, namespace, Secret) → the remote key it is read from, for every ExternalSecret."""
    plan, _ = planned(stack)
    return {
        (r.target, r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]["data"][0]["remoteRef"]["key"]
        for r in of_type(plan.resources, EXTERNAL_SECRET)
    }


def test_finance_prod_reads_every_new_credential_from_vault_where_it_is_read() -> None:
    # GIVEN finance-prod (SOX: audit archive; backups; MLflow with an Argo UI; jobs on-prem and in the cloud) WHEN planned
    secrets = external_secrets("finance-prod")
    # THEN the archive's writer key is in the collector's namespace and, for the archive check, in logging
    assert secrets[("dc1", "log-collector", "audit-archive")] == secrets[("dc1", "logging", "audit-archive")] == "fin-prod/audit-archive"
    # AND Velero's object-store key in its namespace (the EKS cluster's Velero uses Pod Identity: none there)
    assert secrets[("dc1", "velero", "velero-object-store")] == "fin-prod/velero-object-store"
    assert not any(ns == "velero" for cluster, ns, _ in secrets if cluster == "training")
    # AND MLflow's database, admin and artifact-store keys in its namespace, Argo's SSO client in argo
    for name in ("mlflow-database", "mlflow-admin", "mlflow-object-store"):
        assert secrets[("dc1", "mlflow", name)] == f"fin-prod/{name}"
    assert secrets[("dc1", "argo", "argo-server-sso")] == "fin-prod/argo-server-sso"


def test_each_training_team_reads_its_own_login_on_every_cluster_it_has() -> None:
    # GIVEN finance-prod, whose fraud team trains on-prem and in the cloud, and credit in the cloud WHEN planned
    secrets = external_secrets("finance-prod")
    # THEN each team's MLflow login is its own remote secret (`{namespace}` in the source), in its namespace on each cluster
    assert secrets[("dc1", "fraud", "mlflow-credentials")] == "fin-prod/mlflow-credentials/fraud"
    assert secrets[("training", "fraud", "mlflow-credentials")] == "fin-prod/mlflow-credentials/fraud"
    assert secrets[("training", "credit", "mlflow-credentials")] == "fin-prod/mlflow-credentials/credit"
    # AND the on-prem checkpoint key only on-prem (in the cloud, checkpoints go through Pod Identity)
    assert secrets[("dc1", "fraud", "checkpoint-store")] == "fin-prod/checkpoint-store/fraud"
    assert ("training", "fraud", "checkpoint-store") not in secrets
    # AND a team that doesn't train gets no login
    assert not any(name == "mlflow-credentials" for _, ns, name in secrets if ns == "credit-serving")


def test_mlflow_is_served_to_the_cloud_pool_over_tls_through_the_named_ingress() -> None:
    # GIVEN finance-prod (trackingUrl https://mlflow.dc1.bank.example, ingressNamespace ingress-nginx) WHEN planned
    plan, _ = planned("finance-prod")
    cert = next(r for r in plan.resources if r.type == "kubernetes:cert-manager.io/v1:Certificate" and r.inputs["metadata"]["namespace"] == "mlflow")
    # THEN a certificate from the stack's issuer covers the public host and the in-cluster names
    assert cert.inputs["spec"]["secretName"] == "mlflow-tls"
    assert "mlflow.dc1.bank.example" in cert.inputs["spec"]["dnsNames"] and "mlflow.mlflow.svc" in cert.inputs["spec"]["dnsNames"]
    # AND the chart's ingress serves it with that Secret
    values = next(r for r in of_type(plan.resources, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "mlflow").inputs["values"]
    assert values["ingress"]["tls"] == [{"secretName": "mlflow-tls", "hosts": ["mlflow.dc1.bank.example"]}]
    # AND MLflow's NetworkPolicy admits the ingress controller's namespace on MLflow's port
    ingress = named(plan.resources, "NetworkPolicy", "mlflow-ingress").inputs["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"protocol": "TCP", "port": 5000}]} in ingress


def test_a_tracking_url_without_the_ingress_namespace_is_refused() -> None:
    # GIVEN finance-prod without mlops.ingressNamespace
    values = copy.deepcopy(stack_values("finance-prod"))
    del values["mlops"]["ingressNamespace"]
    # WHEN prepared THEN it is refused at that key
    with pytest.raises(StackConfigError) as caught:
        prepare("finance-prod", values)
    assert (("mlops", "ingressNamespace"), "ingress_namespace_required") in {(p.loc, p.type) for p in caught.value.problems}


@pytest.mark.parametrize("name", ["audit-archive", "velero-object-store", "mlflow-database", "mlflow-credentials"])
def test_a_prod_stack_without_a_source_for_a_new_credential_is_refused(name: str) -> None:
    # GIVEN healthcare-prod without the source of one of the credentials its new parts read
    values = copy.deepcopy(stack_values("healthcare-prod"))
    values["secrets"]["sources"] = [s for s in values["secrets"]["sources"] if s["name"] != name]
    # WHEN prepared THEN it is refused: a prod stack makes every credential it reads
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)
    problems = [p for p in caught.value.problems if p.type == "credential_source_required"]
    assert problems and all(name in p.message for p in problems)


def test_the_argo_ui_behind_sso_is_served_over_tls_on_the_hub_only() -> None:
    # GIVEN finance-prod (argoSso redirecting to https://workflows.dc1.bank.example) WHEN planned
    plan, _ = planned("finance-prod")
    servers = {r.target: r.inputs["values"]["server"] for r in of_type(plan.resources, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "argo-workflows"}
    # THEN the hub's Argo server runs behind SSO with an ingress serving the certificate of the redirect host
    assert servers["dc1"]["authModes"] == ["sso"]
    assert servers["dc1"]["ingress"]["tls"] == [{"secretName": "argo-server-tls", "hosts": ["workflows.dc1.bank.example"]}]
    cert = next(r for r in plan.resources if r.type == "kubernetes:cert-manager.io/v1:Certificate" and r.inputs["metadata"]["namespace"] == "argo")
    assert cert.inputs["spec"]["secretName"] == "argo-server-tls" and "workflows.dc1.bank.example" in cert.inputs["spec"]["dnsNames"]
    # AND only the ingress controller reaches the server's port from outside the namespace (besides monitoring)
    policies = {r.target: r.inputs["spec"]["ingress"] for r in plan.resources if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and r.inputs["metadata"]["name"] == "argo-ingress"}
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"protocol": "TCP", "port": 2746}]} in policies["dc1"]
    # AND the cloud pool runs no Argo server at all (no UI there), so nothing is admitted to one
    assert servers["training"] == {"enabled": False}
    assert not any("ingress-nginx" in str(rule) for rule in policies["training"])
