"""The capacity of one cluster: what its workload catalog and its teams' explicit quotas make of
its GPUs — replicas and slice per model, the MIG layout of every GPU on every node, each team's GPU
quota, the training placed on the whole GPUs left, and the training that overflows to the cloud.

This is the one source of these numbers: the GPU Operator's mig-manager config, the teams'
ResourceQuotas and Kueue queues, the InferenceServices and the burst pool's size all read it, so a
stack file states its workloads once and never repeats them as layouts or quotas. Problems are
returned at their stack keys, never raised, so every one is reported at once.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hybridai import catalog
from hybridai.capacity.llm import LlmSizing, llm_shape, per_gpu_gb
from hybridai.capacity.planner import RESERVED, WHOLE, CapacityError, PoolPlacement, InferenceDemand, PoolInventory, TrainingDemand, place_models, pod_nodes, resource_name
from hybridai.config.base import Problem, choose_from
from hybridai.config.components import GpuOperatorSettings, GpuPool, OnpremCluster, Team
from hybridai.config.workloads import ServedModel, TrainingJob
from hybridai.recorded import MIG_ALL_DISABLED



def inference_demand(model: ServedModel) -> InferenceDemand:
    """A catalog model as the planner sees it. An LLM's load is in output tokens per second (its
    peak: `peakRps` × `outputTokensPerRequest`), and its GPUs are sized on each pool from its shape
    (here: what one GPU would need to hold all of it)."""
    canary = model.canary.traffic_percent if model.canary else 0
    if model.llm is None:
        return InferenceDemand(model.name, model.team, model.gpu_memory_gb, model.peak_rps, model.throughput_rps, model.isolation, model.production, canary_percent=canary)
    shape, vllm = llm_shape(model.llm), catalog.llms().vllm
    return InferenceDemand(
        model.name, model.team, per_gpu_gb(shape, 1, 1, vllm.activation_gb) / vllm.gpu_memory_utilization,
        model.peak_rps * model.llm.output_tokens_per_request, model.llm.output_tokens_per_second, model.isolation, model.production,
        canary_percent=canary, llm=shape,
    )


def training_gpus(job: TrainingJob) -> int:
    """GPUs a training job needs at once to finish by its deadline."""
    return TrainingDemand(job.team, job.gpu_hours_per_week, job.deadline_hours).gpus


def fits(job: TrainingJob, gpu_model: str) -> bool:
    """Whether a job's GPUs may be of `gpu_model` (it has the memory the job is sharded for)."""
    return job.gpu_memory_gb is None or catalog.gpus().models[gpu_model].memory_gb >= job.gpu_memory_gb


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
class ClusterCapacity:
    """What the catalog and the explicit quotas make of one cluster."""

    strategy: str = "none"
    """MIG strategy of the device plugin: as set, or derived — `none`, `single` (slices as nvidia.com/gpu) or `mixed`."""
    nodes: list[GpuNode] = field(default_factory=list)
    mig_configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """mig-parted entries by config name (every config but `all-disabled`)."""
    schedulable: Counter = field(default_factory=Counter)
    """Schedulable GPU resources: `gpu` for whole GPUs, the profile name for MIG slices."""
    placements: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """model → (pool, profile or `gpu`, replicas at peak)."""
    slices: dict[str, int] = field(default_factory=dict)
    """model → slices (or whole GPUs) it holds at peak: its replicas' and its canary's, each an LLM
    replica's GPUs."""
    llms: dict[str, LlmSizing] = field(default_factory=dict)
    """LLM → how one replica is sized on the pool it was placed on: the weights, KV cache and memory
    per GPU, and the tensor and pipeline parallel sizes serving runs it with."""
    replica_rps: dict[str, float] = field(default_factory=dict)
    """model → requests per second each replica is planned to take at peak (`InferenceDemand.planned_rps`):
    the replicas at peak were sized on it, and the model's autoscaler scales to keep each replica there."""
    replica_in_flight: dict[str, float] = field(default_factory=dict)
    """model → requests each replica holds at its planned rate when each takes the whole latency
    objective (`replica_rps` × the objective in seconds; plan_stack records it, with the stack's
    default objective): the model's autoscaler adds replicas beyond it."""
    team_quota: dict[str, Counter] = field(default_factory=dict)
    """team → resource key → count: its catalog's needs plus its explicit quota."""
    training: dict[str, Counter] = field(default_factory=dict)
    """team → pool → whole GPUs its training jobs take on this cluster."""
    job_pools: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Index in `training` → (the pool whose whole GPUs the job takes here, how many), for jobs placed on this cluster."""
    overflow_jobs: list[OverflowJob] = field(default_factory=list)
    """Training jobs that don't fit here and go to the cloud burst pool, in catalog order."""
    pool_gpus: dict[str, tuple[int, int]] = field(default_factory=dict)
    """pool → (GPUs partitioned with MIG, whole GPUs)."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def overflow(self) -> dict[str, int]:
        """team → GPUs its overflowing jobs need at once."""
        return dict(sum((Counter({o.job.team: training_gpus(o.job)}) for o in self.overflow_jobs), Counter()))

    @property
    def overflow_hours(self) -> dict[str, float]:
        """team → weekly GPU-hours of its overflowing jobs."""
        hours: dict[str, float] = {}
        for o in self.overflow_jobs:
            hours[o.job.team] = hours.get(o.job.team, 0.0) + o.job.gpu_hours_per_week
        return hours

    def slice_key(self, profile: str) -> str:
        """The quota key a slice draws on: with strategy `single`, slices are advertised as GPUs."""
        return "gpu" if profile == WHOLE or self.strategy == "single" else profile

    def gpu_quota(self, team: str) -> dict[str, int]:
        """Every GPU resource the cluster advertises gets a quota line — zero when the team has none —
        because a ResourceQuota leaves unlisted resources unlimited."""
        keys = ["gpu", *sorted(k for k in self.schedulable if k != "gpu")]
        quota = self.team_quota.get(team, Counter())
        return {resource_name(k): quota.get(k, 0) for k in keys}


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


def _lay_out(placement: PoolPlacement, pool: GpuPool) -> list[list[Counter]]:
    """Each node's GPU layouts. Planned pools keep whole the GPUs each pod of a multi-GPU replica
    takes on its node (`pod_nodes`), then spread the MIG-partitioned GPUs over the nodes' other GPUs
    in turn, so a model's replicas land on different nodes; the GPUs left over stay whole (MIG
    disabled)."""
    per_node = pool.gpus_per_node
    if not pool.planned:
        return [[Counter(layout) for layout in placement.layouts[i * per_node : (i + 1) * per_node]] for i in range(len(pool.nodes))]
    # The planner placed the pods on these nodes (pod_nodes fit when it checked them).
    room = [per_node - taken for taken in pod_nodes(placement.pods, len(pool.nodes), per_node) or [0] * len(pool.nodes)]
    nodes: list[list[Counter]] = [[] for _ in pool.nodes]
    turn = 0
    for layout in (layout for layout in placement.layouts if _is_mig(layout)):
        while len(nodes[turn % len(nodes)]) >= room[turn % len(nodes)]:
            turn += 1
        nodes[turn % len(nodes)].append(layout)
        turn += 1
    for node in nodes:
        node.extend(Counter() for _ in range(per_node - len(node)))
    return nodes


def cluster_capacity(
    cluster: OnpremCluster,
    settings: GpuOperatorSettings,
    teams: list[Team],
    models: list[ServedModel] = (),
    training: list[TrainingJob] = (),
    *,
    cluster_key: str = "the cluster",
    burst_teams: frozenset[str] = frozenset(),
) -> ClusterCapacity:
    """A cluster's capacity for its catalog: models first (the planner packs them, with the teams'
    reserved slices, onto the pools), then the GPU layout of every node, then training on the whole
    GPUs left, then the teams' quotas. Problems (each at its stack key) are returned in the result,
    never raised: the loader reports them all at once."""
    capacity = ClusterCapacity()
    wanted = _known_models(models, teams, capacity.problems)
    pools = [PoolInventory(p.name, p.gpu_model, len(p.nodes), p.gpus_per_node, p.fixed_layout()) for p in cluster.gpu_pools]
    try:
        placements = place_models(pools, [inference_demand(m) for _, m in wanted], _reserved_slices(cluster, teams))
    except CapacityError as error:
        capacity.problems += _misfits(error, wanted, teams)
        return capacity

    free_whole = _lay_out_nodes(capacity, cluster, placements, settings.mig_strategy)
    catalog_quota: dict[str, Counter] = {}
    for _, m in wanted:
        catalog_quota.setdefault(m.team, Counter())[capacity.slice_key(capacity.placements[m.name][1])] += capacity.slices[m.name]
        if m.llm is None:  # an LLM scales on vLLM's queue and KV cache, not a request rate
            capacity.replica_rps[m.name] = inference_demand(m).planned_rps
    _place_training(capacity, cluster, training, {t.name for t in teams}, burst_teams, free_whole, catalog_quota, cluster_key)

    for team in teams:
        quota = Counter(catalog_quota.get(team.name, Counter()))
        quota["gpu"] += team.quota.gpus
        for profile, count in team.quota.mig.items():
            quota[capacity.slice_key(profile)] += count
        capacity.team_quota[team.name] = +quota
    capacity.problems += _check_quotas(capacity, teams, catalog_quota, cluster_key)
    return capacity


def _known_models(models: list[ServedModel], teams: list[Team], problems: list[Problem]) -> list[tuple[int, ServedModel]]:
    """The catalog's models (with their index) that have a unique name and a known team."""
    seen: set[str] = set()
    known: list[tuple[int, ServedModel]] = []
    for i, m in enumerate(models):
        if m.name in seen:
            problems.append(Problem(("models", i, "name"), "duplicate", "model name used twice; names must be unique", m.name))
        elif m.team not in {t.name for t in teams}:
            problems.append(Problem(("models", i, "team"), "team_unknown", f"no team {m.team!r} in `teams`{choose_from(m.team, (t.name for t in teams), 'teams')}", m.team))
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
        if misfit.cause == "capacity":
            key, value = ("peakRps",), m.peak_rps
        elif m.llm is not None:
            # What decides an LLM's memory: its architecture, dtypes, context and concurrency.
            key, value = ("llm",), m.llm.model_dump(by_alias=True, include={"architecture", "dtype", "kv_cache_dtype", "context_length", "concurrent_sequences", "multi_node"})
        else:
            key, value = ("gpuMemoryGb",), m.gpu_memory_gb
        problems.append(Problem(("models", i, *key), "catalog_does_not_fit", misfit.reason, value))
    return problems


