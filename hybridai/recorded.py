"""The contract between what the program writes and what cost, review and policy read.

The program (blueprints and modules) registers resources; the offline plan, the cost model, the
review and the policy rules read them back as records — the dicts of `resources.json` — whatever
blueprint made them. Everything both sides must agree on lives here, once: the record itself, how a
record is placed, the component type tokens, and the label keys and values that readers match.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

import yaml

PROJECT_TYPE_PREFIX = "hybrid-ai:"


def component_type(module: str, name: str) -> str:
    """A hybrid-ai component's type token: `hybrid-ai:<module>:<Class>`."""
    return f"{PROJECT_TYPE_PREFIX}{module}:{name}"


TARGET_TYPE = component_type("target", "Target")
"""A Target records its target name and placement as inputs `target`, `placement`, `delivery`."""
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
"""A Helm release (cost reads the requests of the platform's own components from its values)."""
NODEPOOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
"""Karpenter's NodePool: GPU capacity of a cloud burst pool (cost and review read its limit)."""
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
RESOURCE_QUOTA_TYPE = "kubernetes:core/v1:ResourceQuota"

EDGE_PLACEMENT_PREFIX = "edge:"


def edge_placement(site: str) -> str:
    """An edge site's placement, `edge:<site>` (the others are `onprem` and `cloud`)."""
    return f"{EDGE_PLACEMENT_PREFIX}{site}"


REDACTED_SECRET = "[secret: redacted by hybridai plan]"
"""What a Pulumi secret is recorded as (resources.json and every artifact of the offline plan): the
policy rule on Secrets the program creates reads it as "this value came from a Pulumi secret"."""

# Node labels the GPU Operator module writes (NodePatch) and cost and review read.
GPU_POOL_LABEL = "hybrid-ai.io/gpu-pool"
GPU_MODEL_LABEL = "hybrid-ai.io/gpu-model"
GPU_COUNT_LABEL = "hybrid-ai.io/gpu-count"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
"""Selects the node's entry of the mig-manager ConfigMap."""
MIG_ALL_DISABLED = "all-disabled"
"""The mig-manager config of nodes whose GPUs all stay whole."""
MIG_CONFIG_KEY = "config.yaml"
"""The key of the mig-manager ConfigMap holding mig-parted's `mig-configs`."""

# Cloud node labels the node capacity module writes and cost, policy and Kueue flavors read.
NODE_ROLE_LABEL = "hybrid-ai.io/node-role"
ROLE_SYSTEM = "system"
ROLE_GPU_TRAINING = "gpu-training"
ROLE_INFERENCE = "inference"
NODE_GROUP_LABEL = "hybrid-ai.io/node-group"
CAPACITY_LABEL = "hybrid-ai.io/capacity"
SPOT = "spot"
ON_DEMAND = "ondemand"

# Namespace labels tenancy writes and cost and policy read; tags on cloud resources likewise.
TEAM_LABEL = "hybrid-ai.io/team"
TIER_LABEL = "hybrid-ai.io/tier"
DATA_CLASSIFICATION_LABEL = "hybrid-ai.io/data-classification"
PHI_ENDPOINT_LABEL = "hybrid-ai.io/phi-endpoint"
"""On every egress policy to a hospital system holding PHI (modules/phi_egress.py): the endpoint it opens."""
ENVIRONMENT_LABEL = "hybrid-ai.io/environment"
COST_CENTER_LABEL = "hybrid-ai.io/cost-center"


