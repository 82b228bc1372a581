"""Versions, GPU specs and MIG profiles, LLM architectures: data files read in one place.

Blueprints, modules, config validation and the test harness all read pins and GPU facts from here,
so a chart upgrade or a new GPU model is a change to ``hybridai/data/*.yaml`` and nothing else.
"""
from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

UPSTREAM_ENV = "HYBRIDAI_UPSTREAM"
"""Environment variable overriding where the pinned charts' reference data (values, CRDs) lives."""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChartPin(_Data):
    chart: str
    repository: str
    version: str
    upstream: str
    """Folder under the upstream reference data holding this chart's default values and CRDs."""
    registries: tuple[str, ...] = ()
    """Registries the chart's images come from (its defaults, its subcharts' and any image
    hybrid-ai sets in its values): what an edge site running it mirrors (hybridai/registry_mirror.py)."""


class KubernetesPins(_Data):
    pod_security_version: str
    validated_versions: tuple[str, ...]


class Versions(_Data):
    charts: dict[str, ChartPin]
    kubernetes: KubernetesPins
    images: dict[str, str]


class RequestMetrics(_Data):
    """The request counters a serving runtime exports (serving-runtimes.yaml `metrics`)."""

    requests: str
    """Counter of requests served: its rate is the load."""
    busy: str
    """Counter of the time spent on them: its rate is the number of requests in flight."""
    busy_unit_seconds: float
    """Seconds per count of `busy` (1e-6 for a microsecond counter)."""


class ServingRuntime(_Data):
    """The runtime KServe auto-selects for a model format, and its metrics family."""

    runtime: str
    """The ClusterServingRuntime's name."""
    metrics: str
    """Key of its `RequestMetrics` in serving-runtimes.yaml."""


class ServingRuntimes(_Data):
    metrics: dict[str, RequestMetrics]
    formats: dict[str, ServingRuntime]


@cache
def serving_runtimes() -> ServingRuntimes:
    return ServingRuntimes.model_validate(_load("serving-runtimes.yaml"))


def request_metrics(model_format: str) -> RequestMetrics:
    """The request metrics of the runtime KServe serves `model_format` with."""
    data = serving_runtimes()
    return data.metrics[data.formats[model_format].metrics]


class MigProfile(_Data):
    compute: int
    memory_slices: int
    memory_gb: int
    max: int
    placements: tuple[int, ...]
    """Memory slices an instance may start at (NVIDIA's placement table)."""


class MigGeometry(_Data):
    compute_slices: int
    memory_slices: int
    profiles: dict[str, MigProfile]


class GpuModel(_Data):
    memory_gb: int
    tdp_watts: int
    max_per_node: int
    """The most GPUs of the model one server holds (gpus.yaml says whose servers)."""
    mig: MigGeometry | None = None


class GpuCatalog(_Data):
    models: dict[str, GpuModel]


def _load(name: str) -> dict:
    return yaml.safe_load(resources.files("hybridai.data").joinpath(name).read_text())


def kserve_inferenceservice_config() -> dict[str, dict]:
    """KServe's `inferenceservice-config` as its pinned chart renders it with default values, by data
    key (kserve-inferenceservice-config.yaml): a fresh copy the caller may change."""
    return _load("kserve-inferenceservice-config.yaml")


@cache
def versions() -> Versions:
    return Versions.model_validate(_load("versions.yaml"))


@cache
def gpus() -> GpuCatalog:
    return GpuCatalog.model_validate(_load("gpus.yaml"))


XidAction = Literal["none", "reset", "reboot", "replace"]


class XidEntry(_Data):
    """One XID as NVIDIA's Xid Catalog lists it (gpu-health.yaml cites the document)."""

    mnemonic: str
    immediate: str
    """The catalog's "Resolution Bucket (Immediate Action)"."""
    investigatory: str
    """The catalog's "Resolution Bucket (Investigatory Action)"."""


class XidClass(_Data):
    """XIDs that mean one kind of fault and get one alert, one severity and one action."""

    meaning: str
    severity: Literal["warning", "critical"]
    action: XidAction
    """What the node needs: none, a GPU reset, a reboot, or replacing (gpu-health.yaml says which bucket maps to which)."""
    xids: dict[int, XidEntry]


class NcclFloor(_Data):
    """The NCCL all-reduce bus bandwidth a node of `gpus` GPUs of one model must reach at burn-in."""

    gpus: int
    bus_bandwidth_gbps: float


