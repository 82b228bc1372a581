"""The capacity of the cloud burst pool: how large each GPU node group may grow and each cloud team's
GPU quota, sized for the training the on-prem clusters send to the cloud."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from hybridai import catalog
from hybridai.capacity.cluster import OverflowJob, fits, training_gpus
from hybridai.config.base import Problem
from hybridai.config.cloud import CloudPool, GpuNodeGroup


@dataclass(frozen=True)
class SizedNodeGroup:
    """A GPU node group with its sizes settled."""

    name: str
    instance_types: tuple[str, ...]
    gpu_model: str
    gpus_per_node: int
    min_size: int
    max_size: int
    spot: bool
    fallback_max: int
    """Nodes of the on-demand fallback group (spot groups only); 0: none."""
    disk_gb: int

    @property
    def max_gpus(self) -> int:
        """GPUs the group reaches at most, fallback included."""
        return (self.max_size + self.fallback_max) * self.gpus_per_node


@dataclass
class CloudCapacity:
    """The burst pool sized for its overflow."""

    groups: list[SizedNodeGroup] = field(default_factory=list)
    team_gpus: dict[str, int] = field(default_factory=dict)
    """team → GPU quota on the pool: its overflowing training plus its explicit quota."""
    problems: list[Problem] = field(default_factory=list)


def _sized(group: GpuNodeGroup, burst_gpus: int) -> SizedNodeGroup:
    """`maxSize` as set, or enough nodes for `burst_gpus` at once (so each group alone can carry
    the week's cloud training); the on-demand fallback as large as the spot group unless set."""
    size = group.max_size if group.max_size is not None else max(group.min_size, 1, math.ceil(burst_gpus / group.gpus_per_node))
    fallback = group.on_demand_fallback_max if group.on_demand_fallback_max is not None else size
    return SizedNodeGroup(
        name=group.name,
        instance_types=tuple(group.instance_types),
        gpu_model=group.gpu_model,
        gpus_per_node=group.gpus_per_node,
        min_size=group.min_size,
        max_size=size,
        spot=group.spot,
        fallback_max=fallback if group.spot else 0,
        disk_gb=group.disk_gb,
    )


def cloud_capacity(cloud: CloudPool, overflow: list[OverflowJob]) -> CloudCapacity:
    """Size every node group for the overflowing jobs its GPUs can run (all at once), give each
    cloud team its overflow's GPUs, and report what the pool can't hold at its stack keys."""
    capacity = CloudCapacity(
        groups=[_sized(g, sum(training_gpus(o.job) for o in overflow if fits(o.job, g.gpu_model))) for g in cloud.gpu_node_groups],
        team_gpus={t.name: t.quota.gpus + sum(training_gpus(o.job) for o in overflow if o.job.team == t.name) for t in cloud.teams},
    )
    problems = capacity.problems
    for i, group in enumerate(cloud.gpu_node_groups):
        if group.max_size is None and not any(fits(o.job, group.gpu_model) for o in overflow):
            problems.append(
                Problem(
                    ("cloud", "gpuNodeGroups", i, "maxSize"),
                    "missing",
                    "no training job the catalog sends to the cloud runs on this group's GPUs, so nothing sizes it; set maxSize or add `training` jobs",
                    None,
                )
            )
    for o in overflow:
        if not any(fits(o.job, g.gpu_model) for g in cloud.gpu_node_groups):
            biggest = max(catalog.gpus().models[g.gpu_model].memory_gb for g in cloud.gpu_node_groups)
            problems.append(
                Problem(
                    ("training", o.index, "gpuMemoryGb"),
                    "catalog_does_not_fit",
                    f"goes to the cloud burst pool and needs GPUs with {o.job.gpu_memory_gb:g} GB, but the node groups' GPUs have at most {biggest:g} GB; "
                    "add a node group of larger GPUs",
                    o.job.gpu_memory_gb,
                )
            )
    max_gpus = sum(g.max_gpus for g in capacity.groups)
    asked = sum(capacity.team_gpus.values())
    for i, team in enumerate(cloud.teams):
        gpus = capacity.team_gpus[team.name]
        if asked > max_gpus and gpus:
            catalog_gpus = sum(training_gpus(o.job) for o in overflow if o.job.team == team.name)
            training = f" ({catalog_gpus} of them for its training catalog)" if catalog_gpus else ""
            problems.append(
                Problem(
                    ("cloud", "teams", i, "quota", "gpus"),
                    "quota_exceeds_capacity",
                    f"teams need {asked} GPUs in all, this team {gpus}{training}, but the node groups reach at most {max_gpus}; raise or omit maxSize, or lower the quotas",
                    team.quota.gpus,
                )
            )
    return capacity