@dataclass
class Resource:
    """One registration as the engine (or CrossGuard) saw it."""

    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    protect: bool
    retain_on_delete: bool | None
    dependencies: list[str]
    inputs: dict[str, Any]
    custom: bool
    placement: str | None = None
    target: str | None = None
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """Where the resource was registered before (`urn`, or `name`/`type`/`parentUrn`/`noParent` of
    an alias spec), as the engine is told."""
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    version: str | None = None
    """Version of the provider plugin the resource is registered with (the SDK package's pin)."""

    def record(self) -> dict[str, Any]:
        """The resource as `resources.json`, policy rules and the cost model see it."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "dependencies": self.dependencies,
            "inputs": self.inputs,
            "placement": self.placement,
            "target": self.target,
            # How a change reaches it: what `pulumi up` does on replacement and which changes it ignores.
            "delete_before_replace": self.delete_before_replace,
            "replace_on_changes": self.replace_on_changes,
            "ignore_changes": self.ignore_changes,
            "aliases": self.aliases,
            "provider_version": self.version,
        }


def place(resources: list[Resource]) -> list[str]:
    """Give each resource the placement and name of the Target it is deployed to: a custom
    resource lands where its provider points, a component sits under its Target. Returns the URNs
    of resources outside any Target."""
    by_urn = {r.urn: r for r in resources}

    def enclosing_target(urn: str | None) -> Resource | None:
        while urn:
            node = by_urn.get(urn)
            if node is None:
                return None
            if node.type == TARGET_TYPE:
                return node
            urn = node.parent
        return None

    unplaced = []
    for resource in resources:
        # (CrossGuard describes providers without their parent: then the resource's own chain.)
        target = (enclosing_target(resource.provider) if resource.provider else None) or enclosing_target(resource.urn)
        if target is None:
            unplaced.append(resource.urn)
            continue
        resource.placement = target.inputs["placement"]
        resource.target = target.inputs["target"]
    return unplaced


def eks_cluster_target(cluster_name: str, records: list[dict[str, Any]]) -> str:
    """The Target name of an EKS cluster: the Target registered beside the cluster (the cluster
    module parents both to itself)."""
    for r in records:
        if r["type"] == "aws:eks/cluster:Cluster" and r["inputs"]["name"] == cluster_name:
            for t in records:
                if t["type"] == TARGET_TYPE and t.get("parent") and r["parent"] == t["parent"]:
                    return t["inputs"]["target"]
    return cluster_name


@dataclass(frozen=True)
class RecordedGpuNode:
    target: str
    placement: str
    name: str
    model: str
    gpus: int
    pool: str
    layouts: tuple[tuple[tuple[str, int], ...], ...]
    """Each GPU's MIG layout as sorted (profile, instances) pairs; empty for a whole GPU."""


def gpu_nodes(records: Iterable[dict[str, Any]]) -> list[RecordedGpuNode]:
    """GPU nodes, from each NodePatch's labels and the mig-manager entries its MIG config label
    selects."""
    records = list(records)
    configs: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        data = r["inputs"].get("data") or {}
        if r["type"] == "kubernetes:core/v1:ConfigMap" and MIG_CONFIG_KEY in data and "mig-configs" in data[MIG_CONFIG_KEY]:
            for name, entries in yaml.safe_load(data[MIG_CONFIG_KEY])["mig-configs"].items():
                configs[(r["target"], name)] = entries
    nodes = []
    for r in records:
        metadata = r["inputs"].get("metadata", {})
        labels = metadata.get("labels") or {}
        if r["type"] != "kubernetes:core/v1:NodePatch" or GPU_COUNT_LABEL not in labels:
            continue
        gpus = int(labels[GPU_COUNT_LABEL])
        layouts: list[tuple] = [() for _ in range(gpus)]
        # Each entry lays out some of the node's GPUs (`devices: all` or indices); the rest stay whole.
        for entry in configs.get((r["target"], labels.get(MIG_CONFIG_LABEL, "")), []):
            devices = range(gpus) if entry["devices"] == "all" else entry["devices"]
            layout = tuple(sorted((entry.get("mig-devices") or {}).items())) if entry.get("mig-enabled") else ()
            for device in devices:
                layouts[device] = layout
        nodes.append(RecordedGpuNode(r["target"], r["placement"], metadata["name"], labels[GPU_MODEL_LABEL], gpus, labels.get(GPU_POOL_LABEL, ""), tuple(layouts)))
    return nodes