class GpuHealth(_Data):
    xid_classes: dict[str, XidClass]
    nccl_floors: dict[str, dict[Literal["nvswitch", "nvlink-bridge", "pcie"], NcclFloor]]
    """GPU model → interconnect → floor; a model or interconnect missing has no sourced floor."""

    @model_validator(mode="after")
    def _known(self) -> GpuHealth:
        seen: dict[int, str] = {}
        for name, cls in self.xid_classes.items():
            for xid in cls.xids:
                if xid in seen:
                    raise ValueError(f"XID {xid} is in two classes: {seen[xid]} and {name}")
                seen[xid] = name
        unknown = sorted(set(self.nccl_floors) - set(gpus().models))
        if unknown:
            raise ValueError(f"NCCL floors for GPU models gpus.yaml doesn't have: {', '.join(unknown)}")
        return self

    def xid_class(self, xid: int) -> str | None:
        """The class of `xid`, None for an XID the data doesn't classify."""
        return next((name for name, cls in self.xid_classes.items() if xid in cls.xids), None)

    def nccl_floor(self, gpu_model: str, interconnect: str) -> NcclFloor | None:
        """The floor of `gpu_model` over `interconnect`, None where no number could be sourced."""
        return self.nccl_floors.get(gpu_model, {}).get(interconnect)  # type: ignore[call-overload]


@cache
def gpu_health() -> GpuHealth:
    """XID classes and NCCL burn-in floors (gpu-health.yaml)."""
    return GpuHealth.model_validate(_load("gpu-health.yaml"))


def placeable(layout: dict[str, int], gpu_model: str) -> bool:
    """Whether one GPU of `gpu_model` can hold `layout` (profile → instances): compute within the
    GPU's slices, and each instance on one of its profile's placements with no two overlapping."""
    return _placeable(tuple(sorted((p, n) for p, n in layout.items() if n)), gpu_model)


@cache
def _placeable(layout: tuple[tuple[str, int], ...], gpu_model: str) -> bool:
    geometry = gpus().models[gpu_model].mig
    if sum(geometry.profiles[p].compute * n for p, n in layout) > geometry.compute_slices:
        return False
    # Largest instances first: they have the fewest placements, so dead ends show early.
    items = sorted((p for p, n in layout for _ in range(n)), key=lambda p: (-geometry.profiles[p].memory_slices, p))

    def place(i: int, used: int) -> bool:
        if i == len(items):
            return True
        profile = geometry.profiles[items[i]]
        mask = (1 << profile.memory_slices) - 1
        # Instances of one profile are interchangeable: try starts in order after the previous one's.
        first = starts[i - 1] + 1 if i and items[i - 1] == items[i] else 0
        for start in profile.placements:
            if start >= first and not used & (mask << start):
                starts[i] = start
                if place(i + 1, used | (mask << start)):
                    return True
        return False

    starts = [0] * len(items)
    return place(0, 0)


class LlmArchitecture(_Data):
    """An open model's shape as its config.json gives it (llms.yaml `architectures`)."""

    source: str
    """The config.json the values were read from."""
    parameters: int
    """Parameters of the checkpoint: what its weights hold."""
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context_length: int
    """The longest context the model was built for (`max_position_embeddings`)."""
    hidden_size: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool = False
    """The output projection shares the input embeddings' weights."""
    experts: int = 1
    """MLP experts per layer (a mixture of experts keeps every one in memory)."""


class VllmMemory(_Data):
    """How vLLM budgets a GPU's memory (llms.yaml `vllm`)."""

    gpu_memory_utilization: float
    """Share of a GPU's memory vLLM uses for weights, activations and the KV cache."""
    activation_gb: float
    """Allowance per GPU for what vLLM's profiling run measures besides the weights."""


class VllmHistograms(_Data):
    """The bucket boundaries, in seconds, of vLLM's latency histograms (llms.yaml `vllm_histograms`)."""

    time_to_first_token_seconds: tuple[float, ...]
    inter_token_latency_seconds: tuple[float, ...]

    def at_or_below(self, histogram: str, seconds: float) -> float | None:
        """The largest boundary of `histogram` at or below `seconds`; None below its first."""
        return max((b for b in getattr(self, histogram) if b <= seconds + 1e-12), default=None)


class LlmCatalog(_Data):
    dtypes: dict[str, float]
    """Bytes per parameter of the weights, by dtype."""
    kv_cache_dtypes: dict[str, float]
    """Bytes per KV cache element, by KV cache dtype."""
    vllm: VllmMemory
    vllm_histograms: VllmHistograms
    architectures: dict[str, LlmArchitecture]


@cache
def llms() -> LlmCatalog:
    """The LLM architectures hybrid-ai knows, bytes per dtype and vLLM's memory budget (llms.yaml)."""
    return LlmCatalog.model_validate(_load("llms.yaml"))


class GpuInstance(_Data):
    gpu: str
    gpus: int
    interconnect: Literal["nvswitch", "nvlink-bridge", "pcie"] | None = None
    """How its GPUs connect (aws.yaml): what its burn-in's NCCL floor is looked up by; None: not stated, no NCCL test."""