def _lay_out_nodes(capacity: ClusterCapacity, cluster: OnpremCluster, placements: list[PoolPlacement], mig_strategy: str | None) -> Counter:
    """Fill in the nodes, mig-manager configs, schedulable resources, placements and MIG strategy; return
    the whole GPUs each pool has left after the models."""
    free_whole: Counter = Counter()
    node_layouts: list[list[Counter]] = []
    for pool, placement in zip(cluster.gpu_pools, placements):
        configs: dict[str, list[dict[str, Any]]] = {}  # distinct node configs, in node order
        signatures: list[str | None] = []
        partitioned = 0
        for layouts in _lay_out(placement, pool):
            node_layouts.append(layouts)
            entries = _node_entries(layouts)
            signatures.append(repr(entries) if entries else None)
            if entries:
                configs.setdefault(repr(entries), entries)
            for layout in layouts:
                if _is_mig(layout):
                    capacity.schedulable.update(layout)
                    partitioned += 1
                else:
                    capacity.schedulable["gpu"] += 1
                    free_whole[pool.name] += 1
        capacity.pool_gpus[pool.name] = (partitioned, pool.gpu_count - partitioned)
        names = {sig: f"hybridai-{pool.name}" if len(configs) == 1 else f"hybridai-{pool.name}-{k}" for k, sig in enumerate(configs, 1)}
        capacity.mig_configs.update({names[sig]: entries for sig, entries in configs.items()})
        capacity.nodes += [GpuNode(node, pool.name, pool.gpu_model, pool.gpus_per_node, names.get(sig, MIG_ALL_DISABLED)) for node, sig in zip(pool.nodes, signatures)]
        for model, profile in placement.profiles.items():
            capacity.placements[model] = (pool.name, profile, placement.replicas[model])
            capacity.slices[model] = placement.slices[model]
            if model in placement.llms:
                capacity.llms[model] = placement.llms[model]
            if profile == WHOLE:
                free_whole[pool.name] -= placement.slices[model]
    capacity.strategy = _strategy(mig_strategy, node_layouts, capacity.problems)
    if capacity.strategy == "single":
        capacity.schedulable = Counter({"gpu": sum(capacity.schedulable.values())})
    return free_whole


