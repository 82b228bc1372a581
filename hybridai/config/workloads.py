"""The workload catalog of a cluster — models served with KServe, weekly training jobs — and the
capacity plan derived from it: replicas and slices per model, the MIG layout of every GPU, each
team's GPU quota, and the training that overflows to the cloud burst pool.

The plan is the one source of these numbers: the GPU Operator's mig-manager config, the teams'
ResourceQuotas and Kueue queues, the InferenceServices and the burst pool's size all read it, so a
stack file states its workloads once and never repeats them as layouts or quotas.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from hybridai import catalog
from hybridai.capacity.planner import RESERVED, WHOLE, CapacityError, GpuPlan, InferenceDemand, PoolInventory, TrainingDemand, plan_inference, resource_name
from hybridai.config.base import DnsLabel, Model, Problem
from hybridai.config.components import GpuOperatorSettings, GpuPool, OnpremCluster, Team

DISABLED = "all-disabled"
"""The mig-manager config of nodes whose GPUs all stay whole."""


class Canary(Model):
    """A new version of a model taking a share of its traffic before it replaces the stable one."""

    storage_uri: str = Field(examples=["s3://models/chest-xray/v4"], pattern=r"^(s3|gs|pvc|https|oci|hf)://", description="Where KServe fetches the canary version from.")
    traffic_percent: int = Field(ge=1, le=99, examples=[10], description="Share of requests the canary receives (KServe splits traffic with Gateway API route weights).")


class ServedModel(Model):
    """A model served with KServe (RawDeployment) from the stack's catalog."""

    name: DnsLabel = Field(examples=["chest-xray"], description="InferenceService name.")
    team: DnsLabel = Field(examples=["radiology"], description="Team that owns it; it runs in that team's namespace, under its quota.")
    model_format: Literal["triton", "onnx", "pytorch", "tensorflow", "huggingface", "sklearn", "xgboost"] = Field(
        default="triton", description="KServe model format (selects the serving runtime)."
    )
    storage_uri: str = Field(examples=["s3://models/chest-xray/v3"], pattern=r"^(s3|gs|pvc|https|oci|hf)://", description="Where KServe fetches the model from.")
    gpu_memory_gb: float = Field(gt=0, examples=[18], description="GPU memory one replica needs.")
    peak_rps: float = Field(gt=0, examples=[120], description="Peak requests per second.")
    throughput_rps: float = Field(gt=0, examples=[40], description="Requests per second one replica sustains within the latency objective (measured, at p99).")
    latency_objective_ms: int | None = Field(
        default=None,
        ge=1,
        le=60000,
        examples=[50],
        description="p99 latency objective of the model; its own alert fires when it is exceeded for 10 minutes. Default: `monitoring.latencyObjectiveMs`.",
    )
    isolation: Literal["mig", "whole-gpu"] = Field(default="mig", description="`mig`: a hardware-isolated slice is enough; `whole-gpu`: a GPU of its own.")
    production: bool = Field(default=True, description="Production models keep at least two replicas, spread over nodes, with a disruption budget.")
    canary: Canary | None = Field(
        default=None,
        description="A canary version beside the stable one. The planner reserves slices for its replicas (its traffic share of the peak "
        "replicas, at least one), so the rollout never waits for quota. Needs `serving.gateway`.",
    )

    def demand(self) -> InferenceDemand:
        return InferenceDemand(
            self.name, self.team, self.gpu_memory_gb, self.peak_rps, self.throughput_rps, self.isolation, self.production,
            canary_percent=self.canary.traffic_percent if self.canary else 0,
        )


class TrainingJob(Model):
    """A recurring training run: how much GPU time it takes each week and how soon it must finish."""

    name: DnsLabel = Field(examples=["fraud-retrain"], description="Job name (for reports and errors).")
    team: DnsLabel = Field(
        examples=["fraud"],
        description="Team that runs it. A team of the on-prem cluster trains on the whole GPUs left there after "
        "inference; in hybrid stacks, a job that doesn't fit on-prem overflows to the cloud team of the same name, "
        "and sizes the burst pool.",
    )
    gpu_hours_per_week: float = Field(gt=0, examples=[1536], description="GPU-hours the run takes each week.")
    deadline_hours: float = Field(gt=0, le=168, examples=[48], description="Hours within which the run must finish once started.")
    gpu_memory_gb: float | None = Field(
        default=None,
        gt=0,
        examples=[80],
        description="Memory each of its GPUs must have (what the run is sharded for); it runs only on pools and cloud node groups "
        "whose GPUs have as much. Default: any GPU. Jobs select their GPUs with the node label `hybrid-ai.io/gpu-model`.",
    )

    def fits(self, gpu_model: str) -> bool:
        return self.gpu_memory_gb is None or catalog.gpus().models[gpu_model].memory_gb >= self.gpu_memory_gb

    @property
    def gpus(self) -> int:
        """GPUs the run needs at once to finish by its deadline."""
        return TrainingDemand(self.team, self.gpu_hours_per_week, self.deadline_hours).gpus


