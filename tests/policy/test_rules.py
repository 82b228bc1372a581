"""Each policy rule against a compliant and a violating fixture, and the example stacks against all."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hybridai.policy.rules import RULES, PolicyContext, evaluate
from hybridai.policy.rules.evaluate import levels, profiles
from hybridai.recorded import EKS_AUDIT_FILTER, REDACTED_SECRET
from tests.conftest import EXAMPLE_STACKS, planned
from tests.helpers import stack_values

CTX = PolicyContext(
    allowed_registries=("nvcr.io",),
    allowed_regions=("eu-central-1",),
    profiles=("hipaa", "sox", "residency"),
    monthly_estimate_usd=900,
    monthly_ceiling_usd=1000,
    production=True,
    backup_rpo_hours=24,
    backup_retention_days=35,
    image_lock={
        "charts": ["velero@12.1.0"],
        "images": {
            "docker.io/library/redis:7": {"digest": "unresolved", "origins": ["workload"], "reason": "can't reach registry-1.docker.io: NameResolutionError"},
            "nvcr.io/nvidia/tritonserver:25.01-py3": {"digest": "sha256:" + "e" * 64, "origins": ["workload"]},
        },
    },
)


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
RESEARCH_NS = k8s("Namespace", "research", labels={**RESTRICTED, "hybrid-ai.io/team": "research", "hybrid-ai.io/data-classification": "internal"})
def DENY(namespace: str) -> dict[str, Any]:  # noqa: N802 - a fixture constructor, read like the constants beside it
    return k8s("NetworkPolicy", "default-deny", namespace, spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


PACS_EGRESS = k8s(
    "NetworkPolicy", "phi-egress-pacs", "radiology", labels={"hybrid-ai.io/phi-endpoint": "pacs"},
    spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.20.8.0/28"}}], "ports": [{"protocol": "TCP", "port": 443}]}]},
)
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


def policy_doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return res("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}, name="karpenter-controller-policy", placement="cloud")


UNSCOPED_READS = {"Effect": "Allow", "Action": ["ec2:DescribeInstanceTypes", "ec2:DescribeSubnets"], "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-central-1"}}}
PRICING = {"Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"}
SCOPED_RUN = {"Effect": "Allow", "Action": ["ec2:RunInstances"], "Resource": ["arn:aws:ec2:eu-central-1:*:instance/*"]}


def node_class(**spec: Any) -> dict[str, Any]:
    """An EC2NodeClass as the program records it (hardened); `spec` overrides fields, None removes one."""
    base = {
        "role": "fin-prod-training-karpenter-node",
        "amiSelectorTerms": [{"alias": "al2023@v20251209"}],
        "subnetSelectorTerms": [{"id": "subnet-0a"}],
        "securityGroupSelectorTerms": [{"id": "sg-0a"}],
        "associatePublicIPAddress": False,
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}],
    }
    spec = {k: v for k, v in {**base, **spec}.items() if v is not None}
    obj = {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "a100"}, "spec": spec}
    return res("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", obj, name="a100-nodeclass", placement="cloud", target="aws")


def node_pool(name: str = "a100", role: str = "gpu-training", instance_types: tuple[str, ...] = ("p4de.24xlarge",), capacity: dict | None = None, taints: list | None = None, limits: dict | None = None, labels: dict | None = None) -> dict[str, Any]:
    """A NodePool as the program records it: GPU nodes, tainted and bounded unless told otherwise."""
    requirements = [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(instance_types)}] if instance_types else []
    requirements.append(capacity if capacity is not None else {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]})
    spec = {
        "template": {
            "metadata": {"labels": {"hybrid-ai.io/node-role": role, "hybrid-ai.io/node-group": name, **(labels or {})}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
                "requirements": [r for r in requirements if r],
                "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}] if taints is None else taints,
                "expireAfter": "720h",
            },
        },
        "limits": {"nvidia.com/gpu": "48"} if limits is None else limits,
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m", "budgets": [{"nodes": "10%"}]},
    }
    obj = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name}, "spec": spec}
    return res("kubernetes:karpenter.sh/v1:NodePool", obj, name=f"{name}-nodepool", placement="cloud", target="aws")


ON_DEMAND_ONLY = {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}
INFERENCE_POOL = node_pool("l4", role="inference", instance_types=("g6.xlarge",), capacity=ON_DEMAND_ONLY, limits={"nvidia.com/gpu": "8"})


TRAIL = res("aws:cloudtrail/trail:Trail", {"name": "t", "s3BucketName": "audit", "enableLogFileValidation": True, "kmsKeyId": "arn:k"}, provider=AWS_PROVIDER["urn"], placement="cloud")


def inference_service(name: str, labels: dict, priority: str = "hybridai-production-inference") -> dict[str, Any]:
    """An InferenceService as modules/serving.py writes it: registry label and version, or none."""
    predictor = {"priorityClassName": priority, "model": {"modelFormat": {"name": "xgboost"}, "storageUri": f"s3://models/{name}/v12"}}
    return res("kubernetes:serving.kserve.io/v1beta1:InferenceService", {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name, "namespace": "fraud", "labels": labels}, "spec": {"predictor": predictor}})
def velero(kind: str, name: str, spec: dict[str, Any], target: str = "dc1", placement: str = "onprem") -> dict[str, Any]:
    obj = {"apiVersion": "velero.io/v1", "kind": kind, "metadata": {"name": name, "namespace": "velero"}, "spec": spec}
    return res(f"kubernetes:velero.io/v1:{kind}", obj, name=f"{target}-{name}", target=target, placement=placement)


def schedule(namespaces: list[str], every: str = "@every 24h", ttl: str = "840h0m0s") -> dict[str, Any]:
    return velero("Schedule", f"team-{namespaces[0]}", {"schedule": every, "template": {"includedNamespaces": namespaces, "ttl": ttl, "defaultVolumesToFsBackup": True}})


def platform_schedule(namespaces: list[str]) -> dict[str, Any]:
    return velero("Schedule", "platform", {"schedule": "@every 24h", "template": {"includedNamespaces": namespaces, "ttl": "840h0m0s"}})


PROTECTED_NS = {**TENANT_NS, "protect": True, "retain_on_delete": True}
CACHE_PVC = k8s("PersistentVolumeClaim", "model-cache", "inference", spec={"resources": {"requests": {"storage": "10Gi"}}})
ONPREM_LOCATION = velero("BackupStorageLocation", "default", {"provider": "aws", "objectStorage": {"bucket": "b", "prefix": "dc1"}, "config": {"s3Url": "https://s3.dc1.example", "serverSideEncryption": "AES256"}})
CLOUD_LOCATION = velero("BackupStorageLocation", "default", {"provider": "aws", "objectStorage": {"bucket": "b"}, "config": {"region": "eu-central-1", "kmsKeyId": "alias/k"}}, target="training", placement="cloud")

# rule → (compliant resources, violating resources)
SECRET_FROM_CONFIG = k8s("Secret", "loki-object-store", "logging", stringData={"access-key-id": REDACTED_SECRET, "secret-access-key": REDACTED_SECRET})
EXTERNAL_SECRET = res(
    "kubernetes:external-secrets.io/v1:ExternalSecret",
    {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "grafana-admin", "namespace": "monitoring"}, "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"}}},
)
CERT_MANAGER = res("kubernetes:helm.sh/v3:Release", {"chart": "oci://quay.io/jetstack/charts/cert-manager", "values": {"crds": {"enabled": True}}}, name="cert-manager")
GATEWAY = {"disableIngressCreation": False, "ingressGateway": {"enableGatewayApi": True, "kserveGateway": "gateway-system/internal", "createGateway": False}}


def kserve_release(cert_manager: bool = True) -> dict[str, Any]:
    kserve = {"controller": {"deploymentMode": "RawDeployment", "gateway": GATEWAY}, **({"certManager": {"enabled": True}} if cert_manager else {})}
    return res("kubernetes:helm.sh/v3:Release", {"chart": "oci://ghcr.io/kserve/charts/kserve-resources", "values": {"kserve": kserve}}, name="kserve")


ISVC = res(
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "chest-xray", "namespace": "radiology"}, "spec": {"predictor": {"logger": {"url": "https://audit.example"}}}},
)
GATEWAY_CERT = res(
    "kubernetes:cert-manager.io/v1:Certificate",
    {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "internal-tls", "namespace": "gateway-system"}, "spec": {"secretName": "internal-tls"}},
)

LOCK_CTX_DIGEST = "sha256:" + "e" * 64

CASES: dict[str, tuple[list, list]] = {
    # GIVEN (prod, a lock) an image pinned by digest (compliant); images the lock left unresolved,
    # lacks, or resolved while the workload still runs the tag, and a chart release it wasn't made for (violating)
    "supply-images-locked": (
        [with_container(image="nvcr.io/nvidia/tritonserver:25.01-py3@" + LOCK_CTX_DIGEST), res("kubernetes:helm.sh/v3:Release", {"chart": "velero", "version": "12.1.0"}, name="velero")],
        [
            with_container(image="docker.io/library/redis:7"),
            with_container(image="quay.io/x/unlocked:1"),
            with_container(image="nvcr.io/nvidia/tritonserver:25.01-py3"),
            res("kubernetes:helm.sh/v3:Release", {"chart": "loki", "version": "18.11.0"}, name="loki"),
        ],
    ),
    "k8s-pod-security-labels": ([TENANT_NS, k8s("Namespace", "gpu-operator", labels={**RESTRICTED, "pod-security.kubernetes.io/enforce": "privileged"})], [k8s("Namespace", "radiology", labels={**RESTRICTED, "pod-security.kubernetes.io/enforce": "baseline"})]),
    "k8s-privileged-only-in-operator-namespace": ([deployment(namespace="gpu-operator", hostPID=True)], [deployment(hostNetwork=True)]),
    "k8s-requests-and-limits": ([deployment()], [with_container(resources={"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}})]),
    "k8s-gpu-pods-tolerate-gpu-taint": ([deployment()], [k8s("Deployment", "serve", "radiology", spec={"template": {"spec": {"containers": [GOOD_CONTAINER]}}})]),
    "k8s-probes": ([deployment()], [with_container(livenessProbe=None)]),
    "k8s-images-pinned": ([with_container(image="docker.io/library/nginx@sha256:" + "a" * 64), deployment()], [with_container(image="nginx:latest")]),
    # GIVEN a key mounted as files (compliant); an env var or envFrom from a Secret (violating)
    "k8s-credentials-as-files": (
        [with_container(volumeMounts=[{"name": "key", "mountPath": "/var/run/secrets/key", "readOnly": True}], env=[{"name": "HOME", "value": "/tmp"}])],
        [with_container(env=[{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "store", "key": "secret"}}}]), with_container(envFrom=[{"secretRef": {"name": "store"}}])],
    ),
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
        [
            res("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})}),
            # GIVEN `*` only for actions AWS can't scope (Karpenter's EC2 reads, pricing)
            policy_doc(UNSCOPED_READS, PRICING, SCOPED_RUN),
        ],
        [
            res("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::b"]}]})}),
            # GIVEN a scopable action slipped in among the unscopable reads under `*`
            policy_doc({**UNSCOPED_READS, "Action": [*UNSCOPED_READS["Action"], "ec2:TerminateInstances"]}),
        ],
    ),
    "aws-required-tags": ([AWS_PROVIDER, {**EKS}], [AWS_PROVIDER, res("aws:eks/cluster:Cluster", {}, provider="urn:other")]),
    # GIVEN the PACS egress in the PHI radiology namespace, research open elsewhere or on another port (compliant); the same
    # policy in a research namespace or on a cloud cluster, or a research policy opening the PACS's network or every address on
    # its port (violating) THEN each violation is found, the rule checked both ways
    "hipaa-phi-egress-only-from-phi-namespaces": (
        [
            TENANT_NS, RESEARCH_NS, PACS_EGRESS,
            k8s("NetworkPolicy", "web", "research", spec={"egress": [{"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}]}]}),
            k8s("NetworkPolicy", "api", "research", spec={"egress": [{"ports": [{"protocol": "TCP", "port": 6443}]}]}),
        ],
        [
            RESEARCH_NS,
            {**PACS_EGRESS, "inputs": {**PACS_EGRESS["inputs"], "metadata": {**PACS_EGRESS["inputs"]["metadata"], "namespace": "research"}}, "urn": "urn:research-pacs"},
            {**TENANT_NS, "placement": "cloud", "target": "aws"},
            {**PACS_EGRESS, "placement": "cloud", "target": "aws", "urn": "urn:cloud-pacs"},
            TENANT_NS,
            PACS_EGRESS,
            k8s("NetworkPolicy", "wide", "research", spec={"egress": [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}]}),
            k8s("NetworkPolicy", "https", "research", spec={"egress": [{"ports": [{"protocol": "TCP", "port": 443}]}]}),
        ],
    ),
    # GIVEN PHI radiology and non-PHI research namespaces, each denying by default; radiology's egress open on 443 to anywhere
    # (one side only: research admits no one) (compliant); then research admitting radiology by expression, with radiology
    # egress to research (PHI → research), and research egress to radiology with radiology admitting every source (research →
    # PHI) (violating) THEN each path is found: the rule is checked in both directions
    "hipaa-no-path-from-phi-to-research": (
        [
            TENANT_NS, RESEARCH_NS, DENY("radiology"), DENY("research"),
            k8s("NetworkPolicy", "https", "radiology", spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"protocol": "TCP", "port": 443}]}]}),
            k8s("NetworkPolicy", "scrape", "research", spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}]}),
        ],
        [
            TENANT_NS, RESEARCH_NS, DENY("radiology"), DENY("research"),
            k8s("NetworkPolicy", "to-research", "radiology", spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "research"}}}]}]}),
            k8s("NetworkPolicy", "from-phi", "research", spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "hybrid-ai.io/data-classification", "operator": "In", "values": ["phi"]}]}}]}]}),
            k8s("NetworkPolicy", "pull", "research", spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}}]}]}),
            k8s("NetworkPolicy", "open", "radiology", spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}),
        ],
    ),
    "hipaa-no-phi-in-cloud": ([TENANT_NS], [{**TENANT_NS, "placement": "cloud"}]),
    "hipaa-no-time-slicing-with-phi": (
        [TENANT_NS, res("kubernetes:helm.sh/v3:Release", {"chart": "gpu-operator", "values": {"mig": {"strategy": "mixed"}}})],
        [TENANT_NS, res("kubernetes:helm.sh/v3:Release", {"chart": "gpu-operator", "values": {"devicePlugin": {"config": {"name": "ts"}}}})],
    ),
    "hipaa-audit-logging": ([TENANT_NS, EKS], [res("aws:eks/cluster:Cluster", {"enabledClusterLogTypes": ["api"]})]),
    "sox-immutable-audit-trail": ([AWS_PROVIDER, TRAIL, *bucket_set(lock="COMPLIANCE")], [AWS_PROVIDER, TRAIL, *bucket_set(lock="GOVERNANCE")]),
    "alerts-critical-receiver": (
        [res("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "values": {"alertmanager": {"config": {"route": {"receiver": "null", "routes": [{"matchers": ['alertname = "Watchdog"'], "receiver": "null"}, {"matchers": ['severity = "critical"'], "receiver": "oncall"}]}}}}}),
         # an edge agent runs no Alertmanager
         res("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "values": {"alertmanager": {"enabled": False}}})],
        [res("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "values": {"alertmanager": {"config": {"route": {"receiver": "null", "routes": [{"matchers": ['alertname = "Watchdog"'], "receiver": "null"}]}}}}})],
    ),
    "sox-protected-data-resources": (
        [res("aws:kms/key:Key", {}, protect=True, retain_on_delete=True), res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", {}, protect=True, retain_on_delete=True)],
        # the EKS audit's stream holds up to a day of records: unprotected, a deploy could drop them
        [res("aws:kms/key:Key", {}, protect=False), res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", {}, name="audit-stream", protect=False)],
    ),
    "residency-allowed-regions": ([AWS_PROVIDER], [{**AWS_PROVIDER, "inputs": {"region": "us-east-1"}}]),
    "gpu-training-scales-to-zero": (
        [res("aws:eks/nodeGroup:NodeGroup", {"labels": {"hybrid-ai.io/node-role": "gpu-training"}, "scalingConfig": {"minSize": 0}})],
        [res("aws:eks/nodeGroup:NodeGroup", {"nodeGroupName": "g", "labels": {"hybrid-ai.io/node-role": "gpu-training"}, "scalingConfig": {"minSize": 2}})],
    ),
    "gpu-production-inference-not-on-spot": (
        [TENANT_NS, deployment(), INFERENCE_POOL, node_pool()],
        [TENANT_NS, deployment(nodeSelector={"hybrid-ai.io/capacity": "spot"}), node_pool("l4", role="inference", instance_types=("g6.xlarge",))],
    ),
    "karpenter-nodeclass-hardened": (
        [node_class(), node_class(metadataOptions={"httpEndpoint": "disabled"})],
        [node_class(metadataOptions={"httpEndpoint": "enabled", "httpTokens": "optional", "httpPutResponseHopLimit": 2})],
    ),
    "karpenter-gpu-nodepool-bounded": (
        [node_pool(), INFERENCE_POOL, node_pool("system", role="system", instance_types=("m7i.2xlarge",), taints=[], limits={"cpu": "64"})],
        [node_pool(limits={"cpu": "1000"})],
    ),
    "cost-under-ceiling": ([], []),
    "models-from-registry": (
        [
            inference_service("fraud-score", {"hybrid-ai.io/registry-model": "fraud-score", "hybrid-ai.io/model-version": "13"}),
            # a research model may still be served from a raw URI
            inference_service("scratch", {}, priority="hybridai-research"),
        ],
        [
            # a raw URI, and a registry model without a pinned version
            inference_service("fraud-score", {}),
            inference_service("credit-limit", {"hybrid-ai.io/registry-model": "credit-limit", "hybrid-ai.io/model-version": "latest"}),
        ],
    ),
    "k8s-secrets-not-plaintext": ([SECRET_FROM_CONFIG, EXTERNAL_SECRET], [k8s("Secret", "grafana-admin", "monitoring", stringData={"admin-user": REDACTED_SECRET, "admin-password": "hunter2"})]),
    "serving-endpoints-tls": (
        [CERT_MANAGER, kserve_release(), ISVC, GATEWAY_CERT],
        [kserve_release(cert_manager=False), ISVC, GATEWAY_CERT],
    ),
    # GIVEN namespaces holding data (a protected tenant namespace, an edge site's model cache claim):
    # backed up daily and kept 35 days; or not at all, or every 48 h and kept a day.
    "backup-stateful-namespaces": (
        [PROTECTED_NS, CACHE_PVC, schedule(["radiology"]), schedule(["inference"], every="@every 12h", ttl="2160h0m0s")],
        [PROTECTED_NS, CACHE_PVC, schedule(["radiology"], every="@every 48h", ttl="24h0m0s")],
    ),
    # GIVEN a backed-up cluster whose tenant and platform namespaces are in its schedules and whose
    # Velero namespace is not (it is rebuilt, not restored), and a cluster without Velero; THEN a
    # platform namespace left out of every schedule is a finding
    "backup-every-namespace": (
        [PROTECTED_NS, k8s("Namespace", "mlflow"), k8s("Namespace", "velero"), ONPREM_LOCATION, schedule(["radiology"]), platform_schedule(["mlflow"]), k8s("Namespace", "monitoring") | {"placement": "cloud", "target": "training"}],
        [PROTECTED_NS, k8s("Namespace", "mlflow"), k8s("Namespace", "argo"), ONPREM_LOCATION, schedule(["radiology"]), platform_schedule(["mlflow"])],
    ),
    # GIVEN an on-prem store over https asked to encrypt, a cloud bucket in the jurisdiction with the
    # stack's key; THEN an on-prem cluster's backups sent to AWS S3 without encryption, and a cloud
    # bucket outside the jurisdiction without a key, are findings
    "backup-locations-encrypted-in-jurisdiction": (
        [ONPREM_LOCATION, CLOUD_LOCATION],
        [
            velero("BackupStorageLocation", "default", {"provider": "aws", "objectStorage": {"bucket": "b"}, "config": {"s3Url": "https://s3.eu-central-1.amazonaws.com"}}),
            velero("BackupStorageLocation", "default", {"provider": "aws", "objectStorage": {"bucket": "b"}, "config": {"region": "us-east-1"}}, target="training", placement="cloud"),
        ],
    ),
}


def collector(target: str = "dc1", placement: str = "onprem", audit: bool = True, archive: bool = True, md5: bool = True) -> dict[str, Any]:
    """A log collector release as modules/logging.py writes it."""
    from hybridai.config.operations import SecretKeyRef
    from hybridai.modules.logging import ArchiveArgs, CollectorArgs, fluent_bit_values

    key = SecretKeyRef(name="audit-archive", key="k")
    store = ArchiveArgs(endpoint="https://s3.example", bucket="audit", access_key_id=key, secret_access_key=key, lock_mode="COMPLIANCE", lock_days=2557)
    values = fluent_bit_values(
        CollectorArgs(loki_url="http://loki.logging.svc:3100", labels={"cluster": target}, audit_log_path="/var/log/kubernetes/audit/audit.log" if audit else None, archive=store if archive else None)
    )
    if not md5:
        values["config"]["outputs"] = values["config"]["outputs"].replace("send_content_md5 On", "send_content_md5 Off")
    return res("kubernetes:helm.sh/v3:Release", {"chart": "fluent-bit", "values": values}, name=f"{target}-fluent-bit", target=target, placement=placement)


def archive_check(mode: str = "COMPLIANCE", days: str = "2557") -> dict[str, Any]:
    container = {"name": "check", "env": [{"name": "LOCK_MODE", "value": mode}, {"name": "LOCK_DAYS", "value": days}]}
    return k8s("CronJob", "audit-archive-check", "logging", spec={"jobTemplate": {"spec": {"template": {"spec": {"containers": [container]}}}}})


def eks_log_group(days: int) -> dict[str, Any]:
    return res("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/eks/training/cluster", "retentionInDays": days, "kmsKeyId": "k"}, placement="cloud", target="aws")


def eks_audit_subscription(pattern: str = EKS_AUDIT_FILTER, destination: str = "arn:aws:firehose:eu-central-1:1:deliverystream/training-audit") -> dict[str, Any]:
    return res("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter", {"logGroup": "/aws/eks/training/cluster", "filterPattern": pattern, "destinationArn": destination}, placement="cloud", target="aws")


def decision_sink(target: str = "dc1") -> dict[str, Any]:
    """The decision sink's Vector release as modules/decision_log.py writes it."""
    return res("kubernetes:helm.sh/v3:Release", {"chart": "vector", "namespace": "decisions", "values": {"fullnameOverride": "decision-sink"}}, name=f"{target}-vector", target=target)


