"""Credentials from a store or Pulumi secrets: external-secrets, ClusterSecretStores, and the Secrets
components read, created in their namespaces and never in plain text."""
from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from hybridai.config.base import CredentialValue
from hybridai.config.security import AwsSecretsManagerStore, SecretSource, SecretStoreSettings
from hybridai.modules.secret_store import CredentialSecretArgs, ExternalSecrets, ExternalSecretsArgs, StoreArgs, StoreIdentityArgs, credential_secrets
from hybridai.modules.target import AwsScope, Target, TargetArgs
from hybridai.plan import Plan
from hybridai.plan.artifacts import SECRET, records
from hybridai.policy.rules import RULES, PolicyContext
from hybridai.config.credentials import credential_needs
from hybridai.program import prepare
from tests.conftest import planned
from tests.helpers import named, of_kind, release, run_module, stack_values

VAULT = StoreArgs(name="vault", kind="vault", server="https://vault.example")


def build(secrets: tuple[CredentialSecretArgs, ...], stores: tuple[StoreArgs, ...] = (VAULT,)) -> list:
    def program() -> None:
        target = Target("t", "dc1", TargetArgs(placement="onprem", context="dc1"))
        external = ExternalSecrets(target, ExternalSecretsArgs(stores=stores))
        namespace = k8s.core.v1.Namespace("ns", metadata={"name": "monitoring"}, opts=pulumi.ResourceOptions(parent=target, provider=target.provider))
        credential_secrets("t-monitoring", secrets, target, target.provider, [namespace, external])

    return run_module(program)