class EksDefaults(_Data):
    version: str
    log_types: tuple[str, ...]
    log_retention_days: tuple[int, ...]
    """Retention periods CloudWatch Logs accepts, ascending."""
    ami_alias: str


class AwsCatalog(_Data):
    gpu_instances: dict[str, GpuInstance]
    jurisdictions: dict[str, tuple[str, ...]]
    actions_without_resource_scope: tuple[str, ...]
    """IAM actions with no resource-level permissions: AWS accepts only `"Resource": "*"` for them."""
    eks: EksDefaults


@cache
def aws() -> AwsCatalog:
    return AwsCatalog.model_validate(_load("aws.yaml"))


class AwsLimits(_Data):
    vpc_prefix: tuple[int, int]
    """Shortest and longest IPv4 prefix of a VPC's block."""
    subnet_prefix: tuple[int, int]
    """Shortest and longest IPv4 prefix of a subnet's block."""
    iam_role_name: int
    s3_bucket_name: int


class IdentityLimits(_Data):
    group_max_length: int
    """Longest identity-provider group name a RoleBinding subject may carry."""


class KedaLimits(_Data):
    threshold_min: float
    """The smallest trigger threshold KEDA hands the HPA unrounded to zero."""
class EnvoyGatewayLimits(_Data):
    rate_limit_requests: tuple[int, int]
    """Fewest and most requests (or cost units, tokens) a global rate limit allows per unit."""


class Limits(_Data):
    aws: AwsLimits
    identity: IdentityLimits
    keda: KedaLimits
    envoy_gateway: EnvoyGatewayLimits


@cache
def limits() -> Limits:
    """What the systems a stack's values reach accept (limits.yaml)."""
    return Limits.model_validate(_load("limits.yaml"))


class FqdnPolicy(_Data):
    api_version: str
    kind: str


class Cni(_Data):
    """What a container network plugin enforces (cnis.yaml)."""

    network_policy: bool
    """It enforces Kubernetes NetworkPolicy, ipBlock egress included."""
    fqdn_policy: FqdnPolicy | None
    """The object hybrid-ai writes to allow a host name; None: none it writes for this CNI."""
    flow_log: str | None
    """Where the CNI can record each connection (not collected by hybrid-ai yet); None: nowhere."""


@cache
def cnis() -> dict[str, Cni]:
    """The container network plugins a stack may name, and what each enforces (cnis.yaml)."""
    return {name: Cni.model_validate(cni) for name, cni in _load("cnis.yaml").items()}


class Commitments(_Data):
    """Savings-plan (or reserved) rates of a price list: the share off on-demand by term (`1y`, `3y`),
    with their own source and date."""

    source: str
    date: str
    discount: dict[str, float]


class PriceList(_Data):
    source: str
    date: str
    spot_discount: float = 0.0
    commitments: Commitments | None = None
    items: dict[str, float]

    def with_overrides(self, overrides: dict[str, float]) -> PriceList:
        return self.model_copy(update={"items": {**self.items, **overrides}})


@cache
def prices(name: str) -> PriceList:
    """A price list of hybridai/data/prices: `aws-<region>` or `onprem`."""
    try:
        return PriceList.model_validate(_load(f"prices/{name}.yaml"))
    except FileNotFoundError:
        raise KeyError(name) from None


@cache
def replacement_fields() -> dict:
    """Inputs whose change replaces a resource, by type (and for every Kubernetes object)."""
    return _load("replacements.yaml")


@cache
def compliance_profiles() -> dict[str, dict]:
    """Compliance profiles a stack may select: each one's description and the policy rules it adds."""
    return _load("compliance.yaml")["profiles"]


class ControlFramework(_Data):
    """A body of controls (controls.yaml): HIPAA, SOX, residency, the platform baseline."""

    title: str
    profile: str | None
    """The compliance profile whose stacks get its controls; None: every stack."""
    crosswalk: str
    """Where its NIST SP 800-53 mappings come from."""


class ResourceSelector(_Data):
    """What in a plan implements a control: a Pulumi type, a Kubernetes kind (and name), a chart."""

    type: str | None = None
    kind: str | None = None
    name: str | None = None
    chart: str | None = None


class Control(_Data):
    """A control of a framework: what it requires, what checks it, what implements it (controls.yaml)."""

    framework: str
    title: str
    source: str
    statement: str
    nist: tuple[str, ...]
    rules: tuple[str, ...] = ()
    resources: tuple[ResourceSelector, ...] = ()
    parameters: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    manual: str | None = None
    """What the auditor must examine beyond the plan; a control without rules is only this."""


class Controls(_Data):
    frameworks: dict[str, ControlFramework]
    controls: dict[str, Control]


@cache
def controls() -> Controls:
    """The controls compliance evidence is organized by, and their frameworks (controls.yaml)."""
    return Controls.model_validate(_load("controls.yaml"))


