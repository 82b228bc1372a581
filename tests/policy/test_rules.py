"""Each policy rule against a compliant and a violating fixture, and the example stacks against all."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy.rules import RULES, PolicyContext, evaluate
from policy.rules.evaluate import levels, profiles
from tests.conftest import EXAMPLE_STACKS, planned

CTX = PolicyContext(allowed_registries=("nvcr.io",), allowed_regions=("eu-central-1",), profiles=("hipaa", "sox", "residency"), monthly_estimate_usd=900, monthly_ceiling_usd=1000)


def res(type_: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    name = extra.pop("name", (inputs.get("metadata") or {}).get("name", "r"))
    base = {"urn": f"urn:pulumi:s::p::{type_}::{name}", "type": type_, "name": name, "parent": None, "provider": None, "protect": False, "retain_on_delete": False, "dependencies": [], "inputs": inputs, "placement": "onprem", "target": "dc1"}
    return {**base, **extra}


def k8s(kind: str, name: str, namespace: str | None = None, labels: dict | None = None, **fields: Any) -> dict[str, Any]:
    group = {"Deployment": "apps/v1", "DaemonSet": "apps/v1", "Role": "rbac.authorization.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1"}.get(kind, "v1")
    meta = {"name": name, **({"namespace": namespace} if namespace else {}), **({"labels": labels} if labels else {})}
    return res(f"kubernetes:{group if '/' in group else 'core/' + group}:{kind}", {"apiVersion": group, "kind": kind, "metadata": meta, **fields}, name=f"{namespace}-{name}")


GOOD_CONTAINER = {
    "name": "app",
    "image": "nvcr.io/nvidia/tritonserver:25.01-py3",
    "resources": {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}},
    "livenessProbe": {"httpGet": {"path": "/health", "port": 8000}},
    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000}},
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


def deployment(namespace: str = "radiology", container: dict | None = None, **pod: Any) -> dict[str, Any]:
    spec = {"containers": [container or GOOD_CONTAINER], "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], **pod}
    return k8s("Deployment", "serve", namespace, spec={"template": {"spec": spec}})


def with_container(**changes: Any) -> dict[str, Any]:
    container = copy.deepcopy(GOOD_CONTAINER)
    for key, value in changes.items():
        if value is None:
            container.pop(key, None)
        else:
            container[key] = value
    return deployment(container=container)


RESTRICTED = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")} | {f"pod-security.kubernetes.io/{m}-version": "v1.31" for m in ("enforce", "audit", "warn")}
TENANT_NS = k8s("Namespace", "radiology", labels={**RESTRICTED, "hybrid-ai.io/team": "radiology", "hybrid-ai.io/tier": "production-inference", "hybrid-ai.io/data-classification": "phi"})
NETPOL = k8s("NetworkPolicy", "radiology-default-deny", "radiology", spec={"podSelector": {}})
QUOTA = k8s("ResourceQuota", "radiology-quota", "radiology", spec={"hard": {"requests.nvidia.com/gpu": "1"}})
AWS_PROVIDER = res("pulumi:providers:aws", {"region": "eu-central-1", "defaultTags": json.dumps({"tags": {"hybrid-ai.io/team": "platform", "hybrid-ai.io/environment": "prod", "hybrid-ai.io/cost-center": "cc"}})}, name="aws", placement="cloud", target="aws")
EKS = res("aws:eks/cluster:Cluster", {"name": "c", "vpcConfig": {"endpointPublicAccess": False}, "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:eu-central-1:1:key/k"}}, "enabledClusterLogTypes": ["api", "audit", "authenticator"]}, provider=AWS_PROVIDER["urn"], placement="cloud")


def bucket_set(parent: str = "urn:b", lock: str | None = None, **overrides: Any) -> list[dict[str, Any]]:
    p = dict(provider=AWS_PROVIDER["urn"], parent=parent, placement="cloud", protect=True, retain_on_delete=True)
    items = [
        res("aws:s3/bucket:Bucket", {"bucket": "audit", "objectLockEnabled": lock is not None}, name="b", **p),
        res("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}, name="sse", **p),
        res("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Enabled"}}, name="v", **p),
        res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {k: True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}, name="pab", **p),
    ]
    if lock:
        items.append(res("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", {"rule": {"defaultRetention": {"mode": lock, "days": 2557}}}, name="lock", **p))
    for name, value in overrides.items():
        items = [i for i in items if i["name"] != name] + ([value] if value else [])
    return items


TRAIL = res("aws:cloudtrail/trail:Trail", {"name": "t", "s3BucketName": "audit", "enableLogFileValidation": True, "kmsKeyId": "arn:k"}, provider=AWS_PROVIDER["urn"], placement="cloud")

# rule → (compliant resources, violating resources)
CASES: dict[str, tuple[list, list]] = {
    "k8s-pod-security-labels": ([TENANT_NS, k8s("Namespace", "gpu-operator", labels={**RESTRICTED, "pod-security.kubernetes.io/enforce": "privileged"})], [k8s("Namespace", "radiology", labels={**RESTRICTED, "pod-security.kubernetes.io/enforce": "baseline"})]),
    "k8s-privileged-only-in-operator-namespace": ([deployment(namespace="gpu-operator", hostPID=True)], [deployment(hostNetwork=True)]),
    "k8s-requests-and-limits": ([deployment()], [with_container(resources={"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}})]),
    "k8s-gpu-pods-tolerate-gpu-taint": ([deployment()], [k8s("Deployment", "serve", "radiology", spec={"template": {"spec": {"containers": [GOOD_CONTAINER]}}})]),
    "k8s-probes": ([deployment()], [with_container(livenessProbe=None)]),
    "k8s-images-pinned": ([with_container(image="docker.io/library/nginx@sha256:" + "a" * 64), deployment()], [with_container(image="nginx:latest")]),
    "k8s-no-system-namespaces": ([deployment(), TENANT_NS], [deployment(namespace="default"), deployment(namespace="kube-system"), k8s("Namespace", "kube-system")]),
    # GIVEN two /1s (the whole internet in two modest-looking entries), or a /7 of public space,
    # THEN the union is measured, not each entry; private ranges don't count.
    "net-allow-lists-narrow": (
        [EKS, k8s("NetworkPolicy", "clients", "inference", spec={"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"ipBlock": {"cidr": "198.51.100.0/24"}}]}]})],
        [
            res("aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}),
            k8s("NetworkPolicy", "clients", "inference", spec={"ingress": [{"from": [{"ipBlock": {"cidr": "16.0.0.0/7"}}]}]}),
        ],
    ),
    "k8s-no-rbac-wildcards": ([k8s("Role", "dev", "radiology", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])], [k8s("Role", "dev", "radiology", rules=[{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])]),
    "k8s-namespaces-have-network-policies": ([TENANT_NS, NETPOL], [TENANT_NS]),
    "k8s-tenant-namespaces-have-quotas": ([TENANT_NS, QUOTA], [TENANT_NS]),
    "aws-eks-endpoint-restricted": ([EKS, res("aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}})], [res("aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}})]),
    "aws-eks-secrets-encrypted": ([EKS], [res("aws:eks/cluster:Cluster", {"vpcConfig": {}})]),
    "aws-eks-control-plane-logs": ([EKS], [res("aws:eks/cluster:Cluster", {"enabledClusterLogTypes": ["api"]})]),
    "aws-imdsv2-hop-limit-1": ([res("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}})], [res("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}})]),
    "aws-s3-encrypted-versioned-private": (bucket_set(), bucket_set(v=None)),
    "aws-kms-rotation": ([res("aws:kms/key:Key", {"enableKeyRotation": True})], [res("aws:kms/key:Key", {"enableKeyRotation": False})]),
    "aws-iam-no-wildcards": (
        [res("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})})],
        [res("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::b"]}]})})],
    ),
    "aws-required-tags": ([AWS_PROVIDER, {**EKS}], [AWS_PROVIDER, res("aws:eks/cluster:Cluster", {}, provider="urn:other")]),
    "hipaa-no-phi-in-cloud": ([TENANT_NS], [{**TENANT_NS, "placement": "cloud"}]),
    "hipaa-no-time-slicing-with-phi": (
        [TENANT_NS, res("kubernetes:helm.sh/v3:Release", {"chart": "gpu-operator", "values": {"mig": {"strategy": "mixed"}}})],
        [TENANT_NS, res("kubernetes:helm.sh/v3:Release", {"chart": "gpu-operator", "values": {"devicePlugin": {"config": {"name": "ts"}}}})],
    ),
    "hipaa-audit-logging": ([TENANT_NS, EKS], [res("aws:eks/cluster:Cluster", {"enabledClusterLogTypes": ["api"]})]),
    "sox-immutable-audit-trail": ([AWS_PROVIDER, TRAIL, *bucket_set(lock="COMPLIANCE")], [AWS_PROVIDER, TRAIL, *bucket_set(lock="GOVERNANCE")]),
    "sox-protected-data-resources": ([res("aws:kms/key:Key", {}, protect=True, retain_on_delete=True)], [res("aws:kms/key:Key", {}, protect=False)]),
    "residency-allowed-regions": ([AWS_PROVIDER], [{**AWS_PROVIDER, "inputs": {"region": "us-east-1"}}]),
    "gpu-training-scales-to-zero": (
        [res("aws:eks/nodeGroup:NodeGroup", {"labels": {"hybrid-ai.io/node-role": "gpu-training"}, "scalingConfig": {"minSize": 0}})],
        [res("aws:eks/nodeGroup:NodeGroup", {"nodeGroupName": "g", "labels": {"hybrid-ai.io/node-role": "gpu-training"}, "scalingConfig": {"minSize": 2}})],
    ),
    "gpu-production-inference-not-on-spot": ([TENANT_NS, deployment()], [TENANT_NS, deployment(nodeSelector={"hybrid-ai.io/capacity": "spot"})]),
    "cost-under-ceiling": ([], []),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_passes_the_compliant_fixture_and_flags_the_violating_one(rule_id: str) -> None:
    compliant, violating = CASES[rule_id]
    check = RULES[rule_id].check
    if rule_id == "cost-under-ceiling":
        assert list(check([], CTX)) == []
        over = list(check([], CTX.model_copy(update={"monthly_estimate_usd": 1200})))
        assert [f.message for f in over] == ["estimated 1,200 USD/month exceeds the ceiling of 1,000 USD"]
        return
    assert list(check(compliant, CTX)) == [], f"{rule_id} flags its compliant fixture"
    findings = list(check(violating, CTX))
    assert findings, f"{rule_id} misses its violating fixture"
    assert all(f.message for f in findings)


def test_profile_rules_run_only_for_stacks_that_select_the_profile() -> None:
    baseline = levels(PolicyContext(), {})
    assert not any(rule.startswith(("hipaa-", "sox-", "residency-")) for rule in baseline)
    hipaa = levels(PolicyContext(profiles=("hipaa",)), {})
    assert set(profiles()["hipaa"]["rules"]) <= set(hipaa)
    assert levels(PolicyContext(), {"k8s-probes": "disabled"})["k8s-probes"] == "disabled"


def test_enforcement_overrides_and_disabled_rules() -> None:
    violating = CASES["k8s-probes"][1]
    assert [f["enforcement"] for f in evaluate(violating, PolicyContext(), {"k8s-probes": "advisory"}) if f["rule"] == "k8s-probes"] == ["advisory"]
    assert not [f for f in evaluate(violating, PolicyContext(), {"k8s-probes": "disabled"}) if f["rule"] == "k8s-probes"]


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_example_stack_passes_every_mandatory_rule(stack: str) -> None:
    _, files = planned(stack)
    from pathlib import Path

    report = json.loads(files[Path("policy.json")])
    assert report["mandatory_violations"] == 0, report["findings"]
    assert report["findings"] == []


def test_wide_allow_lists_pass_only_when_the_stack_gave_a_reason() -> None:
    # GIVEN the violating allow-lists, WHEN the stack wrote a reason (policy.wideNetworksReason),
    # THEN the rule lets them through (summary.md lists the exception instead)
    violating = CASES["net-allow-lists-narrow"][1]
    assert list(RULES["net-allow-lists-narrow"].check(violating, CTX.model_copy(update={"wide_networks_allowed": True}))) == []
