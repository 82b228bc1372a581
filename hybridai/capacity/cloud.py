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
    """A GPU node pool with its limit settled."""

    name: str
    instance_types: tuple[str, ...]
    gpu_model: str
    gpus_per_node: int
    gpu_limit: int
    """GPUs the pool's nodes may hold at once: the NodePool limit and the Kueue flavor's size."""
    planned_gpus: int
    """GPUs the overflowing jobs this pool can run need at once (what sizes the limit by default)."""
    capacity_types: tuple[str, ...]
    disk_gb: int
    consolidate_after: str
    expire_after: str


@dataclass
class CloudCapacity:
    """The burst pool sized for its overflow."""

    pools: list[SizedNodePool] = field(default_factory=list)
    team_gpus: dict[str, int] = field(default_factory=dict)
    """team → GPU quota on the pool: its overflowing training plus its explicit quota."""
    problems: list[Problem] = field(default_factory=list)


def _sized(pool: GpuNodePool, planned: int) -> SizedNodePool:
    """The limit as set, or what the pool's share of the overflow needs at once, so each pool alone
    can carry the week's cloud training its GPUs can run."""
    return SizedNodePool(
        name=pool.name,
        instance_types=tuple(pool.instance_types),
        gpu_model=pool.gpu_model,
        gpus_per_node=pool.gpus_per_node,
        gpu_limit=pool.gpu_limit if pool.gpu_limit is not None else max(planned, 1),
        planned_gpus=planned,
        capacity_types=tuple(pool.capacity_types),
        disk_gb=pool.disk_gb,
        consolidate_after=pool.consolidate_after,
        expire_after=pool.expire_after,
    )


def cloud_capacity(cloud: CloudPool, overflow: list[OverflowJob]) -> CloudCapacity:
    """Size every node pool for the overflowing jobs its GPUs can run (all at once), give each
    cloud team its overflow's GPUs, and report what the pool can't hold at its stack keys."""
    planned = {p.name: sum(training_gpus(o.job) for o in overflow if fits(o.job, p.gpu_model)) for p in cloud.gpu_node_pools}
    capacity = CloudCapacity(
        pools=[_sized(p, planned[p.name]) for p in cloud.gpu_node_pools],
        team_gpus={t.name: t.quota.gpus + sum(training_gpus(o.job) for o in overflow if o.job.team == t.name) for t in cloud.teams},
    )
    problems = capacity.problems
    for i, pool in enumerate(cloud.gpu_node_pools):
        key = ("cloud", "gpuNodePools", i, "gpuLimit")
        if pool.gpu_limit is None and not planned[pool.name]:
            problems.append(
                Problem(key, "missing", "no training job the catalog sends to the cloud runs on this pool's GPUs, so nothing sizes it; set gpuLimit or add `training` jobs", None)
            )
        elif pool.gpu_limit is not None and pool.gpu_limit < planned[pool.name]:
            problems.append(
                Problem(
                    key,
                    "limit_below_plan",
                    f"the training the catalog sends to the cloud needs {planned[pool.name]} of this pool's GPUs at once; raise gpuLimit to at least that, "
                    "or omit it to have it sized",
                    pool.gpu_limit,
                )
            )
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
    limit = sum(p.gpu_limit for p in capacity.pools)
    asked = sum(capacity.team_gpus.values())
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
    return capacity