def logged(name: str, logger: dict | None) -> dict[str, Any]:
    isvc = inference_service(name, {})
    if logger is not None:
        isvc["inputs"]["spec"]["predictor"]["logger"] = logger
    return isvc


SINK_URL = "https://decision-sink.decisions.svc:8443/"
CASES["decision-logging"] = (
    [decision_sink(), logged("fraud-score", {"mode": "all", "url": SINK_URL})],
    # logger off, requests only, a URL that isn't the sink
    [
        decision_sink(),
        logged("fraud-score", None),
        logged("credit-score", {"mode": "request", "url": SINK_URL}),
        logged("limit-check", {"mode": "all", "url": "https://audit.elsewhere.example/"}),
    ],
)


def test_decision_logging_names_each_violation() -> None:
    # GIVEN the violating fixture WHEN checked THEN each model is named with what's wrong
    messages = [f.message for f in RULES["decision-logging"].check(CASES["decision-logging"][1], CTX)]
    assert messages == [
        "InferenceService fraud/fraud-score logs none of its decisions: give its predictor a logger (mode `all`) to the decision sink",
        "InferenceService fraud/credit-score logs only its requests: a decision is its request and its response (mode `all`)",
        f"InferenceService fraud/limit-check logs to https://audit.elsewhere.example/, not the stack's decision sink {SINK_URL}",
    ]
    # AND an external sink the stack names is the one expected instead
    external = CTX.model_copy(update={"external_decision_log": "https://audit.elsewhere.example/"})
    assert [f.message for f in RULES["decision-logging"].check([logged("limit-check", {"mode": "all", "url": "https://audit.elsewhere.example/"})], external)] == []