@dataclass(frozen=True)
class GpuNode:
    name: str
    pool: str
    gpu_model: str
    gpus: int
    mig_config: str
    """Entry of the mig-manager config this node applies (`all-disabled` for whole GPUs)."""


@dataclass(frozen=True)
class OverflowJob:
    """A training job the cluster can't take, for the cloud burst pool."""

    index: int
    """Its position in `training` (for errors at its key)."""
    job: TrainingJob


@dataclass
class ClusterPlan:
    """What the catalog and the explicit quotas make of one cluster."""

    strategy: str = "none"
    """MIG strategy of the device plugin: as set, or derived — `none`, `single` (slices as nvidia.com/gpu) or `mixed`."""
    nodes: list[GpuNode] = field(default_factory=list)
    mig_configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """mig-parted entries by config name (every config but `all-disabled`)."""
    capacity: Counter = field(default_factory=Counter)
    """Schedulable GPU resources: `gpu` for whole GPUs, the profile name for MIG slices."""
    placements: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """model → (pool, profile or `gpu`, replicas at peak)."""
    team_quota: dict[str, Counter] = field(default_factory=dict)
    """team → resource key → count: its catalog's needs plus its explicit quota."""
    training: dict[str, Counter] = field(default_factory=dict)
    """team → pool → whole GPUs its training jobs take on this cluster."""
    overflow_jobs: list[OverflowJob] = field(default_factory=list)
    """Training jobs that don't fit here and go to the cloud burst pool, in catalog order."""
    pool_gpus: dict[str, tuple[int, int]] = field(default_factory=dict)
    """pool → (GPUs partitioned with MIG, whole GPUs)."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def overflow(self) -> dict[str, int]:
        """team → GPUs its overflowing jobs need at once."""
        return dict(sum((Counter({o.job.team: o.job.gpus}) for o in self.overflow_jobs), Counter()))

    @property
    def overflow_hours(self) -> dict[str, float]:
        """team → weekly GPU-hours of its overflowing jobs."""
        hours: dict[str, float] = {}
        for o in self.overflow_jobs:
            hours[o.job.team] = hours.get(o.job.team, 0.0) + o.job.gpu_hours_per_week
        return hours

    def key(self, profile: str) -> str:
        """The quota key a slice draws on: with strategy `single`, slices are advertised as GPUs."""
        return "gpu" if profile == WHOLE or self.strategy == "single" else profile

    @staticmethod
    def resource(key: str) -> str:
        return resource_name(key)

    def gpu_quota(self, team: str) -> dict[str, int]:
        """Every GPU resource the cluster advertises gets a quota line — zero when the team has none —
        because a ResourceQuota leaves unlisted resources unlimited."""
        keys = ["gpu", *sorted(k for k in self.capacity if k != "gpu")]
        quota = self.team_quota.get(team, Counter())
        return {self.resource(k): quota.get(k, 0) for k in keys}


def _is_mig(layout: Counter) -> bool:
    return bool(layout) and WHOLE not in layout


def _node_entries(layouts: list[Counter]) -> list[dict[str, Any]] | None:
    """mig-parted entries for one node's GPUs (None when every GPU stays whole): GPUs with the same
    layout share an entry, `devices: all` when they all do."""
    groups: dict[tuple, list[int]] = {}
    for index, layout in enumerate(layouts):
        groups.setdefault(tuple(sorted(layout.items())) if _is_mig(layout) else (), []).append(index)
    if set(groups) == {()}:
        return None
    entries = []
    for key, devices in groups.items():
        entry: dict[str, Any] = {"devices": "all" if len(groups) == 1 else devices, "mig-enabled": bool(key)}
        if key:
            entry["mig-devices"] = dict(key)
        entries.append(entry)
    return entries


def _lay_out(plan: GpuPlan, pool: GpuPool) -> list[list[Counter]]:
    """Each node's GPU layouts. Planned pools spread the used GPUs over the nodes in turn, so a
    model's replicas land on different nodes; the GPUs left over stay whole (MIG disabled)."""
    per_node = pool.gpus_per_node
    if not pool.planned:
        return [[Counter(layout) for layout in plan.layouts[i * per_node : (i + 1) * per_node]] for i in range(len(pool.nodes))]
    used = sorted(plan.layouts, key=lambda layout: not _is_mig(layout))
    nodes: list[list[Counter]] = [[] for _ in pool.nodes]
    for i, layout in enumerate(used):
        nodes[i % len(nodes)].append(layout if _is_mig(layout) else Counter())
    for node in nodes:
        node.sort(key=lambda layout: not _is_mig(layout))
        node.extend(Counter() for _ in range(per_node - len(node)))
    return nodes