def mig_strategies(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """target → the MIG strategy its GPU Operator runs (`none`, `single` or `mixed`), from the
    release's values."""
    return {
        r["target"]: ((r["inputs"].get("values") or {}).get("mig") or {}).get("strategy", "none")
        for r in records
        if r["type"] == HELM_RELEASE and r["inputs"].get("chart") == "gpu-operator"
    }


# --- GPU quotas: what modules/tenancy.py writes in each team's ResourceQuota -----------------------
GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource of a whole GPU (MIG slices are `nvidia.com/mig-<profile>`): what GPU pods
request, ResourceQuotas bound and a NodePool's limit counts."""
_REQUESTS = "requests."
_GPU_RESOURCES = "nvidia.com/"
GPU_QUOTA_PREFIX = _REQUESTS + _GPU_RESOURCES
"""What the `hard` keys of a ResourceQuota bounding GPU requests start with: `requests.nvidia.com/`,
then the resource (`requests.nvidia.com/gpu`, `requests.nvidia.com/mig-3g.40gb`)."""


def gpu_quota_key(resource: str) -> str:
    """The ResourceQuota `hard` key bounding the requests of a GPU resource (`nvidia.com/gpu` →
    `requests.nvidia.com/gpu`)."""
    if not resource.startswith(_GPU_RESOURCES):
        raise ValueError(f"{resource!r} is not a GPU resource (nvidia.com/…)")
    return _REQUESTS + resource


@dataclass(frozen=True)
class RecordedQuota:
    """The GPU part of one ResourceQuota, with the team whose namespace it bounds."""

    target: str
    namespace: str
    team: str | None
    """The namespace's team (its TEAM_LABEL); None where the plan creates no team namespace of that name."""
    tier: str
    """The team namespace's tier (TIER_LABEL), "" where it has none."""
    gpus: dict[str, float]
    """GPU resource (`nvidia.com/gpu`, `nvidia.com/mig-3g.40gb`) → units its pods may request in
    all; zeros included (a zero is a refusal, not an absence)."""


def gpu_quotas(records: Iterable[dict[str, Any]]) -> list[RecordedQuota]:
    """Every ResourceQuota's GPU units, in record order."""
    records = list(records)
    teams = {}
    for r in records:
        if r["type"] == NAMESPACE_TYPE:
            metadata = r["inputs"].get("metadata") or {}
            labels = metadata.get("labels") or {}
            if TEAM_LABEL in labels:
                teams[(r["target"], metadata.get("name"))] = (labels[TEAM_LABEL], labels.get(TIER_LABEL, ""))
    quotas = []
    for r in records:
        if r["type"] == RESOURCE_QUOTA_TYPE:
            namespace = r["inputs"]["metadata"]["namespace"]
            hard = (r["inputs"].get("spec") or {}).get("hard") or {}
            team, tier = teams.get((r["target"], namespace), (None, ""))
            gpus = {key.removeprefix(_REQUESTS): float(value) for key, value in hard.items() if key.startswith(GPU_QUOTA_PREFIX)}
            quotas.append(RecordedQuota(r["target"], namespace, team, tier, gpus))
    return quotas


# --- GPU NodePools: what modules/gpu_node_pools.py writes for Karpenter ----------------------------
INSTANCE_TYPE_KEY = "node.kubernetes.io/instance-type"
"""A NodePool requirement: the EC2 instance types its nodes may be."""
CAPACITY_TYPE_KEY = "karpenter.sh/capacity-type"
"""A NodePool requirement: what capacity Karpenter may buy (`spot`, `on-demand`)."""


@dataclass(frozen=True)
class RecordedNodePool:
    """A Karpenter NodePool with a GPU limit."""

    target: str
    name: str
    gpu_limit: int
    """Most GPUs its nodes may hold at once (the NodePool's `nvidia.com/gpu` limit)."""
    gpu_model: str | None
    """Its nodes' GPU_MODEL_LABEL."""
    role: str | None
    """Its nodes' NODE_ROLE_LABEL (`gpu-training` for a burst pool's training capacity)."""
    instance_types: tuple[str, ...]
    capacity_types: tuple[str, ...]


def gpu_node_pools(records: Iterable[dict[str, Any]]) -> list[RecordedNodePool]:
    """Every NodePool that limits its GPUs, in record order."""
    pools = []
    for r in records:
        if r["type"] != NODEPOOL_TYPE:
            continue
        spec = r["inputs"].get("spec") or {}
        limit = (spec.get("limits") or {}).get(GPU_RESOURCE)
        if limit is None:
            continue
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        requirements = {q["key"]: tuple(q.get("values") or ()) for q in (template.get("spec") or {}).get("requirements") or []}
        pools.append(
            RecordedNodePool(
                target=r["target"],
                name=r["inputs"]["metadata"]["name"],
                gpu_limit=int(limit),
                gpu_model=labels.get(GPU_MODEL_LABEL),
                role=labels.get(NODE_ROLE_LABEL),
                instance_types=requirements.get(INSTANCE_TYPE_KEY, ()),
                capacity_types=requirements.get(CAPACITY_TYPE_KEY, ()),
            )
        )
    return pools


def value_at(value: Any, path: Iterable[str]) -> Any:
    """The value at a key path of nested mappings (a record's inputs, a chart's values); None where
    a key is missing or a step is not a mapping."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


MODEL_SYNC_JOB = "model-sync"
"""An edge site's CronJob that pulls its models, whose env MODEL_SOURCE_ENV names the rclone remote
they come from: written by modules/edge_site.py, read by the plan's diagram."""
MODEL_SOURCE_ENV = "MODEL_SOURCE"


# --- Logging: what modules/logging.py writes and the audit policy rules read -----------------------
API_AUDIT_INPUT = "api_audit"
"""Alias of the collector input tailing the Kubernetes API audit log (control-plane nodes)."""
ARCHIVE_OUTPUT = "audit_archive"
"""Alias of the collectors' S3 output to the write-once audit archive."""
ARCHIVE_CHECK = "audit-archive-check"
"""The CronJob checking the archive's Object Lock and freshness; env LOCK_MODE and LOCK_DAYS."""
EKS_AUDIT_FILTER = '{ $.kind = "Event" && $.apiVersion = "audit.k8s.io/v1" }'
"""The CloudWatch Logs subscription filter pattern sending the EKS control plane's API audit events
(not its api or authenticator text logs) to the cloud archive: written by modules/eks_audit.py, read
by the `api-audit-enabled` rule."""


DECISION_SINK = "decision-sink"
"""The decision sink's Service (Vector, `fullnameOverride`) in `logging.decisions.namespace`."""
DECISION_SINK_PORT = 8443
"""Its https port, where KServe's logger posts each request and response."""


def decision_sink_url(namespace: str) -> str:
    """The decision sink's in-cluster address, the URL every InferenceService's logger posts to:
    written into the InferenceServices by modules/serving.py, checked by the decision-logging rule."""
    return f"https://{DECISION_SINK}.{namespace}.svc:{DECISION_SINK_PORT}/"


DECISION_SINK_OTLP_PORT = 4318
"""Its OTLP/HTTP port (https), where the inference gateway's AI Gateway exports each LLM request
as a span carrying the prompt and the completion."""
GATEWAY_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""The AI Gateway external processor's variable naming where its spans go (its GatewayConfig's
env): written by modules/inference_gateway.py, read by the llm-decision-logging rule."""

GATEWAY_CALLER_ATTRIBUTE = "enduser.id"
"""The span attribute naming the caller of an LLM request: the gateway copies the token's `sub`
claim into a request header its AI Gateway maps to this attribute (modules/inference_gateway.py);
the decision sink writes it into the record's `caller` (modules/decision_log.py)."""