CASES["api-audit-enabled"] = (
    # EKS keeps its own audit logs (its collector reads none), for SOX's seven years, and sends them to the archive through Firehose
    [collector(), collector("line-1", "edge:line-1"), collector("training", "cloud", audit=False, archive=False), eks_log_group(2557), eks_audit_subscription()],
    # the subscription sends only errors, the other one goes to a Lambda: neither is the archive
    [
        collector(),
        collector("line-1", "edge:line-1", audit=False),
        eks_log_group(365),
        eks_audit_subscription(pattern="ERROR"),
        eks_audit_subscription(destination="arn:aws:lambda:eu-central-1:1:function:f"),
    ],
)
CASES["audit-archive-locked"] = (
    [collector(), collector("line-1", "edge:line-1"), archive_check()],
    # the edge site's records stay out of the archive; the archive is locked GOVERNANCE, and shorter than SOX's 2557 days
    [collector(), collector("line-1", "edge:line-1", archive=False), collector("line-2", "edge:line-2", md5=False), archive_check("GOVERNANCE", "2190")],
)


def test_the_api_audit_rule_names_each_gap() -> None:
    # GIVEN an edge collector without the audit input and an EKS log group kept a year
    _, violating = CASES["api-audit-enabled"]
    # WHEN checked THEN both are named (the context's profiles include SOX: 2557 days)
    assert sorted(f.message for f in RULES["api-audit-enabled"].check(violating, CTX)) == [
        "log group /aws/eks/training/cluster keeps the EKS audit log 365 days; the profiles (hipaa, sox, residency) keep audit records 2557",
        "log group /aws/eks/training/cluster: no subscription filter sends the EKS audit events to Firehose, so they never reach the write-once archive",
        "the log collector on line-1 doesn't read the API audit log",
    ]


