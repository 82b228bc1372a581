"""Stack config sections shared across blueprints: on-prem cluster, GPU pools, GPU Operator, teams."""
from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import PLACEHOLDER, Cidr, DataClassification, DnsLabel, Model, PriorityTier, GpuModelName, IdpGroup, Problem, Quantity, gpus_per_node_fit


class GpuPool(Model):
    """A set of identical GPU nodes in a cluster."""

    name: DnsLabel = Field(examples=["a100"], description="Pool name; nodes get the label `hybrid-ai.io/gpu-pool=<name>`.")
    gpu_model: GpuModelName = Field(examples=["A100-80GB"], description="GPU model, one of `hybridai/data/gpus.yaml` (for example `A100-80GB`).")
    nodes: list[DnsLabel] = Field(
        min_length=1,
        examples=[["gpu-node-01"]], json_schema_extra=PLACEHOLDER,
        description="Kubernetes node names in this pool. hybrid-ai labels them (pool, MIG layout) and "
        "counts their GPUs for quota validation.",
    )
    gpus_per_node: int = Field(ge=1, examples=[8], description="GPUs in each node: at most what one server holds of the model (hybridai/data/gpus.yaml `max_per_node`).")
    interconnect: Literal["nvswitch", "nvlink-bridge", "pcie"] | None = Field(
        default=None,
        examples=["nvswitch"],
        description="How the GPUs of one node talk to each other: `nvswitch` (HGX/DGX baseboards: every GPU over NVLink "
        "through NVSwitches), `nvlink-bridge` (pairs of PCIe cards bridged), `pcie`. The burn-in runs an NCCL all-reduce "
        "against the floor hybridai/data/gpu-health.yaml gives the GPU model over it; omitted, or no floor there: the NCCL "
        "test is skipped, and the burn-in's `pools.json` (in the plan's manifests) and the Job's log say why.",
    )
    mig: Literal["planned"] | dict[str, int] | None = Field(
        default=None,
        description="MIG partitioning of the pool's GPUs. `planned`: the capacity planner lays out each GPU "
        "for the stack's model catalog (per node, per GPU) and leaves the GPUs the catalog doesn't need whole, "
        "for training. A layout such as `{3g.40gb: 2}`: that layout on every GPU (for pools no catalog model uses). "
        "Omit to expose whole GPUs. MIG gives tenants hardware-isolated memory and compute, unlike time-slicing.",
    )

    @field_validator("mig", mode="before")
    @classmethod
    def _mig_shape(cls, value: object) -> object:
        # One clear error instead of one per member of the union.
        layout = isinstance(value, dict) and all(isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) for k, n in value.items())
        if value is not None and value != "planned" and not layout:
            raise PydanticCustomError("mig_setting", "`mig` is `planned` or a layout of profile → instances per GPU, such as {3g.40gb: 2}")
        return value

    @field_validator("gpus_per_node")
    @classmethod
    def _fits_a_server(cls, value: int, info: ValidationInfo) -> int:
        return gpus_per_node_fit(value, info.data.get("gpu_model"))

    @field_validator("nodes")
    @classmethod
    def _unique_nodes(cls, value: list[str]) -> list[str]:
        dupes = sorted(n for n, c in Counter(value).items() if c > 1)
        if dupes:
            raise PydanticCustomError("duplicate", "node listed twice: {dupes}", {"dupes": ", ".join(dupes)})
        return value

    @model_validator(mode="after")
    def _mig_layout_fits(self) -> GpuPool:
        if not self.mig:
            return self
        model = catalog.gpus().models.get(self.gpu_model)
        if model is None:  # already reported at gpuModel (GpuModelName)
            return self
        geometry = model.mig
        if geometry is None:
            raise PydanticCustomError(
                "mig_unsupported",
                "{gpu} does not support MIG; remove `mig` from this pool or use a MIG-capable GPU",
                {"gpu": self.gpu_model},
            )
        if self.mig == "planned":
            return self
        unknown = sorted(set(self.mig) - set(geometry.profiles))
        if unknown:
            raise PydanticCustomError(
                "mig_profile_unknown",
                "{gpu} has no MIG profile {unknown}; its profiles are {known}",
                {"gpu": self.gpu_model, "unknown": ", ".join(unknown), "known": ", ".join(geometry.profiles)},
            )
        for profile, count in self.mig.items():
            limit = geometry.profiles[profile].max
            if not 1 <= count <= limit:
                raise PydanticCustomError(
                    "mig_layout_too_large",
                    "{count} × {profile} per GPU; {gpu} fits 1 to {limit}",
                    {"count": count, "profile": profile, "gpu": self.gpu_model, "limit": limit},
                )
        compute = sum(geometry.profiles[p].compute * n for p, n in self.mig.items())
        memory = sum(geometry.profiles[p].memory_slices * n for p, n in self.mig.items())
        if compute > geometry.compute_slices or memory > geometry.memory_slices or not catalog.placeable(self.mig, self.gpu_model):
            raise PydanticCustomError(
                "mig_layout_too_large",
                "layout needs {compute}/{cmax} compute and {memory}/{mmax} memory slices of one {gpu}; "
                "remove instances until both fit",
                {
                    "compute": compute,
                    "cmax": geometry.compute_slices,
                    "memory": memory,
                    "mmax": geometry.memory_slices,
                    "gpu": self.gpu_model,
                },
            )
        return self

    @property
    def gpu_count(self) -> int:
        return len(self.nodes) * self.gpus_per_node

    @property
    def planned(self) -> bool:
        """The planner lays out this pool's GPUs from the catalog."""
        return self.mig == "planned"

    def fixed_layout(self) -> tuple[tuple[str, int], ...] | None:
        """The layout every GPU has (`gpu` for whole GPUs), or None for a planned pool."""
        if self.planned:
            return None
        return tuple(sorted(self.mig.items())) if self.mig else (("gpu", 1),)