def decision_sink_traces_url(namespace: str) -> str:
    """Where the inference gateway exports its LLM spans: the decision sink's OTLP traces path."""
    return f"https://{DECISION_SINK}.{namespace}.svc:{DECISION_SINK_OTLP_PORT}/v1/traces"


def fluent_bit_sections(config: str, kind: str | None = None) -> list[dict[str, list[str]]]:
    """The sections of a classic Fluent Bit config text (`[kind]` only: INPUT, FILTER, OUTPUT; all
    with None), each as {key: [values]}: a key may repeat (`Systemd_Filter`)."""
    sections: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for line in config.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = {} if kind is None or stripped[1:-1].upper() == kind.upper() else None
            if current is not None:
                sections.append(current)
        elif current is not None and stripped and not stripped.startswith("#"):
            key, _, value = stripped.partition(" ")
            current.setdefault(key, []).append(value.strip())
    return sections
# MLOps (modules/training_runtime.py, modules/serving.py) — read by review and policy.
MLOPS_JOB_LABEL = "hybrid-ai.io/training-job"
"""On a catalog job's WorkflowTemplate, CronWorkflow, JobSet and their pods: the job's name."""
MLOPS_STEP_LABEL = "hybrid-ai.io/training-step"
"""On a run's pods: its step (start-run, train, evaluate, register)."""
LLMISVC_POD_LABELS = {"app.kubernetes.io/part-of": "llminferenceservice"}
"""Labels of every pod KServe's llmisvc controller creates for an LLMInferenceService (vLLM and the
llm-d scheduler): what modules/llm_serving.py's NetworkPolicies select and the `llm-behind-gateway`
rule checks."""
LLM_WORKLOAD_LABELS = {**LLMISVC_POD_LABELS, "kserve.io/component": "workload"}
"""Labels of an LLMInferenceService's vLLM pods (the selector of the InferencePool KServe creates:
kserve-config-llm-scheduler `pool.spec.selector`), beside `app.kubernetes.io/name: <its name>`."""
REGISTRY_MODEL_LABEL = "hybrid-ai.io/registry-model"
"""On an InferenceService served from a registry version: the registered model's name."""
MODEL_VERSION_LABEL = "hybrid-ai.io/model-version"
"""On an InferenceService served from a registry version: the pinned version (an integer)."""