def test_an_eks_audit_log_needs_no_archive_subscription_where_no_profile_keeps_an_archive() -> None:
    # GIVEN an EKS log group kept long enough, without a subscription, under the residency profile only (no write-once archive)
    ctx = CTX.model_copy(update={"profiles": ("residency",)})
    # WHEN the rule runs THEN nothing is asked of the log group
    assert list(RULES["api-audit-enabled"].check([eks_log_group(2557)], ctx)) == []


def test_an_onprem_cluster_without_any_collector_has_no_api_audit_trail() -> None:
    # GIVEN an on-prem cluster's namespaces and no log collector at all (a stack without `logging`)
    resources = [TENANT_NS]
    # WHEN the rule runs THEN it says the stack keeps no API audit trail
    assert [f.message for f in RULES["api-audit-enabled"].check(resources, CTX)] == ["the stack's on-prem clusters have no log collector: set `logging`"]
    # AND a cloud-only record set (EKS keeps its own audit log) is not its business
    assert list(RULES["api-audit-enabled"].check([EKS], CTX)) == []


def test_the_archive_rule_names_each_gap() -> None:
    # GIVEN a collector without an archive, one writing without checksums, and a short GOVERNANCE lock
    _, violating = CASES["audit-archive-locked"]
    # WHEN checked THEN each is reported on its own resource
    messages = sorted(f.message for f in RULES["audit-archive-locked"].check(violating, CTX))
    assert messages == [
        "the audit archive is locked GOVERNANCE for 2190 days; the profiles (hipaa, sox, residency) need COMPLIANCE for 2557",
        "the log collector on line-1 writes no audit archive (`logging.auditArchive`)",
        "the log collector on line-2 writes the archive without the checksum an object-locked bucket requires",
    ]