def test_a_store_source_becomes_an_external_secret_of_the_same_name_in_the_readers_namespace() -> None:
    # GIVEN a Secret read in monitoring whose keys live in Vault, one of them under another property
    secret = CredentialSecretArgs(
        name="alertmanager-receivers", namespace="monitoring", keys=("heartbeat-url", "pagerduty-routing-key"), store="vault", remote_key="hc-prod/alertmanager", properties={"heartbeat-url": "heartbeat"}
    )
    # WHEN built
    resources = build((secret,))
    external = named(resources, "ExternalSecret", "alertmanager-receivers").inputs
    # THEN an ExternalSecret writes that Secret, each key from its property of the remote secret
    assert external["metadata"]["namespace"] == "monitoring"
    assert external["spec"]["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}
    assert external["spec"]["target"] == {"name": "alertmanager-receivers", "creationPolicy": "Owner", "deletionPolicy": "Retain"}
    assert external["spec"]["data"] == [
        {"secretKey": "heartbeat-url", "remoteRef": {"key": "hc-prod/alertmanager", "property": "heartbeat"}},
        {"secretKey": "pagerduty-routing-key", "remoteRef": {"key": "hc-prod/alertmanager", "property": "pagerduty-routing-key"}},
    ]
    # AND no Kubernetes Secret is written by the program itself
    assert of_kind(resources, "Secret") == []


def test_pulumi_secret_values_become_a_secret_redacted_everywhere() -> None:
    # GIVEN a Secret without a store: its keys are the stack's `secure:` values
    secret = CredentialSecretArgs(
        name="loki-object-store", namespace="monitoring", keys=("access-key-id",), values={"access-key-id": CredentialValue("AKIAEXAMPLEKEY123"), "unused": CredentialValue("x")}
    )
    # WHEN built and recorded as the plan records it
    resources = build((secret,))
    created = named(resources, "Secret", "loki-object-store")
    recorded = next(r for r in records(Plan("t", "test", resources)) if r["urn"] == created.urn)
    # THEN only the keys readers need, as a Pulumi secret: the plan shows none of it
    assert recorded["inputs"]["stringData"] == SECRET
    assert "AKIAEXAMPLEKEY123" not in json.dumps(records(Plan("t", "test", resources)))
    # AND the secrets rule accepts it, while a plain-text copy of it is flagged
    rule = RULES["k8s-secrets-not-plaintext"].check
    assert list(rule([recorded], PolicyContext())) == []
    plain = {**recorded, "inputs": {**recorded["inputs"], "stringData": {"access-key-id": "AKIAEXAMPLEKEY123"}}}
    assert [f.urn for f in rule([plain], PolicyContext())] == [created.urn]


@pytest.mark.parametrize(
    ("store", "provider"),
    [
        (VAULT, {"vault": {"server": "https://vault.example", "path": "secret", "version": "v2", "auth": {"kubernetes": {
            "mountPath": "kubernetes", "role": "hybridai-external-secrets", "serviceAccountRef": {"name": "external-secrets", "namespace": "external-secrets"}}}}}),
        # On EKS: no auth block, the SDK's default chain (Pod Identity)
        (StoreArgs(name="aws", kind="aws", region="eu-central-1"), {"aws": {"service": "SecretsManager", "region": "eu-central-1"}}),
        # Off EKS: the access key of a Secret in external-secrets' namespace
        (StoreArgs(name="aws", kind="aws", region="eu-central-1", credentials="aws-store"), {"aws": {"service": "SecretsManager", "region": "eu-central-1", "auth": {"secretRef": {
            "accessKeyIDSecretRef": {"name": "aws-store", "key": "access-key-id", "namespace": "external-secrets"},
            "secretAccessKeySecretRef": {"name": "aws-store", "key": "secret-access-key", "namespace": "external-secrets"}}}}}),
    ],
)
def test_each_store_is_a_cluster_secret_store(store: StoreArgs, provider: dict) -> None:
    # GIVEN a store WHEN external-secrets is built THEN its ClusterSecretStore reads it as expected
    resources = build((), stores=(store,))
    assert named(resources, "ClusterSecretStore", store.name).inputs["spec"] == {"provider": provider}
    # AND the pinned chart installs its CRDs, without the kinds the platform doesn't use
    values = release(resources, "external-secrets").inputs["values"]
    assert values["installCRDs"] is True and values["processPushSecret"] is False and values["processClusterExternalSecret"] is False
    # AND its namespace is restricted
    namespace = named(resources, "Namespace", "external-secrets").inputs
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_stores_wait_for_the_chart_and_the_readers_for_the_stores() -> None:
    # GIVEN a store source WHEN built
    resources = build((CredentialSecretArgs(name="grafana-admin", namespace="monitoring", keys=("admin-user", "admin-password"), store="vault", remote_key="x/grafana-admin"),))
    chart = release(resources, "external-secrets")
    store = named(resources, "ClusterSecretStore", "vault")
    external = named(resources, "ExternalSecret", "grafana-admin")
    # THEN the store is created after the release (its CRDs), and the ExternalSecret after both
    # (Pulumi expands a component dependency to its children)
    assert chart.urn in store.dependencies
    assert {chart.urn, store.urn} <= set(external.dependencies)


@pytest.mark.parametrize("stack", ["healthcare-prod", "healthcare-dev", "finance-prod", "finance-dev", "manufacturing-prod"])
def test_no_example_stack_needs_a_hand_made_credential(stack: str) -> None:
    # GIVEN an example stack and every Secret its platform reads, per cluster
    spec, _ = prepare(stack, stack_values(stack))
    pool = spec.burst_pool()
    targets = {"onprem": spec.onprem.name, **({"cloud": pool.cluster.name} if pool else {}), **{f"edge:{s.name}": s.name for s in spec.edge_sites()}}
    needed = {(targets[n.placement], n.namespace, n.name) for n in credential_needs(spec)}
    # WHEN planned
    plan, _ = planned(stack)
    externals = {(r.target, r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in of_kind(plan.resources, "ExternalSecret")}
    # THEN each one is an ExternalSecret on each cluster that reads it: none is made by hand
    assert needed and needed <= externals, sorted(needed - externals)
    # AND Grafana's admin login is among them wherever Grafana runs
    assert {(t, ns) for t, ns, name in needed if name == spec.monitoring.grafana_admin_secret} == {(t, spec.monitoring.namespace) for t in (spec.onprem.name, *([pool.cluster.name] if pool else []))}


def test_a_store_is_read_with_its_access_key_off_eks_and_through_pod_identity_on_it() -> None:
    # GIVEN an AWS Secrets Manager store with an access key, and a Vault store on its defaults
    aws = SecretStoreSettings.model_validate({"name": "aws", "awsSecretsManager": {"region": "eu-central-1", "credentials": "aws-store"}})
    vault = SecretStoreSettings.model_validate({"name": "vault", "vault": {"server": "https://vault.example"}})
    # WHEN each is read off EKS and on it
    # THEN off EKS the AWS store logs in with the key, on EKS without it (Pod Identity)
    assert (StoreArgs.of(aws, on_eks=False).credentials, StoreArgs.of(aws, on_eks=True).credentials) == ("aws-store", None)
    assert (StoreArgs.of(aws, on_eks=True).kind, StoreArgs.of(aws, on_eks=True).region) == ("aws", "eu-central-1")
    # AND Vault is read on the stack's KV mount, engine version and auth role
    read = StoreArgs.of(vault, on_eks=False)
    assert (read.kind, read.server, read.path, read.version, read.role, read.auth_mount_path) == ("vault", "https://vault.example", "secret", "v2", "hybridai-external-secrets", "kubernetes")


def test_a_per_namespace_remote_key_names_the_reading_namespace() -> None:
    # GIVEN every team's MLflow login from one store path per namespace, with a renamed property
    source = SecretSource.model_validate({"name": "mlflow-credentials", "store": "vault", "remoteKey": "fin-prod/{namespace}/mlflow", "properties": {"password": "secret"}})
    # WHEN the fraud team's Secret is made
    secret = CredentialSecretArgs.of(source, "fraud", ("password", "username"))
    # THEN it is read from the fraud team's own remote secret, with only the keys its readers need
    assert (secret.name, secret.namespace, secret.store, secret.remote_key) == ("mlflow-credentials", "fraud", "vault", "fin-prod/fraud/mlflow")
    assert (secret.keys, secret.properties, secret.values) == (("password", "username"), {"password": "secret"}, {})


def test_the_eks_store_identity_reads_the_stores_region_in_the_stacks_account() -> None:
    # GIVEN finance-prod's account and a store in eu-west-1 WHEN the identity's args are made
    spec, _ = prepare("finance-prod", stack_values("finance-prod"))
    args = StoreIdentityArgs.of(AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center), AwsSecretsManagerStore(region="eu-west-1"))
    # THEN the role is the pool's and reads that region
    assert (args.scope.cluster_name, args.scope.account_id, args.store_region) == ("fin-prod-training", "210987654321", "eu-west-1")