class LogRetention(_Data):
    """Days the log store keeps application logs and the audit stream; whether the stack's profiles
    require the write-once audit archive."""

    log_days: int
    audit_days: int
    archive: bool = False
    decisions: bool = False
    """Every served model's decisions (request and response) are kept: logged to the decision sink."""


def log_retention(profiles: tuple[str, ...] | list[str] = ()) -> LogRetention:
    """The retention `profiles` require (compliance.yaml): the longest of theirs and the default."""
    data = _load("compliance.yaml")
    chosen = [data["logRetention"], *(data["profiles"][p] for p in profiles)]
    return LogRetention(
        log_days=max(c.get("logRetentionDays", 0) for c in chosen),
        audit_days=max(c.get("auditRetentionDays", 0) for c in chosen),
        archive=any(c.get("auditArchive", False) for c in chosen),
        decisions=any(c.get("decisionLogging", False) for c in chosen),
    )


class BackupPolicy(_Data):
    """What the stack's backups must meet: the recovery point objective and the least retention."""

    rpo_hours: int
    retention_days: int


def backup_policy(profiles: tuple[str, ...] | list[str] = ()) -> BackupPolicy:
    """The backup objectives `profiles` require (compliance.yaml): the shortest RPO and the longest
    retention of theirs and the default."""
    data = _load("compliance.yaml")
    chosen = [data["backup"], *(data["profiles"][p] for p in profiles)]
    return BackupPolicy(
        rpo_hours=min(c["backupRpoHours"] for c in chosen if "backupRpoHours" in c),
        retention_days=max(c.get("backupRetentionDays", 0) for c in chosen),
    )


def price_lists() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("hybridai.data").joinpath("prices").iterdir() if p.name.endswith(".yaml"))


@cache
def toolkit_env(distribution: str) -> dict[str, str]:
    """Container-toolkit environment for a Kubernetes distribution's containerd layout."""
    return dict(_load("distributions.yaml")[distribution])


class AuditRetention(_Data):
    """Rotation of the audit log on a control-plane node: a buffer until shipped, not the archive."""

    max_age_days: int
    max_backup: int
    max_size_mb: int


class DistributionAudit(_Data):
    """How a distribution's API server takes an audit policy, and where its audit log lands."""

    method: Literal["static-pod", "config-file"]
    config_file: str
    """The kube-apiserver static pod manifest (static-pod) or the distribution's config.yaml."""
    policy_path: str
    log_path: str
    """The audit log on each control-plane node (what a log shipper there reads)."""
    restart: str
    policy_option: str | None = None
    """A config.yaml option of its own for the policy file (RKE2), instead of a kube-apiserver-arg."""
    retention: AuditRetention

    @property
    def audit_log_path(self) -> str:
        return self.log_path


@cache
def distribution_audit(name: str) -> DistributionAudit:
    """Audit logging of a Kubernetes distribution (kubeadm, rke2, k3s, jetson): paths, config and
    on-node retention, from the `audit` block of distributions.yaml."""
    audit = _load("distributions.yaml")["audit"]
    return DistributionAudit.model_validate({**audit["distributions"][name], "retention": audit["on_node"]})


class DistributionRegistries(_Data):
    """Where a distribution's containerd reads registry mirror settings (edge sites)."""

    format: Literal["registries.yaml", "hosts.toml"]
    """k3s/RKE2's registries.yaml, or containerd's own certs.d/<registry>/hosts.toml files."""
    path: str
    """The registries.yaml file, or the certs.d folder, on every node."""
    restart: str


@cache
def distribution_registries(name: str) -> DistributionRegistries:
    """Registry mirror settings of an edge site's distribution (k3s, rke2, jetson), from the
    `registries` block of distributions.yaml."""
    return DistributionRegistries.model_validate(_load("distributions.yaml")["registries"][name])


def chart(name: str) -> ChartPin:
    return versions().charts[name]


DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
"""An image digest as registries report it (`crane digest`, `skopeo inspect`)."""


def image(name: str, mirror: str | None = None, digest: str | None = None) -> str:
    """A pinned image, pulled through `mirror` when the site has one (`<mirror>/<registry>/<repo>`);
    with `digest` (`sha256:…`), pinned to it: `<repo>:<tag>@sha256:…` (the tag stays for readers;
    the runtime pulls by the digest alone)."""
    ref = versions().images[name]
    ref = f"{mirror}/{ref}" if mirror else ref
    return f"{ref}@{digest}" if digest else ref


def upstream_dir() -> Path:
    """Where the pinned charts' reference data lives: $HYBRIDAI_UPSTREAM, else ../shared/upstream
    beside the repository checkout."""
    override = os.environ.get(UPSTREAM_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "upstream"