def test_phi_egress_rule_names_each_forbidden_path() -> None:
    # GIVEN the violating fixture (PACS egress from research and from the cloud; a research policy opening the PACS network)
    # WHEN the rule runs THEN each forbidden path is named, and the compliant PHI namespace's policy is not
    assert _messages("hipaa-phi-egress-only-from-phi-namespaces", CASES["hipaa-phi-egress-only-from-phi-namespaces"][1]) == [
        "egress to PHI endpoint pacs from namespace research, which is not a PHI namespace: research teams get de-identified data, never a path to the EHR or PACS",
        "egress to PHI endpoint pacs from radiology on cloud cluster aws: PHI systems are reached from on-prem only",
        "NetworkPolicy research/wide opens 10.20.0.0/16 on the port of PHI endpoint pacs, which names no path from research",
        "NetworkPolicy research/https opens every address on the port of PHI endpoint pacs, which names no path from research",
    ]


def test_phi_to_research_rule_names_each_path() -> None:
    # GIVEN the violating fixture WHEN the rule runs THEN each path across the PHI line is named with the policies of both sides
    assert _messages("hipaa-no-path-from-phi-to-research", CASES["hipaa-no-path-from-phi-to-research"][1]) == [
        "PHI namespace radiology reaches non-PHI namespace research: egress by to-research, ingress by from-phi; PHI reaches research only de-identified",
        "non-PHI namespace research reaches PHI namespace radiology: egress by pull, ingress by open; PHI reaches research only de-identified",
    ]
    # AND a namespace without any egress policy is open: named as such
    bare = [TENANT_NS, RESEARCH_NS, k8s("NetworkPolicy", "from-phi", "research", spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})]
    assert _messages("hipaa-no-path-from-phi-to-research", bare)[0].startswith("PHI namespace radiology reaches non-PHI namespace research: egress by (none), ingress by from-phi")


def test_models_from_registry_names_each_violation() -> None:
    # GIVEN the violating fixture WHEN the rule runs THEN each model is named with what to do
    assert _messages("models-from-registry", CASES["models-from-registry"][1]) == [
        "production model fraud-score is served from a raw URI (s3://models/fraud-score/v12); name a registry version (`registry: {model, version}`)",
        "production model credit-limit names no pinned registry version ('latest'); pin an integer version",
    ]
def test_secrets_rule_names_each_plaintext_key_and_trusts_crossguard_to_unwrap() -> None:
    # GIVEN a Secret with one redacted and one plain-text value
    plain = k8s("Secret", "grafana-admin", "monitoring", stringData={"admin-user": REDACTED_SECRET, "admin-password": "hunter2"})
    # WHEN the rule reads the plan's records THEN only the plain key is named, without its value
    findings = list(RULES["k8s-secrets-not-plaintext"].check([plain], CTX))
    assert [f.message for f in findings] == [
        "Secret monitoring/grafana-admin: stringData.admin-password is plain text; take it from a Pulumi secret (`secrets.sources[].values`) or a store (an ExternalSecret)"
    ]
    # AND under CrossGuard, which hands rules secrets unwrapped, the rule can't tell and stays silent
    assert list(RULES["k8s-secrets-not-plaintext"].check([plain], CTX.model_copy(update={"secret_values_visible": True}))) == []


@pytest.mark.parametrize(
    ("resources", "why"),
    [
        ([kserve_release(), ISVC, GATEWAY_CERT], "without cert-manager"),
        ([CERT_MANAGER, kserve_release(), ISVC], "has no certificate (Secret internal-tls)"),
        ([CERT_MANAGER, kserve_release(), {**ISVC, "inputs": {**ISVC["inputs"], "spec": {"predictor": {"logger": {"url": "http://audit.audit.svc"}}}}}, GATEWAY_CERT], "without TLS"),
    ],
)
def test_serving_tls_names_each_gap(resources: list, why: str) -> None:
    # GIVEN a serving cluster missing one piece of TLS WHEN the rule runs THEN it says which
    messages = [f.message for f in RULES["serving-endpoints-tls"].check(resources, CTX)]
    assert len(messages) == 1 and why in messages[0], messages


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
    # AND a finding is only of a rule the stack lowered with its reason (summary.md lists it)
    lowered = set((stack_values(stack).get("policy") or {}).get("enforcement") or {})
    assert [f for f in report["findings"] if f["rule"] not in lowered | {"supply-images-locked"}] == []
    # AND the lock rule reports only images the example images.lock left unresolved (this
    # machine reaches no public registry): none unlocked, none stale, none invented
    assert {f["message"].split(":", 1)[0] for f in report["findings"] if f["rule"] == "supply-images-locked"} <= {"unresolved"}


def test_wide_allow_lists_pass_only_when_the_stack_gave_a_reason() -> None:
    # GIVEN the violating allow-lists, WHEN the stack wrote a reason (policy.wideNetworksReason),
    # THEN the rule lets them through (summary.md lists the exception instead)
    violating = CASES["net-allow-lists-narrow"][1]
    assert list(RULES["net-allow-lists-narrow"].check(violating, CTX.model_copy(update={"wide_networks_allowed": True}))) == []


# Karpenter and the IAM exception for actions AWS can't scope.


def _messages(rule_id: str, resources: list[dict[str, Any]]) -> list[str]:
    return [f.message for f in RULES[rule_id].check(resources, CTX)]