class OnpremCluster(Model):
    """The on-prem Kubernetes cluster and the GPU nodes in it."""

    name: DnsLabel = Field(
        default="onprem",
        description="Target name of the cluster: artifacts go to `manifests/<name>/` and `helm/<name>/`. It is identity: "
        "every resource of the cluster is named from it, so changing it renames them all (set `renamedFrom`).",
    )
    renamed_from: DnsLabel | None = Field(
        default=None,
        description="The cluster's previous `name`, while a rename is deployed: the cluster's resources keep their identity "
        "(Pulumi aliases) instead of being created anew beside the old ones. Remove it once every stack has run `pulumi up`.",
    )
    context: str = Field(
        min_length=1,
        examples=["my-cluster-admin"], json_schema_extra=PLACEHOLDER,
        description="kubeconfig context used to reach the cluster. hybrid-ai never falls back to the "
        "current context, so a stack can't deploy to the wrong cluster by accident.",
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Path of the kubeconfig file holding `context`; default: `$KUBECONFIG` or `~/.kube/config`.",
    )
    distribution: Literal["kubeadm", "rke2", "k3s"] = Field(
        default="kubeadm",
        description="Kubernetes distribution; k3s and RKE2 keep containerd's config and socket in "
        "their own paths, which the GPU Operator's container toolkit must be pointed at.",
    )
    driver: Literal["operator", "preinstalled"] = Field(
        default="operator",
        description="`operator`: the GPU Operator installs and upgrades the NVIDIA driver; "
        "`preinstalled`: the nodes' image already has it (the operator leaves it alone).",
    )
    gpu_pools: list[GpuPool] = Field(min_length=1, description="GPU node pools of the cluster.")

    @field_validator("gpu_pools")
    @classmethod
    def _unique_pools(cls, pools: list[GpuPool]) -> list[GpuPool]:
        names = Counter(p.name for p in pools)
        nodes = Counter(n for p in pools for n in p.nodes)
        dupes = sorted(n for n, c in names.items() if c > 1)
        if dupes:
            raise PydanticCustomError("duplicate", "pool name used twice: {dupes}", {"dupes": ", ".join(dupes)})
        shared = sorted(n for n, c in nodes.items() if c > 1)
        if shared:
            raise PydanticCustomError(
                "duplicate", "node in more than one pool: {dupes}", {"dupes": ", ".join(shared)}
            )
        return pools