def served_versions(records: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """`target/namespace/name` of each InferenceService served from a registry version → (the
    registered model, its version), as modules/serving.py labels it."""
    out = {}
    for r in records:
        inputs = r["inputs"]
        if r["type"].startswith("kubernetes:") and inputs.get("kind") == "InferenceService":
            meta = inputs.get("metadata") or {}
            labels = meta.get("labels") or {}
            if REGISTRY_MODEL_LABEL in labels:
                out[f"{r['target']}/{meta.get('namespace')}/{meta.get('name')}"] = (labels[REGISTRY_MODEL_LABEL], str(labels.get(MODEL_VERSION_LABEL)))
    return out


ARGO_APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"


def release_of(type_: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(chart name, values) of a resource that deploys a chart: a Helm release (`oci://…/<name>`
    included) or, on a GitOps target, an Argo CD Application of a chart; None for anything else."""
    if type_ == HELM_RELEASE:
        return str(inputs.get("chart", "")).rsplit("/", 1)[-1], inputs.get("values") or {}
    if type_ == ARGO_APPLICATION:
        source = (inputs.get("spec") or {}).get("source") or {}
        if source.get("chart"):
            return source["chart"], (source.get("helm") or {}).get("valuesObject") or {}
    return None


def deployed_charts(records: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """Placement → names of the charts deployed there: what its nodes pull images for."""
    out: dict[str, set[str]] = {}
    for r in records:
        if (release := release_of(r["type"], r["inputs"])) is not None:
            out.setdefault(r["placement"], set()).add(release[0])
    return out


# Backups (modules/backup.py writes them; the restore-coverage test, the backup policy rules and
# the restore runbook read them).
VELERO_API = "velero.io/v1"
SCHEDULE_TYPE = f"kubernetes:{VELERO_API}:Schedule"
BACKUP_LOCATION_TYPE = f"kubernetes:{VELERO_API}:BackupStorageLocation"
SCHEDULE_EVERY_PREFIX = "@every "
"""Velero schedules are written `@every <N>h` (Velero's cron accepts Go's `@every <duration>`), so
their period is exact and readable: every N hours from the moment Velero starts."""
CLOUD_STORE_HOSTS = ("amazonaws.com", "amazonaws.com.cn")
"""Hosts of AWS S3 endpoints: an on-prem backup store on one of them would send on-prem data to the
cloud (config validation refuses it, policy checks the recorded locations)."""


def cloud_store_host(url: str) -> str | None:
    """The host of an object-store URL if it is AWS's (CLOUD_STORE_HOSTS or a name under one), else None."""
    host = (urlsplit(url).hostname or "").lower()
    return host if any(host == h or host.endswith("." + h) for h in CLOUD_STORE_HOSTS) else None
STATEFUL_KINDS = ("PersistentVolumeClaim", "StatefulSet")
"""Kinds whose presence makes a namespace hold state (a volume, or a StatefulSet's volume claims)."""


def _hours(duration: str) -> float | None:
    """Hours of a Go duration as Velero writes TTLs and `@every` periods (`24h`, `720h0m0s`, `90m`)."""
    total, number = 0.0, ""
    units = {"h": 1.0, "m": 1 / 60, "s": 1 / 3600}
    for ch in duration.strip():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            return None
    return None if number else total


@dataclass(frozen=True)
class RecordedSchedule:
    target: str
    name: str
    namespaces: tuple[str, ...]
    """Namespaces it includes (`*`: every one)."""
    every_hours: float | None
    """Period of an `@every` schedule; None for a cron expression (not what hybrid-ai writes)."""
    ttl_hours: float | None
    location: str | None
    volumes: str
    """`file-system` (node agent) or `csi-snapshot`."""


def schedules(records: Iterable[dict[str, Any]]) -> list[RecordedSchedule]:
    """Velero Schedules of the plan, as restore coverage and policy read them."""
    found = []
    for r in records:
        if r["type"] != SCHEDULE_TYPE:
            continue
        spec = r["inputs"].get("spec") or {}
        template = spec.get("template") or {}
        cron = str(spec.get("schedule") or "")
        every = _hours(cron.removeprefix(SCHEDULE_EVERY_PREFIX)) if cron.startswith(SCHEDULE_EVERY_PREFIX) else None
        found.append(
            RecordedSchedule(
                target=r["target"],
                name=(r["inputs"].get("metadata") or {}).get("name", ""),
                namespaces=tuple(template.get("includedNamespaces") or ("*",)),
                every_hours=every,
                ttl_hours=_hours(str(template["ttl"])) if template.get("ttl") else None,
                location=template.get("storageLocation"),
                volumes="file-system" if template.get("defaultVolumesToFsBackup") else "csi-snapshot",
            )
        )
    return found


def stateful_namespaces(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(target, namespace) → why it holds state, for every namespace the plan creates that does:
    one whose Namespace is `protect`ed (the project's mark of a namespace holding data: volumes of
    charts, like Prometheus' and Loki's, or of tenants), or that holds a PersistentVolumeClaim or a
    StatefulSet the plan creates. Generic on purpose: a new component holding data is covered as
    soon as it protects its namespace or creates its claims."""
    found: dict[tuple[str, str], str] = {}
    for r in records:
        if not r["type"].startswith("kubernetes:") or r.get("target") is None:
            continue
        inputs = r["inputs"]
        meta = inputs.get("metadata") or {}
        kind = inputs.get("kind")
        if kind == "Namespace" and r.get("protect") and meta.get("name"):
            found.setdefault((r["target"], meta["name"]), "protected namespace (holds data)")
        elif kind in STATEFUL_KINDS and meta.get("namespace"):
            found[(r["target"], meta["namespace"])] = f"{kind} {meta.get('name')}"
    return found


def covering_schedules(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[RecordedSchedule]]:
    """Each stateful (target, namespace) → the Schedules on its target that include it."""
    records = list(records)
    planned = schedules(records)
    return {
        key: [s for s in planned if s.target == key[0] and (key[1] in s.namespaces or "*" in s.namespaces)]
        for key in stateful_namespaces(records)
    }