def test_iam_star_resource_only_for_statements_of_unscopable_actions() -> None:
    # GIVEN `*` resources: for unscopable reads alone (any case), mixed with a scopable action, with a service wildcard
    lower = policy_doc({**UNSCOPED_READS, "Action": ["EC2:describeinstancetypes"]})
    mixed = policy_doc({**UNSCOPED_READS, "Action": ["ec2:DescribeSubnets", "ec2:RunInstances", "iam:PassRole"]})
    service = policy_doc({"Effect": "Allow", "Action": ["ec2:*"], "Resource": "*"})
    partial = policy_doc({"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"})
    # THEN only the reads alone pass; the mixed statement names the actions AWS can scope
    assert _messages("aws-iam-no-wildcards", [lower]) == []
    assert _messages("aws-iam-no-wildcards", [mixed]) == ["karpenter-controller-policy allows ['*'] for ec2:RunInstances, iam:PassRole, which AWS can scope to resources"]
    assert _messages("aws-iam-no-wildcards", [service]) == ["karpenter-controller-policy allows ['ec2:*', '*']"]
    assert _messages("aws-iam-no-wildcards", [partial]) == ["karpenter-controller-policy allows ['*'] for ec2:Describe*, which AWS can scope to resources"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1}}, "instance metadata: httpTokens='optional', hop limit 1; need 'required' and 1"),
        ({"metadataOptions": None}, "instance metadata: httpTokens=None, hop limit None; need 'required' and 1"),
        ({"blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": "200Gi", "encrypted": False}}]}, "volume /dev/xvda is not encrypted"),
        ({"blockDeviceMappings": None}, "no blockDeviceMappings, so the AMI's own volumes, not declared encrypted, are used"),
        ({"associatePublicIPAddress": None}, "associatePublicIPAddress is None, need false (otherwise the subnet decides)"),
        ({"associatePublicIPAddress": True}, "associatePublicIPAddress is True, need false (otherwise the subnet decides)"),
    ],
    ids=["imdsv1", "imds-unset", "unencrypted-volume", "no-volumes", "public-ip-unset", "public-ip"],
)
def test_nodeclass_hardening_names_each_gap(spec: dict, problem: str) -> None:
    assert _messages("karpenter-nodeclass-hardened", [node_class(**spec)]) == [f"EC2NodeClass a100: {problem}"]


