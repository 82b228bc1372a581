"""KEDA: pinned, restricted, reading Prometheus over verified https, scraped, only where models are served."""
from __future__ import annotations

import kubernetes_validate
import pytest

from hybridai import catalog
from hybridai.modules.certificates import TlsArgs
from hybridai.modules.keda import CA_DIR, CA_SECRET, COMPONENTS, Keda, KedaArgs, keda_values
from hybridai.modules.target import Target, TargetArgs
from tests.conftest import EXAMPLE_STACKS, planned
from tests.helpers import named, of_kind, release, run_module

CHART = "keda"
"""The chart, from its classic repository (releases name it, its repository beside it)."""


def build(args: KedaArgs) -> list:
    def program() -> None:
        Keda(Target("t", "dc1", TargetArgs(placement="onprem", context="dc1")), args)

    return run_module(program)


def test_keda_is_pinned_and_installed_with_its_crds_in_a_restricted_namespace() -> None:
    # GIVEN KEDA on a cluster with the stack's issuer
    resources = build(KedaArgs(monitoring_namespace="monitoring", tls=TlsArgs(issuer="hybridai-ca")))
    # THEN the chart of versions.yaml, from its repository, with its CRDs
    keda = release(resources, CHART)
    pin = catalog.chart("keda")
    assert (keda.inputs["version"], keda.inputs["repositoryOpts"]["repo"], keda.inputs["namespace"]) == ("2.20.2", "https://kedacore.github.io/charts", "keda")
    assert pin.upstream == "keda/2.20.2" and keda.inputs["values"]["crds"] == {"install": True}
    # AND its namespace enforces Pod Security restricted, at the pinned version
    labels = named(resources, "Namespace", "keda").inputs["metadata"]["labels"]
    assert {labels[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "audit", "warn")} == {"restricted"}
    assert labels["pod-security.kubernetes.io/enforce-version"] == catalog.versions().kubernetes.pod_security_version


def test_every_keda_pod_is_restricted_with_a_read_only_root_filesystem() -> None:
    values = keda_values(KedaArgs())
    # GIVEN each of KEDA's three workloads as the chart writes them (their security contexts whole)
    for component in COMPONENTS:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": component},
            "spec": {"securityContext": values["podSecurityContext"][component], "containers": [{"name": component, "image": "ghcr.io/kedacore/keda:2.20.2", "securityContext": values["securityContext"][component]}]},
        }
        # THEN each is a valid pod for the Kubernetes API (unknown fields refused) …
        for version in catalog.versions().kubernetes.validated_versions:
            kubernetes_validate.validate(pod, version, strict=True)
        # … that Pod Security restricted admits: non-root, RuntimeDefault seccomp, nothing to escalate with
        assert pod["spec"]["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert values["securityContext"][component] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}


def test_keda_reads_no_secret_outside_its_namespace_and_exposes_its_metrics() -> None:
    values = keda_values(KedaArgs())
    # THEN the operator and the metrics API server are kept to their own namespace's Secrets
    assert values["permissions"] == {"operator": {"restrict": {"secret": True}}, "metricServer": {"restrict": {"secret": True}}}
    assert values["prometheus"] == {"operator": {"enabled": True}}
    # AND without an issuer nothing is mounted: Prometheus serves plain http then
    assert "volumes" not in values and "certificates" not in values


def test_with_the_stacks_issuer_the_operator_trusts_its_ca_and_only_its_ca() -> None:
    # GIVEN KEDA on a cluster whose Prometheus serves https with a certificate of the issuer
    resources = build(KedaArgs(tls=TlsArgs(issuer="hybridai-ca")))
    values = release(resources, CHART).inputs["values"]
    # THEN the operator has a certificate of that issuer (a client one) …
    cert = named(resources, "Certificate", CA_SECRET).inputs["spec"]
    assert cert["issuerRef"]["name"] == "hybridai-ca" and cert["usages"] == ["digital signature", "key encipherment", "client auth"]
    # … whose Secret it mounts with `ca.crt` alone, where KEDA adds trusted roots: no insecure skip anywhere
    assert values["certificates"] == {"operator": {"caDirs": [CA_DIR]}}
    [volume] = values["volumes"]["keda"]["extraVolumes"]
    assert volume["secret"] == {"secretName": CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert values["volumes"]["keda"]["extraVolumeMounts"] == [{"name": volume["name"], "mountPath": "/custom/ca", "readOnly": True}]
    assert "unsafeSsl" not in repr(values)
    # AND the certificate exists before the release that mounts it
    assert named(resources, "Certificate", CA_SECRET).urn in release(resources, CHART).dependencies


def test_only_the_api_server_and_prometheus_reach_keda() -> None:
    resources = build(KedaArgs(monitoring_namespace="monitoring"))
    policy = named(resources, "NetworkPolicy", "keda-ingress").inputs["spec"]
    # THEN its own pods (the metrics API server asks the operator), the API server's calls to the
    # metrics API server and the webhooks, and Prometheus on the operator's metrics port
    assert policy["ingress"] == [
        {"from": [{"podSelector": {}}]},
        {"ports": [{"protocol": "TCP", "port": 6443}]},
        {"ports": [{"protocol": "TCP", "port": 9443}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 8080}]},
    ]
    # AND Prometheus scrapes the operator, keeping the ScaledObjects' namespaces its metrics carry
    monitor = named(resources, "ServiceMonitor", "keda-operator").inputs
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["keda"]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "interval": "30s", "honorLabels": True}]


def test_keda_runs_where_models_are_served_and_reaches_prometheus_there() -> None:
    # GIVEN manufacturing-prod: models on the plant cluster, training on EKS, Triton at the edge sites
    plan, _ = planned("manufacturing-prod")
    # THEN KEDA runs on the plant cluster only: EKS serves no model, an edge site's Prometheus is an agent
    assert {r.target for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == CHART} == {"plant-dc"}
    # AND the monitoring namespace admits KEDA's pods to Prometheus' port there
    [policy] = [r for r in of_kind(plan.resources, "NetworkPolicy") if r.target == "plant-dc" and r.inputs["metadata"]["name"] == "monitoring-ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}], "ports": [{"protocol": "TCP", "port": 9090}]} in policy.inputs["spec"]["ingress"]
    elsewhere = [r for r in of_kind(plan.resources, "NetworkPolicy") if r.target != "plant-dc" and r.inputs["metadata"]["name"] == "monitoring-ingress"]
    assert elsewhere and all("keda" not in repr(r.inputs["spec"]) for r in elsewhere)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_the_keda_namespace_is_a_platform_namespace_backed_up_with_the_others(stack: str) -> None:
    # GIVEN an example stack (each serves models on its data-center cluster)
    plan, _ = planned(stack)
    # THEN no team may take `keda`, and Pod Security restricted is what policy checks it against
    assert plan.spec.platform_namespaces()["keda"] == "restricted"
    # AND the platform's backup schedule covers it, as every namespace platform_namespace() makes
    onprem = plan.spec.onprem.name
    [schedule] = [r for r in of_kind(plan.resources, "Schedule") if r.target == onprem and r.inputs["metadata"]["name"] == "platform"]
    assert "keda" in schedule.inputs["spec"]["template"]["includedNamespaces"]
