"""AWS rules: private and encrypted EKS, IMDSv2, safe buckets, rotating keys, least-privilege IAM, tags,
hardened and bounded Karpenter nodes."""
from __future__ import annotations

import ipaddress
import json
from typing import Any, Iterator

from hybridai import catalog
from hybridai.recorded import COST_CENTER_LABEL, ENVIRONMENT_LABEL, NODE_ROLE_LABEL, ROLE_GPU_TRAINING, TEAM_LABEL
from hybridai.policy.rules.base import Finding, PolicyContext, Resource, metadata, of_type, rule

REQUIRED_TAGS = (TEAM_LABEL, ENVIRONMENT_LABEL, COST_CENTER_LABEL)
# AWS types that take tags and that hybrid-ai creates (tags on their sub-resources aren't supported).
TAGGABLE = {
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway",
    "aws:ec2/launchTemplate:LaunchTemplate", "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:ecr/repository:Repository",
    "aws:iam/role:Role", "aws:cloudtrail/trail:Trail", "aws:cloudwatch/logGroup:LogGroup", "aws:budgets/budget:Budget",
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "aws:sns/topic:Topic", "aws:cloudwatch/metricAlarm:MetricAlarm",
}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@rule("aws-eks-endpoint-restricted", "EKS API endpoints are private, or public only to listed CIDRs (how wide: net-allow-lists-narrow) — never 0.0.0.0/0")
def eks_endpoint(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:eks/cluster:Cluster"):
        vpc = r["inputs"].get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess") is False:
            continue
        cidrs = vpc.get("publicAccessCidrs") or []
        if not cidrs:
            yield Finding(r["urn"], "the EKS endpoint is public without a CIDR allow-list (AWS then allows 0.0.0.0/0)")
        for entry in cidrs:
            if ipaddress.ip_network(entry, strict=False).prefixlen == 0:
                yield Finding(r["urn"], f"the EKS endpoint is open to {entry}")


@rule("aws-eks-secrets-encrypted", "EKS encrypts Kubernetes secrets with a KMS key")
def eks_secrets(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:eks/cluster:Cluster"):
        config = r["inputs"].get("encryptionConfig") or {}
        if "secrets" not in (config.get("resources") or []) or not (config.get("provider") or {}).get("keyArn"):
            yield Finding(r["urn"], "EKS secrets are not envelope-encrypted with a KMS key")


@rule("aws-eks-control-plane-logs", "EKS ships its api, audit and authenticator logs")
def eks_logs(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:eks/cluster:Cluster"):
        missing = {"api", "audit", "authenticator"} - set(r["inputs"].get("enabledClusterLogTypes") or [])
        if missing:
            yield Finding(r["urn"], f"EKS control-plane logs missing: {', '.join(sorted(missing))}")


@rule("aws-imdsv2-hop-limit-1", "Launch templates require IMDSv2 with a hop limit of 1")
def imdsv2(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate"):
        meta = r["inputs"].get("metadataOptions") or {}
        if meta.get("httpTokens") != "required" or meta.get("httpPutResponseHopLimit") != 1:
            yield Finding(r["urn"], f"instance metadata: httpTokens={meta.get('httpTokens')!r}, hop limit {meta.get('httpPutResponseHopLimit')!r}; need 'required' and 1")


@rule("aws-s3-encrypted-versioned-private", "Buckets are KMS-encrypted, versioned and block all public access")
def buckets(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    # Bucket settings are separate resources; they are matched through the component that owns
    # the bucket (its parent), which is known at preview time, unlike the bucket's id.
    siblings: dict[str | None, list[Resource]] = {}
    for r in resources:
        siblings.setdefault(r.get("parent"), []).append(r)
    for bucket in of_type(resources, "aws:s3/bucket:Bucket"):
        near = siblings.get(bucket.get("parent"), [])
        name = bucket["inputs"].get("bucket", bucket["name"])
        sse = [s for s in near if s["type"] == "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"]
        if not any(rule_.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") for s in sse for rule_ in s["inputs"].get("rules") or []):
            yield Finding(bucket["urn"], f"bucket {name} has no KMS default encryption")
        versioning = [v for v in near if v["type"] == "aws:s3/bucketVersioning:BucketVersioning"]
        if not any((v["inputs"].get("versioningConfiguration") or {}).get("status") == "Enabled" for v in versioning):
            yield Finding(bucket["urn"], f"bucket {name} is not versioned")
        blocks = [b for b in near if b["type"] == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
        switches = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(b["inputs"].get(k) is True for k in switches) for b in blocks):
            yield Finding(bucket["urn"], f"bucket {name} doesn't block all public access")


@rule("aws-kms-rotation", "KMS keys rotate")
def kms_rotation(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:kms/key:Key"):
        if r["inputs"].get("enableKeyRotation") is not True:
            yield Finding(r["urn"], "KMS key rotation is off")


def _statements(policy: Any) -> list[dict[str, Any]]:
    document = _json(policy) or {}
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, dict) else statements


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _unscopable(actions: list[Any]) -> bool:
    """Whether every action is one AWS authorizes only on `*` (IAM action names ignore case)."""
    unscoped = {a.lower() for a in catalog.aws().actions_without_resource_scope}
    return bool(actions) and all(isinstance(a, str) and a.lower() in unscoped for a in actions)


@rule(
    "aws-iam-no-wildcards",
    "IAM policies allow no `*` actions or resources; a `*` resource only for actions AWS can't scope, each of the statement's (hybridai/data/aws.yaml)",
)
def iam_wildcards(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/role:Role"):
        policies = [r["inputs"].get("policy")] if r["type"] != "aws:iam/role:Role" else [p.get("policy") for p in r["inputs"].get("inlinePolicies") or []]
        for policy in policies:
            if not isinstance(policy, (str, dict)):
                continue  # not known yet (preview); the offline plan sees every value
            for s in _statements(policy):
                if s.get("Effect") != "Allow":
                    continue  # a Deny with wildcards narrows access
                all_actions = _as_list(s.get("Action", []))
                actions = [a for a in all_actions if a == "*" or a.endswith(":*")]
                wild = [res for res in _as_list(s.get("Resource", [])) if res == "*"]
                if actions:
                    yield Finding(r["urn"], f"{r['name']} allows {actions + wild}")
                elif wild and not _unscopable(all_actions):
                    # `*` is allowed only where AWS offers nothing narrower, for every action of the statement.
                    scopable = [str(a) for a in all_actions if not _unscopable([a])]
                    yield Finding(r["urn"], f"{r['name']} allows {wild} for {', '.join(scopable) or 'NotAction'}, which AWS can scope to resources")


@rule("aws-required-tags", "AWS resources carry team, environment and cost-center tags (their own or the provider's defaults)")
def required_tags(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    defaults = {r["urn"]: ((_json(r["inputs"].get("defaultTags")) or {}).get("tags") or {}) for r in of_type(resources, "pulumi:providers:aws")}
    for r in resources:
        if r["type"] not in TAGGABLE:
            continue
        tags = {**defaults.get(r.get("provider"), {}), **(r["inputs"].get("tags") or {}), **(r["inputs"].get("tagsAll") or {})}
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield Finding(r["urn"], f"{r['name']} lacks tags {', '.join(missing)}")


# Karpenter: the EC2NodeClass (how its nodes boot) and the NodePool (what it may launch).
GPU_TAINT = "nvidia.com/gpu"
GPU_ATTRIBUTE_KEYS = (
    "karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-name",
    "karpenter.k8s.aws/instance-gpu-manufacturer", "karpenter.k8s.aws/instance-gpu-memory",
)
_KARPENTER_GROUPS = {"NodePool": "karpenter.sh", "EC2NodeClass": "karpenter.k8s.aws"}


def karpenter_objects(resources: list[Resource], kind: str) -> Iterator[Resource]:
    """Karpenter's NodePools or EC2NodeClasses, at whatever API version."""
    group = _KARPENTER_GROUPS[kind]
    return (r for r in resources if r["type"].startswith(f"kubernetes:{group}/") and r["type"].endswith(f":{kind}"))


def nodepool_requirements(r: Resource) -> list[dict[str, Any]]:
    """What a NodePool's nodes must satisfy: its template's requirements, and its template labels
    (Karpenter treats each label as a requirement `In [value]`)."""
    template = (r["inputs"].get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    return [*((template.get("spec") or {}).get("requirements") or []), *({"key": k, "operator": "In", "values": [v]} for k, v in labels.items())]


def nodepool_labels(r: Resource) -> dict[str, str]:
    return ((((r["inputs"].get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}


def _gpu_selection(r: Resource) -> str | None:
    """Why a NodePool's nodes are GPU nodes, or None."""
    if nodepool_labels(r).get(NODE_ROLE_LABEL) == ROLE_GPU_TRAINING:
        return f"labelled {NODE_ROLE_LABEL}={ROLE_GPU_TRAINING}"
    gpu_types = set(catalog.aws().gpu_instances)
    gpu_families = {t.split(".")[0] for t in gpu_types}
    for req in nodepool_requirements(r):
        key, op, values = req.get("key"), req.get("operator"), [str(v) for v in req.get("values") or []]
        if op == "In" and key == "node.kubernetes.io/instance-type" and gpu_types & set(values):
            return f"GPU instance types {', '.join(sorted(gpu_types & set(values)))}"
        if op == "In" and key == "karpenter.k8s.aws/instance-family" and gpu_families & set(values):
            return f"GPU instance families {', '.join(sorted(gpu_families & set(values)))}"
        if key in GPU_ATTRIBUTE_KEYS and (op in ("Exists", "Gt", "Gte") or (op == "In" and set(values) - {"0"})):
            return f"a {key} requirement"
    return None


@rule("karpenter-nodeclass-hardened", "Karpenter EC2NodeClasses set IMDSv2 with a hop limit of 1, encrypt every EBS volume they declare (and declare them), and give nodes no public IP")
def nodeclass_hardened(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in karpenter_objects(resources, "EC2NodeClass"):
        spec = r["inputs"].get("spec") or {}
        problems = []
        meta = spec.get("metadataOptions") or {}
        if meta.get("httpEndpoint") != "disabled" and (meta.get("httpTokens") != "required" or meta.get("httpPutResponseHopLimit") != 1):
            problems.append(f"instance metadata: httpTokens={meta.get('httpTokens')!r}, hop limit {meta.get('httpPutResponseHopLimit')!r}; need 'required' and 1")
        mappings = spec.get("blockDeviceMappings") or []
        if not mappings:
            problems.append("no blockDeviceMappings, so the AMI's own volumes, not declared encrypted, are used")
        for m in mappings:
            if (m.get("ebs") or {}).get("encrypted") is not True:
                problems.append(f"volume {m.get('deviceName')} is not encrypted")
        if spec.get("associatePublicIPAddress") is not False:
            problems.append(f"associatePublicIPAddress is {spec.get('associatePublicIPAddress')!r}, need false (otherwise the subnet decides)")
        if problems:
            yield Finding(r["urn"], f"EC2NodeClass {metadata(r).get('name')}: {'; '.join(problems)}")


@rule("karpenter-gpu-nodepool-bounded", f"Karpenter NodePools of GPU nodes taint them {GPU_TAINT}:NoSchedule and set a limits.{GPU_TAINT} (no unbounded GPU spend)")
def gpu_nodepool_bounded(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in karpenter_objects(resources, "NodePool"):
        why = _gpu_selection(r)
        if why is None:
            continue
        spec = r["inputs"].get("spec") or {}
        taints = ((spec.get("template") or {}).get("spec") or {}).get("taints") or []
        problems = []
        if not any(t.get("key") == GPU_TAINT and t.get("effect") == "NoSchedule" for t in taints):
            problems.append(f"no {GPU_TAINT}:NoSchedule taint, so any pod may land on (and keep up) a GPU node")
        if (spec.get("limits") or {}).get(GPU_TAINT) in (None, ""):
            problems.append(f"no limits.{GPU_TAINT}, so Karpenter may launch GPUs without bound")
        if problems:
            yield Finding(r["urn"], f"GPU NodePool {metadata(r).get('name')} ({why}): {'; '.join(problems)}")