@pytest.mark.parametrize(
    ("pool", "why"),
    [
        (node_pool(role="batch"), "GPU instance types p4de.24xlarge"),
        (node_pool(role="batch", instance_types=(), labels={"karpenter.k8s.aws/instance-family": "p5"}), "GPU instance families p5"),
        (node_pool(role="batch", instance_types=(), capacity={"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["0"]}), "a karpenter.k8s.aws/instance-gpu-count requirement"),
        (node_pool(instance_types=("m7i.2xlarge",)), "labelled hybrid-ai.io/node-role=gpu-training"),
    ],
    ids=["gpu-instance-type", "gpu-family-label", "gpu-count", "training-label"],
)
def test_gpu_nodepools_are_recognised_and_must_be_tainted_and_bounded(pool: dict, why: str) -> None:
    # GIVEN a NodePool of GPU nodes (however it selects them) WHEN it has neither taint nor GPU limit
    spec = pool["inputs"]["spec"]
    spec["template"]["spec"]["taints"] = [{"key": "nvidia.com/gpu", "effect": "PreferNoSchedule"}]
    spec["limits"] = {"cpu": "1000"}
    # THEN both are reported, with what made it a GPU pool
    assert _messages("karpenter-gpu-nodepool-bounded", [pool]) == [
        (
            f"GPU NodePool a100 ({why}): no nvidia.com/gpu:NoSchedule taint, so any pod may land on (and keep up) a GPU node; "
            "no limits.nvidia.com/gpu, so Karpenter may launch GPUs without bound"
        )
    ]


def test_cpu_nodepools_need_no_gpu_taint_or_limit() -> None:
    cpu = node_pool("general", role="batch", instance_types=("m7i.2xlarge", "c7i.4xlarge"), taints=[], limits={"cpu": "256"})
    gpu_count_zero = node_pool("cpu", role="batch", instance_types=(), capacity={"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "In", "values": ["0"]}, taints=[], limits={})
    assert _messages("karpenter-gpu-nodepool-bounded", [cpu, gpu_count_zero]) == []


@pytest.mark.parametrize(
    ("capacity", "spot"),
    [
        ({}, False),  # no requirement: Karpenter launches on-demand
        ({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand", "reserved"]}, False),
        ({"key": "karpenter.sh/capacity-type", "operator": "NotIn", "values": ["spot"]}, False),
        ({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}, True),
        ({"key": "karpenter.sh/capacity-type", "operator": "NotIn", "values": ["on-demand"]}, True),
        ({"key": "karpenter.sh/capacity-type", "operator": "Exists"}, True),
    ],
)
def test_inference_nodepools_may_not_allow_spot(capacity: dict, spot: bool) -> None:
    # GIVEN an inference NodePool with a capacity-type requirement (or none)
    pool = node_pool("l4", role="inference", instance_types=("g6.xlarge",), capacity=capacity)
    # WHEN the rule runs THEN it is a finding exactly when spot capacity is allowed
    findings = _messages("gpu-production-inference-not-on-spot", [pool])
    assert bool(findings) is spot
    # AND a training pool on spot is fine, a label pinning spot is not
    assert _messages("gpu-production-inference-not-on-spot", [node_pool(capacity=capacity)]) == []
    labelled = node_pool("l4", role="inference", instance_types=("g6.xlarge",), capacity={}, labels={"karpenter.sh/capacity-type": "spot"})
    assert _messages("gpu-production-inference-not-on-spot", [labelled]) == ["inference NodePool l4 may launch spot nodes (karpenter.sh/capacity-type allows spot)"]


# Backups.


def test_a_namespace_left_out_of_every_schedule_is_named_with_its_cluster() -> None:
    # GIVEN the violating fixture (argo created on dc1, in no schedule) WHEN checked THEN one finding, for argo
    assert _messages("backup-every-namespace", CASES["backup-every-namespace"][1]) == [
        "namespace argo on onprem is in none of the cluster's Velero schedules: a restore of the cluster would lose what it holds"
    ]


def test_backup_rules_name_each_problem_and_skip_non_production_stacks() -> None:
    # GIVEN the violating backup fixtures, THEN each problem is its own finding, naming what is wrong
    stateful = _messages("backup-stateful-namespaces", CASES["backup-stateful-namespaces"][1])
    assert stateful == [
        "namespace inference on dc1 holds data (PersistentVolumeClaim model-cache) but no Velero schedule backs it up",
        "namespace radiology on dc1: no schedule backing it up runs at least every 24 h (the profiles' RPO)",
        "namespace radiology on dc1: no schedule backing it up keeps its backups 35 days (the profiles' least retention)",
    ]
    locations = _messages("backup-locations-encrypted-in-jurisdiction", CASES["backup-locations-encrypted-in-jurisdiction"][1])
    assert locations == [
        "BackupStorageLocation default on dc1 sends onprem backups to AWS (s3.eu-central-1.amazonaws.com): on-prem and edge backups stay on the premises",
        "BackupStorageLocation default on dc1 doesn't ask its store to encrypt backups (serverSideEncryption)",
        "BackupStorageLocation default on training keeps backups in 'us-east-1', outside the allowed regions eu-central-1",
        "BackupStorageLocation default on training keeps backups in S3 without the stack's KMS key (kmsKeyId)",
    ]
    # AND a dev stack need not back up (the rule is about production)
    dev = CTX.model_copy(update={"production": False})
    assert list(RULES["backup-stateful-namespaces"].check(CASES["backup-stateful-namespaces"][1], dev)) == []


def loki_release(tls: bool) -> dict[str, Any]:
    """The hub's Loki release as modules/logging.py writes it, with or without the stack's issuer."""
    from hybridai.config.operations import SecretKeyRef
    from hybridai.modules.certificates import TlsArgs
    from hybridai.modules.logging import LogStoreArgs, loki_values

    key = SecretKeyRef(name="loki-object-store", key="k")
    store = LogStoreArgs(
        endpoint="https://s3.example", bucket="logs", access_key_id=key, secret_access_key=key, log_retention_days=30, audit_retention_days=365,
        tls=TlsArgs(issuer="hybridai-ca") if tls else None,
    )
    return res("kubernetes:helm.sh/v3:Release", {"chart": "loki", "values": loki_values(store)}, name="dc1-loki")


def hub_collector(tls: bool) -> dict[str, Any]:
    """The hub's collector pushing to its own Loki: https verified with the issuer's CA, or plain http."""
    from hybridai.modules.certificates import TlsArgs
    from hybridai.modules.logging import CollectorArgs, fluent_bit_values, loki_url

    args = CollectorArgs(loki_url=loki_url("logging", tls), labels={"cluster": "dc1"}, loki_ca=TlsArgs(issuer="hybridai-ca") if tls else None)
    return res("kubernetes:helm.sh/v3:Release", {"chart": "fluent-bit", "values": fluent_bit_values(args)}, name="dc1-fluent-bit")


def kps_release(tls: bool, agent: bool = False) -> dict[str, Any]:
    """kube-prometheus-stack's values as far as TLS goes (modules/monitoring.py): Prometheus' web
    TLS and Grafana's protocol, or plain http; an edge agent has neither Grafana nor a certificate."""
    web = {"web": {"tlsConfig": {"cert": {"secret": {"name": "kps-prometheus-tls", "key": "tls.crt"}}, "keySecret": {"name": "kps-prometheus-tls", "key": "tls.key"}}}} if tls else {}
    values: dict[str, Any] = {"prometheus": {"prometheusSpec": web}}
    values["grafana"] = {"enabled": False} if agent else ({"grafana.ini": {"server": {"protocol": "https"}}} if tls else {})
    if agent:
        values["prometheus"]["agentMode"] = True
    return res("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "values": values}, name="dc1-kps")


# GIVEN a cluster with the stack's issuer: Loki, Prometheus and Grafana serving their certificates, the
# collector verifying Loki; THEN each on plain http, and Loki pushed to without TLS, is a finding
CASES["platform-endpoints-tls"] = (
    [CERT_MANAGER, loki_release(True), hub_collector(True), kps_release(True)],
    [CERT_MANAGER, loki_release(False), hub_collector(False), kps_release(False)],
)


def test_platform_tls_names_prometheus_and_grafana_and_leaves_an_agent_alone() -> None:
    # GIVEN plain-http Prometheus and Grafana where cert-manager runs WHEN the rule runs THEN both are named
    messages = [f.message for f in RULES["platform-endpoints-tls"].check([CERT_MANAGER, kps_release(False)], CTX)]
    assert [m.split(" listens")[0] for m in messages] == ["Prometheus on dc1", "Grafana on dc1"]
    # AND an agent-mode Prometheus (no Grafana, nothing served) is no finding
    assert list(RULES["platform-endpoints-tls"].check([CERT_MANAGER, kps_release(False, agent=True)], CTX)) == []


def test_platform_tls_holds_only_where_the_cluster_has_an_issuer() -> None:
    # GIVEN plain-http Loki and collector on a cluster without cert-manager (a dev stack without `tls`)
    # WHEN the rule runs THEN there is nothing to hold it to
    assert list(RULES["platform-endpoints-tls"].check([loki_release(False), hub_collector(False)], CTX)) == []
    # AND with cert-manager each plain-http part is named
    messages = [f.message for f in RULES["platform-endpoints-tls"].check([CERT_MANAGER, loki_release(False), hub_collector(False)], CTX)]
    assert len(messages) == 2 and "Loki on dc1 listens on plain http" in messages[0] and "without verified TLS" in messages[1]


def test_an_unprotected_eks_audit_stream_is_named() -> None:
    # GIVEN the violating fixture: an unprotected key and an unprotected Firehose stream of the EKS audit
    _, violating = CASES["sox-protected-data-resources"]
    # WHEN checked THEN both are reported, the stream by name
    messages = sorted(f.message for f in RULES["sox-protected-data-resources"].check(violating, CTX))
    assert messages == ["audit-stream holds data but isn't protected", "r holds data but isn't protected"]


# --- LLMs ------------------------------------------------------------------------------------------


def llm_service(name: str = "notes", namespace: str = "clinical") -> dict[str, Any]:
    """An LLMInferenceService as modules/llm_serving.py writes it (what the rules read of it)."""
    obj = {"apiVersion": "serving.kserve.io/v1alpha2", "kind": "LLMInferenceService", "metadata": {"name": name, "namespace": namespace}, "spec": {"model": {"uri": "oci://r/llm:1"}}}
    return res("kubernetes:serving.kserve.io/v1alpha2:LLMInferenceService", obj, name=f"{namespace}-{name}")


def netpol(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return k8s("NetworkPolicy", name, namespace, spec=spec)


def from_ns(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


PROMETHEUS = res("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "namespace": "monitoring", "values": {}}, name="prometheus")
LLM_PODS = {"matchLabels": {"app.kubernetes.io/part-of": "llminferenceservice"}}
TENANT_POLICIES = [
    netpol("default-deny", "clinical", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
    netpol("allow-same-namespace", "clinical", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}),
    netpol("allow-monitoring-scrape", "clinical", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [from_ns("monitoring")]}]}),
]
CASES["llm-behind-gateway"] = (
    # default deny; the namespace's own pods, Prometheus and the gateway's proxies on vLLM's and the scheduler's ports;
    # a policy admitting another namespace to other pods (the InferenceServices') doesn't select the LLM's
    [
        llm_service(), PROMETHEUS, *TENANT_POLICIES,
        netpol("llms-behind-gateway", "clinical", {"podSelector": LLM_PODS, "policyTypes": ["Ingress"], "ingress": [{"from": [from_ns("envoy-gateway-system")], "ports": [{"port": 8000}, {"port": 9002}]}]}),
        netpol("kserve-from-gateway", "clinical", {"podSelector": {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]}, "ingress": [{"from": [from_ns("gateway-system")]}]}),
    ],
    # no default deny in one namespace; in the other, a policy admitting everyone, another namespace, and an address block
    [
        llm_service("open", "research"),
        llm_service(), PROMETHEUS, *TENANT_POLICIES,
        netpol("wide", "clinical", {"podSelector": LLM_PODS, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 8000}]}, {"from": [from_ns("research"), {"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
    ],
)


def test_llm_behind_gateway_names_each_way_around_the_gateway() -> None:
    # GIVEN the violating fixture WHEN checked THEN each LLM and each opening is named
    assert _messages("llm-behind-gateway", CASES["llm-behind-gateway"][1]) == [
        "LLMInferenceService clinical/notes: NetworkPolicy clinical/wide ingress[0] admits every source; admit the gateway's namespace envoy-gateway-system only",
        "LLMInferenceService clinical/notes: NetworkPolicy clinical/wide ingress[1] admits research, not the gateway's namespace envoy-gateway-system",
        "LLMInferenceService clinical/notes: NetworkPolicy clinical/wide ingress[1] admits addresses 10.0.0.0/8 around the gateway",
        "LLMInferenceService research/open: no NetworkPolicy of research covers every pod for ingress, so its pods take traffic from anywhere; deny ingress by default",
    ]


def test_llm_behind_gateway_reads_label_selectors_as_kubernetes_does() -> None:
    # GIVEN policies selecting the LLM's pods by other labels or expressions WHEN checked
    # THEN only those whose selector matches the vLLM pods' labels count
    def opened(selector: dict) -> list[str]:
        wide = netpol("wide", "clinical", {"podSelector": selector, "ingress": [{"from": [from_ns("research")]}]})
        return _messages("llm-behind-gateway", [llm_service(), PROMETHEUS, *TENANT_POLICIES, wide])

    assert opened({"matchLabels": {"kserve.io/component": "workload", "app.kubernetes.io/name": "notes"}}) != []
    assert opened({"matchLabels": {"app.kubernetes.io/name": "other"}}) == []
    assert opened({"matchExpressions": [{"key": "kserve.io/component", "operator": "In", "values": ["router-scheduler"]}]}) == []
    assert opened({"matchExpressions": [{"key": "kserve.io/component", "operator": "NotIn", "values": ["router-scheduler"]}]}) != []
    assert opened({"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "DoesNotExist"}]}) != []


TRACES_URL = "https://decision-sink.decisions.svc:4318/v1/traces"


def gateway_trail(target: str, **env: str) -> list[dict[str, Any]]:
    """The inference Gateway naming its GatewayConfig, and that config's exporter variables, as
    modules/inference_gateway.py writes them."""
    gateway = {"kind": "Gateway", "metadata": {"name": "llm", "namespace": "inference-gateway", "annotations": {"aigateway.envoyproxy.io/gateway-config": "llm"}}, "spec": {}}
    config = {"kind": "GatewayConfig", "metadata": {"name": "llm", "namespace": "inference-gateway"}, "spec": {"extProc": {"kubernetes": {"env": [{"name": k, "value": v} for k, v in env.items()]}}}}
    return [
        res("kubernetes:gateway.networking.k8s.io/v1:Gateway", gateway, name=f"{target}-gateway", target=target),
        res("kubernetes:aigateway.envoyproxy.io/v1beta1:GatewayConfig", config, name=f"{target}-gateway-config", target=target),
    ]


def llm_on(target: str, name: str) -> dict[str, Any]:
    return {**llm_service(name), "target": target, "urn": f"urn:{target}:{name}"}


TRAIL = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": TRACES_URL, "OTEL_TRACES_SAMPLER": "always_on"}
CASES["llm-decision-logging"] = (
    # the cluster's gateway exports every request, bodies whole, to the sink on that cluster
    [decision_sink(), llm_service(), *gateway_trail("dc1", **TRAIL)],
    # no sink; a gateway exporting elsewhere; bodies hidden; a caller's trace context deciding
    [
        llm_on("dc0", "unsunk"),
        decision_sink("dc2"), llm_on("dc2", "elsewhere"), *gateway_trail("dc2", **{**TRAIL, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://phoenix.example:4318/v1/traces"}),
        decision_sink("dc3"), llm_on("dc3", "hidden"), *gateway_trail("dc3", **TRAIL, OPENINFERENCE_HIDE_OUTPUTS="true"),
        decision_sink("dc4"), llm_on("dc4", "sampled"), *gateway_trail("dc4", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=TRACES_URL),
    ],
)


def test_llm_decision_logging_says_why_an_llm_is_not_logged() -> None:
    # GIVEN the violating fixture WHEN checked THEN each LLM is named with what keeps its requests out of the trail
    assert _messages("llm-decision-logging", CASES["llm-decision-logging"][1]) == [
        "LLMInferenceService clinical/unsunk: dc0 runs no decision sink for its prompts and completions: set `logging.auditArchive`",
        "LLMInferenceService clinical/elsewhere: the inference gateway exports its requests to https://phoenix.example:4318/v1/traces, not the decision "
        f"sink's {TRACES_URL} (an LLMInferenceService has no logger of its own: docs/design/llm-serving.md)",
        "LLMInferenceService clinical/hidden: the inference gateway records its requests with OPENINFERENCE_HIDE_OUTPUTS=true: the decision trail gets no bodies",
        "LLMInferenceService clinical/sampled: the inference gateway samples its requests (parentbased_always_on): a caller's trace context could keep "
        "a request out of the trail; set always_on",
    ]
    # AND a Gateway naming no GatewayConfig exports nothing
    unnamed = gateway_trail("dc1", **TRAIL)
    unnamed[0]["inputs"]["metadata"]["annotations"] = {}
    assert _messages("llm-decision-logging", [decision_sink(), llm_service(), *unnamed])[0].startswith("LLMInferenceService clinical/notes: the inference gateway exports its requests to nowhere")


def test_the_lock_rule_says_what_each_image_lacks() -> None:
    # GIVEN the violating fixture WHEN checked THEN each problem is named with its state and why
    assert sorted(_messages("supply-images-locked", CASES["supply-images-locked"][1])) == [
        "by tag: nvcr.io/nvidia/tritonserver:25.01-py3 (runs by tag; images.lock resolved it to sha256:" + "e" * 64 + ")",
        "not locked: quay.io/x/unlocked:1 (not in images.lock: run `hybridai images STACK --lock`)",
        "stale: loki@18.11.0 (images.lock wasn't made for this chart version: run `hybridai images STACK --lock`)",
        "unresolved: docker.io/library/redis:7 (can't reach registry-1.docker.io: NameResolutionError)",
    ]
    # AND outside prod, or with no lock consulted, it checks nothing
    assert list(RULES["supply-images-locked"].check(CASES["supply-images-locked"][1], CTX.model_copy(update={"production": False}))) == []
    assert list(RULES["supply-images-locked"].check(CASES["supply-images-locked"][1], CTX.model_copy(update={"image_lock": None}))) == []
