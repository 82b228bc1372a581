"""GPU capacity: the decision of MIG layouts, quotas, replicas and cloud overflow for a stack.

`plan_stack` is called once per run, by the program, on the validated spec; the blueprint reads the
resulting `CapacityPlan` and nothing re-derives it later. Its problems are reported like config
errors, at their stack keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hybridai.capacity.cloud import CloudCapacity, SizedNodePool, cloud_capacity
from hybridai.capacity.cluster import ClusterCapacity, GpuNode, OverflowJob, cluster_capacity, fits, inference_demand, training_gpus
from hybridai.capacity.planner import CapacityError, PoolPlacement, InferenceDemand, Misfit, PoolInventory, TrainingDemand, lower_bound, pack, place_models, resource_name
from hybridai.config.base import Problem
from hybridai.config.spec import StackSpec


@dataclass(frozen=True)
class CapacityPlan:
    """What a stack's catalogs make of its GPUs: the on-prem cluster, the cloud burst pool (if
    any) and each edge site."""

    onprem: ClusterCapacity
    cloud: CloudCapacity | None = None
    sites: dict[str, ClusterCapacity] = field(default_factory=dict)
    cloud_training_hours: dict[str, float] | None = None
    """team → GPU-hours per week the training catalog sends to the cloud burst pool; None without
    a training catalog (the cost estimate then assumes its own burst)."""

    @property
    def problems(self) -> list[Problem]:
        # A site's one tenant holds exactly its GPUs, so a site problem means the site itself is off.
        site_problems = [
            Problem(("sites", i), p.type, f"site {name}: {p.message}", p.value) for i, (name, site) in enumerate(self.sites.items()) for p in site.problems
        ]
        return [*self.onprem.problems, *(self.cloud.problems if self.cloud else []), *site_problems]


def plan_stack(spec: StackSpec) -> CapacityPlan:
    """Decide the stack's capacity from its validated spec."""
    pool = spec.burst_pool()
    onprem = cluster_capacity(
        spec.onprem, spec.gpu_operator, spec.teams, spec.models, spec.training,
        cluster_key="the on-prem cluster", burst_teams=frozenset(t.name for t in pool.teams) if pool else frozenset(),
    )
    return CapacityPlan(
        onprem=onprem,
        cloud=cloud_capacity(pool, onprem.overflow_jobs) if pool else None,
        sites={site.name: cluster_capacity(site.cluster(), spec.gpu_operator, [site.owner()]) for site in spec.edge_sites()},
        cloud_training_hours=dict(onprem.overflow_hours) if spec.training else None,
    )


__all__ = [
    "CapacityError",
    "CapacityPlan",
    "CloudCapacity",
    "ClusterCapacity",
    "GpuNode",
    "PoolPlacement",
    "InferenceDemand",
    "Misfit",
    "OverflowJob",
    "PoolInventory",
    "SizedNodePool",
    "TrainingDemand",
    "fits",
    "inference_demand",
    "lower_bound",
    "pack",
    "place_models",
    "plan_stack",
    "resource_name",
    "training_gpus",
]
