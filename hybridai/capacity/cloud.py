"""The capacity of the cloud burst pool: the GPU limit of each Karpenter NodePool and each cloud
team's GPU quota, sized for the training the on-prem cluster sends to the cloud."""
from __future__ import annotations

from dataclasses import dataclass, field

from hybridai import catalog
from hybridai.capacity.cluster import OverflowJob, fits, training_gpus
from hybridai.config.base import Problem
from hybridai.config.cloud import CloudPool, GpuNodePool


@dataclass(frozen=True)
class SizedNodePool:
    """A GPU node pool of the stack and what the capacity plan decides for it: its GPU limit."""

    pool: GpuNodePool
    """The pool as the stack configures it (`cloud.gpuNodePools[]`)."""
    gpu_limit: int
    """Most GPUs the pool's nodes may hold at once, the NodePool's limit: `gpuLimit` where the stack
    sets it, else the planned GPUs (at least one). Kueue's flavor of the pool carries the teams'
    GPUs (`CloudCapacity.team_gpus`), not this."""
    planned_gpus: int
    """GPUs the overflowing jobs this pool's GPUs can run need at once: what sizes the limit by
    default, and what an explicit limit may not undercut."""


@dataclass
class CloudCapacity:
    """The burst pool sized for its overflow."""

    pools: list[SizedNodePool] = field(default_factory=list)
    """Each of the stack's GPU node pools, in its order, with its limit."""
    team_gpus: dict[str, int] = field(default_factory=dict)
    """team → GPU quota on the pool: its overflowing training plus its explicit quota."""
    problems: list[Problem] = field(default_factory=list)


def _sized(pool: GpuNodePool, planned: int) -> SizedNodePool:
    """The limit as set, or what the pool's share of the overflow needs at once, so each pool alone
    can carry the week's cloud training its GPUs can run."""
    return SizedNodePool(pool=pool, gpu_limit=pool.gpu_limit if pool.gpu_limit is not None else max(planned, 1), planned_gpus=planned)


def cloud_capacity(cloud: CloudPool, overflow: list[OverflowJob]) -> CloudCapacity:
    """Size every node pool for the overflowing jobs its GPUs can run (all at once), give each
    cloud team its overflow's GPUs, and report what the pool can't hold at its stack keys."""
    planned = {p.name: sum(training_gpus(o.job) for o in overflow if fits(o.job, p.gpu_model)) for p in cloud.gpu_node_pools}
    capacity = CloudCapacity(
        pools=[_sized(p, planned[p.name]) for p in cloud.gpu_node_pools],
        team_gpus={t.name: t.quota.gpus + sum(training_gpus(o.job) for o in overflow if o.job.team == t.name) for t in cloud.teams},
    )
    capacity.problems += _limit_problems(capacity.pools)
    capacity.problems += _misfits(cloud, overflow)
    capacity.problems += _quota_problems(cloud, overflow, capacity)
    return capacity


def _limit_problems(pools: list[SizedNodePool]) -> list[Problem]:
    """A pool nothing sizes (no limit set, no overflow it can run), or whose limit is below its plan."""
    problems = []
    for i, sized in enumerate(pools):
        key, limit = ("cloud", "gpuNodePools", i, "gpuLimit"), sized.pool.gpu_limit
        if limit is None and not sized.planned_gpus:
            problems.append(
                Problem(key, "missing", "no training job the catalog sends to the cloud runs on this pool's GPUs, so nothing sizes it; set gpuLimit or add `training` jobs", None)
            )
        elif limit is not None and limit < sized.planned_gpus:
            problems.append(
                Problem(
                    key,
                    "limit_below_plan",
                    f"the training the catalog sends to the cloud needs {sized.planned_gpus} of this pool's GPUs at once; raise gpuLimit to at least that, "
                    "or omit it to have it sized",
                    limit,
                )
            )
    return problems


def _misfits(cloud: CloudPool, overflow: list[OverflowJob]) -> list[Problem]:
    """Overflowing jobs no node pool's GPUs can run."""
    problems = []
    for o in overflow:
        if not any(fits(o.job, p.gpu_model) for p in cloud.gpu_node_pools):
            biggest = max(catalog.gpus().models[p.gpu_model].memory_gb for p in cloud.gpu_node_pools)
            problems.append(
                Problem(
                    ("training", o.index, "gpuMemoryGb"),
                    "catalog_does_not_fit",
                    f"goes to the cloud burst pool and needs GPUs with {o.job.gpu_memory_gb:g} GB, but the node pools' GPUs have at most {biggest:g} GB; "
                    "add a node pool of larger GPUs",
                    o.job.gpu_memory_gb,
                )
            )
    return problems


def _quota_problems(cloud: CloudPool, overflow: list[OverflowJob], capacity: CloudCapacity) -> list[Problem]:
    """Each team with GPUs, when the teams' quotas add up to more than the pools' limits."""
    limit = sum(p.gpu_limit for p in capacity.pools)
    asked = sum(capacity.team_gpus.values())
    problems = []
    for i, team in enumerate(cloud.teams):
        gpus = capacity.team_gpus[team.name]
        if asked > limit and gpus:
            catalog_gpus = sum(training_gpus(o.job) for o in overflow if o.job.team == team.name)
            training = f" ({catalog_gpus} of them for its training catalog)" if catalog_gpus else ""
            problems.append(
                Problem(
                    ("cloud", "teams", i, "quota", "gpus"),
                    "quota_exceeds_capacity",
                    f"teams need {asked} GPUs in all, this team {gpus}{training}, but the node pools' limits add up to {limit}; raise or omit gpuLimit, or lower the quotas",
                    team.quota.gpus,
                )
            )
    return problems