def plan_cluster(
    cluster: OnpremCluster,
    settings: GpuOperatorSettings,
    teams: list[Team],
    models: list[ServedModel] = (),
    training: list[TrainingJob] = (),
    *,
    cluster_key: str = "the cluster",
    burst_teams: frozenset[str] = frozenset(),
) -> ClusterPlan:
    """Plan a cluster for its catalog: models first (the planner packs them, with the teams'
    reserved slices, onto the pools), then the GPU layout of every node, then training on the whole
    GPUs left, then the teams' quotas. Problems (each at its stack key) are returned in the plan,
    never raised: the loader reports them all at once."""
    plan = ClusterPlan()
    wanted = _known_models(models, teams, plan.problems)
    pools = [PoolInventory(p.name, p.gpu_model, len(p.nodes), p.gpus_per_node, p.fixed_layout()) for p in cluster.gpu_pools]
    try:
        pool_plans = plan_inference(pools, [m.demand() for _, m in wanted], _reserved_slices(cluster, teams))
    except CapacityError as error:
        plan.problems += _misfits(error, wanted, teams)
        return plan

    free_whole = _lay_out_nodes(plan, cluster, pool_plans, settings.mig_strategy)
    catalog_quota: dict[str, Counter] = {}
    for _, m in wanted:
        catalog_quota.setdefault(m.team, Counter())[plan.key(plan.placements[m.name][1])] += m.demand().slices
    _place_training(plan, cluster, training, {t.name for t in teams}, burst_teams, free_whole, catalog_quota, cluster_key)

    for team in teams:
        quota = Counter(catalog_quota.get(team.name, Counter()))
        quota["gpu"] += team.quota.gpus
        for profile, count in team.quota.mig.items():
            quota[plan.key(profile)] += count
        plan.team_quota[team.name] = +quota
    plan.problems += _check_quotas(plan, teams, catalog_quota, cluster_key)
    return plan


def _known_models(models: list[ServedModel], teams: list[Team], problems: list[Problem]) -> list[tuple[int, ServedModel]]:
    """The catalog's models (with their index) that have a unique name and a known team."""
    seen: set[str] = set()
    known: list[tuple[int, ServedModel]] = []
    for i, m in enumerate(models):
        if m.name in seen:
            problems.append(Problem(("models", i, "name"), "duplicate", "model name used twice; names must be unique", m.name))
        elif m.team not in {t.name for t in teams}:
            problems.append(Problem(("models", i, "team"), "team_unknown", f"no team {m.team} in `teams`", m.team))
        else:
            known.append((i, m))
        seen.add(m.name)
    return known


def _misfits(error: CapacityError, wanted: list[tuple[int, ServedModel]], teams: list[Team]) -> list[Problem]:
    """The planner's misfits at their keys: a model's load or memory, or the teams' reserved slices."""
    problems = []
    index = {m.name: (i, m) for i, m in wanted}
    for misfit in error.misfits:
        if misfit.model == RESERVED:
            for i, team in enumerate(teams):
                for profile in sorted(team.quota.mig):
                    problems.append(Problem(("teams", i, "quota", "mig", profile), "quota_exceeds_capacity", f"the teams' MIG quotas beyond their catalogs: {misfit.reason}", team.quota.mig[profile]))
            continue
        i, m = index[misfit.model]
        key, value = ("gpuMemoryGb", m.gpu_memory_gb) if misfit.cause == "memory" else ("peakRps", m.peak_rps)
        problems.append(Problem(("models", i, key), "catalog_does_not_fit", misfit.reason, value))
    return problems