class SiteNetwork(Model):
    """The address ranges of one on-prem cluster, so the sites of a stack can route to each other."""

    pod_cidr: Cidr = Field(examples=["10.244.0.0/16"], json_schema_extra=PLACEHOLDER, description="The cluster's pod network (its CNI's cluster CIDR).")
    service_cidr: Cidr = Field(examples=["10.245.0.0/16"], json_schema_extra=PLACEHOLDER, description="The cluster's service network (the API server's `--service-cluster-ip-range`).")


SiteRole = Literal["primary", "dr", "active"]


class OnpremSite(OnpremCluster):
    """One data center's cluster, when `onprem` lists several (docs/multi-site.md)."""

    role: SiteRole = Field(
        default="active",
        description="`active`: serves its share of every model placed on it, all the time (active-active); `primary`: the site that "
        "serves while a `dr` site stands by (at most one); `dr`: a disaster-recovery site holding a standby of the models marked `critical`, "
        "for when the primary is lost (needs a `primary`).",
    )
    standby: Literal["warm", "cold"] = Field(
        default="warm",
        description="A `dr` site's standby: `warm` runs the critical models at the size that carries their whole peak, so failover is a DNS change; "
        "`cold` reserves that capacity (quota, GPUs) but runs nothing until the primary's backup is restored there (the restore runbook). Only for `dr`.",
    )
    jurisdiction: str | None = Field(
        default=None,
        examples=["eu"],
        description="Where the data center is (keys of hybridai/data/aws.yaml `jurisdictions`); default: the stack's `jurisdiction`. A site in "
        "another jurisdiction can't hold a model or team of a stack bound by residency.",
    )
    network: SiteNetwork | None = Field(
        default=None,
        description="The cluster's pod and service networks; the sites' networks must not overlap, so cross-site traffic (failover, the "
        "dead man's switch, backups) routes. Default: unset, not checked.",
    )

    @field_validator("jurisdiction")
    @classmethod
    def _known_jurisdiction(cls, value: str | None) -> str | None:
        known = catalog.aws().jurisdictions
        if value is not None and value not in known:
            raise PydanticCustomError("jurisdiction_unknown", "unknown jurisdiction; use one of {known}", {"known": ", ".join(known)})
        return value


class TimeSlicing(Model):
    """Oversubscription of whole GPUs by time-slicing (no memory or fault isolation between pods)."""

    replicas: int = Field(ge=2, le=16, examples=[4], description="How many pods may share one GPU.")


class GpuOperatorSettings(Model):
    """NVIDIA GPU Operator settings (chart pinned in hybridai/data/versions.yaml)."""

    namespace: DnsLabel = Field(
        default="gpu-operator",
        description="Namespace of the operator: the only namespace allowed to run privileged pods, "
        "since drivers, toolkit and device plugin need the host.",
    )
    cdi: bool = Field(default=True, description="Use the Container Device Interface to inject GPUs into containers.")
    nfd: bool = Field(
        default=True,
        description="Deploy node-feature-discovery (labels GPU nodes); turn off only if the cluster already runs it.",
    )
    dcgm_exporter: bool = Field(default=True, description="Export GPU metrics (utilization, memory, XID, ECC, power) with DCGM.")
    mig_strategy: Literal["none", "single", "mixed"] | None = Field(
        default=None,
        description="How MIG slices are advertised. Default: derived from the pools — `none` without "
        "MIG, `single` when every MIG pool uses one profile (slices appear as `nvidia.com/gpu`), "
        "`mixed` otherwise (`nvidia.com/mig-<profile>`).",
    )
    time_slicing: TimeSlicing | None = Field(
        default=None,
        description="Share whole GPUs by time-slicing. Off by default: it gives no memory or fault "
        "isolation between tenants; prefer MIG.",
    )