def _place_training(
    capacity: ClusterCapacity,
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
            capacity.problems.append(Problem(("training", i, "team"), "team_unknown", f"no team {job.team!r} in {where}{choose_from(job.team, [*teams, *burst_teams], 'teams')}", job.team))
            continue
        fitting = {p: n for p, n in free_whole.items() if fits(job, gpu_model[p])}
        pool = next((p for p, n in fitting.items() if n >= training_gpus(job)), None) if job.team in teams else None
        if pool is not None:
            free_whole[pool] -= training_gpus(job)
            capacity.job_pools[i] = (pool, training_gpus(job))
            capacity.training.setdefault(job.team, Counter())[pool] += training_gpus(job)
            catalog_quota.setdefault(job.team, Counter())["gpu"] += training_gpus(job)
        elif job.team in burst_teams:
            capacity.overflow_jobs.append(OverflowJob(i, job))
        elif not any(fits(job, p.gpu_model) for p in cluster.gpu_pools):
            largest = max(catalog.gpus().models[p.gpu_model].memory_gb for p in cluster.gpu_pools)
            capacity.problems.append(
                Problem(("training", i, "gpuMemoryGb"), "catalog_does_not_fit", f"no pool of {cluster_key} has GPUs with {job.gpu_memory_gb:g} GB (the largest have {largest:g} GB)", job.gpu_memory_gb)
            )
        else:
            most = max(fitting.values(), default=0)
            short = training_gpus(job) - most
            kind = f"whole GPUs with {job.gpu_memory_gb:g} GB" if job.gpu_memory_gb else "whole GPUs"
            capacity.problems.append(
                Problem(
                    ("training", i, "gpuHoursPerWeek"),
                    "catalog_does_not_fit",
                    f"needs {training_gpus(job)} {kind} at once to finish {job.gpu_hours_per_week:g} GPU-hours within {job.deadline_hours:g} h, "
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


def _check_quotas(capacity: ClusterCapacity, teams: list[Team], catalog_quota: dict[str, Counter], cluster_key: str) -> list[Problem]:
    """The explicit quotas fit in what the catalog leaves of the cluster (the catalog itself always
    fits: the planner placed it)."""
    problems: list[Problem] = []
    offered_slices = sorted(k for k in capacity.schedulable if k != "gpu")
    for i, team in enumerate(teams):
        for profile, count in sorted(team.quota.mig.items()):
            if capacity.slice_key(profile) not in capacity.schedulable or capacity.slice_key(profile) == "gpu":
                offered = ", ".join(offered_slices) or f"none (MIG strategy is {capacity.strategy})"
                problems.append(
                    Problem(("teams", i, "quota", "mig", profile), "mig_profile_unavailable", f"no pool offers MIG profile {profile} as its own resource; offered: {offered}", count)
                )
    catalog_total = sum(catalog_quota.values(), Counter())
    explicit = Counter()
    for team in teams:
        explicit["gpu"] += team.quota.gpus
        for profile, count in team.quota.mig.items():
            explicit[capacity.slice_key(profile)] += count
    for key, asked in sorted(explicit.items()):
        left = capacity.schedulable.get(key, 0) - catalog_total.get(key, 0)
        if not asked or asked <= left or (key != "gpu" and key not in capacity.schedulable):
            continue
        unit = "GPUs" if key == "gpu" else f"× {key}"
        message = f"teams ask for {asked} {unit} beyond their catalogs' {catalog_total.get(key, 0)}, but {cluster_key} offers {capacity.schedulable.get(key, 0)} ({max(left, 0)} left); lower the quotas, add nodes or change the MIG layout"
        for i, team in enumerate(teams):
            if key == "gpu" and team.quota.gpus:
                problems.append(Problem(("teams", i, "quota", "gpus"), "quota_exceeds_capacity", message, team.quota.gpus))
            for profile, count in team.quota.mig.items():
                if capacity.slice_key(profile) == key:
                    problems.append(Problem(("teams", i, "quota", "mig", profile), "quota_exceeds_capacity", message, count))
    return problems