def _lay_out_nodes(plan: ClusterPlan, cluster: OnpremCluster, pool_plans: list[GpuPlan], mig_strategy: str | None) -> Counter:
    """Fill in the plan's nodes, mig-manager configs, capacity, placements and MIG strategy; return
    the whole GPUs each pool has left after the models."""
    free_whole: Counter = Counter()
    node_layouts: list[list[Counter]] = []
    for pool, pool_plan in zip(cluster.gpu_pools, pool_plans):
        configs: dict[str, list[dict[str, Any]]] = {}  # distinct node configs, in node order
        signatures: list[str | None] = []
        partitioned = 0
        for layouts in _lay_out(pool_plan, pool):
            node_layouts.append(layouts)
            entries = _node_entries(layouts)
            signatures.append(repr(entries) if entries else None)
            if entries:
                configs.setdefault(repr(entries), entries)
            for layout in layouts:
                if _is_mig(layout):
                    plan.capacity.update(layout)
                    partitioned += 1
                else:
                    plan.capacity["gpu"] += 1
                    free_whole[pool.name] += 1
        plan.pool_gpus[pool.name] = (partitioned, pool.gpu_count - partitioned)
        names = {sig: f"hybridai-{pool.name}" if len(configs) == 1 else f"hybridai-{pool.name}-{k}" for k, sig in enumerate(configs, 1)}
        plan.mig_configs.update({names[sig]: entries for sig, entries in configs.items()})
        plan.nodes += [GpuNode(node, pool.name, pool.gpu_model, pool.gpus_per_node, names.get(sig, DISABLED)) for node, sig in zip(pool.nodes, signatures)]
        for model, profile in pool_plan.profiles.items():
            plan.placements[model] = (pool.name, profile, pool_plan.replicas[model])
            if profile == WHOLE:
                free_whole[pool.name] -= pool_plan.slices[model]
    plan.strategy = _strategy(mig_strategy, node_layouts, plan.problems)
    if plan.strategy == "single":
        plan.capacity = Counter({"gpu": sum(plan.capacity.values())})
    return free_whole


def _place_training(
    plan: ClusterPlan,
    cluster: OnpremCluster,
    training: list[TrainingJob],
    teams: set[str],
    burst_teams: frozenset[str],
    free_whole: Counter,
    catalog_quota: dict[str, Counter],
    cluster_key: str,
) -> None:
    """Training jobs, in catalog order, on the first pool of GPUs they fit with enough whole GPUs
    left; what doesn't fit overflows to the burst pool where the team has a namespace there."""
    gpu_model = {p.name: p.gpu_model for p in cluster.gpu_pools}
    for i, job in enumerate(training):
        if job.team not in teams and job.team not in burst_teams:
            where = "`teams` or `cloud.teams`" if burst_teams else "`teams`"
            plan.problems.append(Problem(("training", i, "team"), "team_unknown", f"no team {job.team} in {where}", job.team))
            continue
        fitting = {p: n for p, n in free_whole.items() if job.fits(gpu_model[p])}
        pool = next((p for p, n in fitting.items() if n >= job.gpus), None) if job.team in teams else None
        if pool is not None:
            free_whole[pool] -= job.gpus
            plan.training.setdefault(job.team, Counter())[pool] += job.gpus
            catalog_quota.setdefault(job.team, Counter())["gpu"] += job.gpus
        elif job.team in burst_teams:
            plan.overflow_jobs.append(OverflowJob(i, job))
        elif not any(job.fits(p.gpu_model) for p in cluster.gpu_pools):
            largest = max(catalog.gpus().models[p.gpu_model].memory_gb for p in cluster.gpu_pools)
            plan.problems.append(
                Problem(("training", i, "gpuMemoryGb"), "catalog_does_not_fit", f"no pool of {cluster_key} has GPUs with {job.gpu_memory_gb:g} GB (the largest have {largest:g} GB)", job.gpu_memory_gb)
            )
        else:
            most = max(fitting.values(), default=0)
            short = job.gpus - most
            kind = f"whole GPUs with {job.gpu_memory_gb:g} GB" if job.gpu_memory_gb else "whole GPUs"
            plan.problems.append(
                Problem(
                    ("training", i, "gpuHoursPerWeek"),
                    "catalog_does_not_fit",
                    f"needs {job.gpus} {kind} at once to finish {job.gpu_hours_per_week:g} GPU-hours within {job.deadline_hours:g} h, "
                    f"but no pool of {cluster_key} has more than {most} left after the models, the teams' reserved MIG slices and earlier jobs: "
                    f"{short} GPU{'s' if short != 1 else ''} short; add whole-GPU nodes or extend the deadline",
                    job.gpu_hours_per_week,
                )
            )