class TeamQuota(Model):
    """A team's share of the cluster, enforced by a ResourceQuota in its namespace."""

    gpus: int = Field(
        default=0,
        ge=0,
        description="Whole GPUs (or, with MIG strategy `single`, MIG slices) the team may request "
        "(`requests.nvidia.com/gpu`) beyond what its catalog models and training jobs need — the planner "
        "adds those itself, so the stack file never repeats them. For notebooks and ad-hoc work.",
    )
    mig: dict[str, int] = Field(
        default_factory=dict,
        description="MIG slices by profile (MIG strategy `mixed`) beyond what the team's catalog models need, "
        "for example `{1g.10gb: 4}`.",
    )
    cpu: Quantity = Field(default="32", description="Total CPU requests (and limits) of the namespace.")
    memory: Quantity = Field(default="128Gi", description="Total memory requests (and limits) of the namespace.")
    storage: Quantity = Field(default="1Ti", description="Total persistent volume storage the namespace may claim.")
    pods: int = Field(default=200, ge=1, description="Maximum pods in the namespace.")

    @field_validator("mig")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(p for p, n in value.items() if n < 1)
        if bad:
            raise PydanticCustomError("greater_than_equal", "MIG slice counts must be at least 1: {bad}", {"bad": ", ".join(bad)})
        return value


class Team(Model):
    """A tenant: its namespace, who may use it, its scheduling tier and its quota."""

    name: DnsLabel = Field(examples=["research"], json_schema_extra=PLACEHOLDER, description="Team name.")
    namespace: DnsLabel | None = Field(default=None, description="Namespace of the team; default: the team name.")
    group: IdpGroup = Field(
        examples=["oidc:ml-research"], json_schema_extra=PLACEHOLDER,
        description="Identity-provider group bound to the team's Role (edit workloads in the namespace; no secrets read, no RBAC).",
    )
    tier: PriorityTier = Field(
        default="research",
        description="Default scheduling tier: `production-inference` > `training` > `research`.",
    )
    data_classification: DataClassification = Field(
        default="internal", description="Most sensitive data the team's workloads handle."
    )
    quota: TeamQuota = Field(default_factory=TeamQuota, description="Resource quota of the namespace.")
    llm_tokens_per_minute: int | None = Field(
        default=None,
        examples=[200000],
        description="Tokens (prompt and completion) the team's LLMs may process per minute through the inference gateway, all its "
        "callers together; beyond it the gateway answers 429. Required for a team with an LLM served behind the gateway. "
        "Limits: Envoy Gateway's rate limit (hybridai/data/limits.yaml `envoy_gateway`).",
    )

    clusters: list[DnsLabel] | None = Field(
        default=None,
        examples=[["dc1", "dc2"]],
        description="Where `onprem` lists several clusters: the names of those the team's namespace is on. Default: every `primary` and "
        "`active` cluster, and the `dr` clusters where its critical models stand by.",
    )

    @field_validator("llm_tokens_per_minute")
    @classmethod
    def _within_rate_limit(cls, value: int | None) -> int | None:
        low, high = catalog.limits().envoy_gateway.rate_limit_requests
        if value is not None and not low <= value <= high:
            raise PydanticCustomError("tokens_per_minute_range", "a token budget is {low} to {high} per minute (Envoy Gateway's rate limit)", {"low": low, "high": high})
        return value

    @model_validator(mode="after")
    def _derive_namespace(self) -> Team:
        if self.namespace is None:
            object.__setattr__(self, "namespace", self.name)
        return self


def is_system_namespace(namespace: str) -> bool:
    """Kubernetes' own namespaces (`default`, `kube-system`, `kube-public`, `kube-node-lease`, and
    any `kube-*` a distribution adds): neither a team nor the platform may take one."""
    return namespace == "default" or namespace.startswith("kube-")


def check_teams(teams: list[Team], *, reserved: set[str], key: tuple[str, ...] = ("teams",)) -> list[Problem]:
    """Team names and namespaces are unique and avoid system and platform namespaces."""
    problems: list[Problem] = []
    names = Counter(t.name for t in teams)
    namespaces = Counter(t.namespace for t in teams)
    for i, team in enumerate(teams):
        if names[team.name] > 1:
            problems.append(Problem((*key, i, "name"), "duplicate", "team name used twice; names must be unique", team.name))
        if team.namespace in reserved or is_system_namespace(team.namespace):
            problems.append(
                Problem(
                    (*key, i, "namespace"),
                    "namespace_reserved",
                    f"namespace is reserved for Kubernetes or the platform; pick another (reserved: default, kube-*, {', '.join(sorted(reserved))})",
                    team.namespace,
                )
            )
        elif namespaces[team.namespace] > 1:
            problems.append(Problem((*key, i, "namespace"), "duplicate", "two teams share this namespace", team.namespace))
    return problems