def _reserved_slices(cluster: OnpremCluster, teams: list[Team]) -> dict[str, Counter]:
    """Slices of the teams' explicit MIG quotas that no fixed layout offers, reserved on the first
    planned pool whose GPU has the profile (pool → profile → instances)."""
    fixed = {p for pool in cluster.gpu_pools if not pool.planned and pool.mig for p in pool.mig}
    reserved: dict[str, Counter] = {}
    for team in teams:
        for profile, count in team.quota.mig.items():
            if profile in fixed:
                continue
            pool = next((p for p in cluster.gpu_pools if p.planned and profile in catalog.gpus().models[p.gpu_model].mig.profiles), None)
            if pool is not None:
                reserved.setdefault(pool.name, Counter())[profile] += count
    return reserved


def _strategy(setting: str | None, node_layouts: list[list[Counter]], problems: list[Problem]) -> str:
    """The MIG strategy: as set, or derived — `none` without slices, `single` when every GPU of every
    MIG node has the same one profile, `mixed` otherwise."""
    mig_nodes = [layouts for layouts in node_layouts if any(_is_mig(layout) for layout in layouts)]
    profiles = sorted({p for layouts in mig_nodes for layout in layouts for p in layout})
    uniform = all(all(_is_mig(layout) for layout in layouts) for layouts in mig_nodes) and len(profiles) <= 1
    if setting == "none" and profiles:
        problems.append(
            Problem(("gpuOperator", "migStrategy"), "mig_strategy_mismatch", f"pools define MIG layouts ({', '.join(profiles)}) but the strategy is `none`; use `single` or `mixed`, or omit it", "none")
        )
    if setting == "single" and not uniform:
        problems.append(
            Problem(
                ("gpuOperator", "migStrategy"),
                "mig_strategy_mismatch",
                f"strategy `single` needs one MIG profile on every GPU of a MIG node, found {', '.join(profiles)}"
                + ("" if len(profiles) > 1 else " beside whole GPUs")
                + "; use `mixed` or omit it",
                "single",
            )
        )
    if setting is not None:
        return setting
    if not profiles:
        return "none"
    return "single" if uniform else "mixed"


def _check_quotas(plan: ClusterPlan, teams: list[Team], catalog_quota: dict[str, Counter], cluster_key: str) -> list[Problem]:
    """The explicit quotas fit in what the catalog leaves of the cluster (the catalog itself always
    fits: the planner placed it)."""
    problems: list[Problem] = []
    offered_slices = sorted(k for k in plan.capacity if k != "gpu")
    for i, team in enumerate(teams):
        for profile, count in sorted(team.quota.mig.items()):
            if plan.key(profile) not in plan.capacity or plan.key(profile) == "gpu":
                offered = ", ".join(offered_slices) or f"none (MIG strategy is {plan.strategy})"
                problems.append(
                    Problem(("teams", i, "quota", "mig", profile), "mig_profile_unavailable", f"no pool offers MIG profile {profile} as its own resource; offered: {offered}", count)
                )
    catalog_total = sum(catalog_quota.values(), Counter())
    explicit = Counter()
    for team in teams:
        explicit["gpu"] += team.quota.gpus
        for profile, count in team.quota.mig.items():
            explicit[plan.key(profile)] += count
    for key, asked in sorted(explicit.items()):
        left = plan.capacity.get(key, 0) - catalog_total.get(key, 0)
        if not asked or asked <= left or (key != "gpu" and key not in plan.capacity):
            continue
        unit = "GPUs" if key == "gpu" else f"× {key}"
        message = f"teams ask for {asked} {unit} beyond their catalogs' {catalog_total.get(key, 0)}, but {cluster_key} offers {plan.capacity.get(key, 0)} ({max(left, 0)} left); lower the quotas, add nodes or change the MIG layout"
        for i, team in enumerate(teams):
            if key == "gpu" and team.quota.gpus:
                problems.append(Problem(("teams", i, "quota", "gpus"), "quota_exceeds_capacity", message, team.quota.gpus))
            for profile, count in team.quota.mig.items():
                if plan.key(profile) == key:
                    problems.append(Problem(("teams", i, "quota", "mig", profile), "quota_exceeds_capacity", message, count))
    return problems

