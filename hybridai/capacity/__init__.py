"""GPU capacity: the decision of MIG layouts, quotas, replicas and cloud overflow for a stack.

`plan_stack` is called once per run, by the program, on the validated spec; the blueprint reads the
resulting `CapacityPlan` and nothing re-derives it later. Its problems are reported like config
errors, at their stack keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hybridai import catalog
from hybridai.capacity.cloud import CloudCapacity, SizedNodePool, cloud_capacity
from hybridai.capacity.llm import LlmSizing
from hybridai.capacity.cluster import ClusterCapacity, GpuNode, OverflowJob, cluster_capacity, fits, inference_demand, training_gpus
from hybridai.capacity.planner import CapacityError, PoolPlacement, InferenceDemand, Misfit, PoolInventory, TrainingDemand, lower_bound, pack, place_models, resource_name
from hybridai.config.base import Problem
from hybridai.config.mlops import check_tracking_reach
from hybridai.config import sites
from hybridai.config.sites import site_view, view_index
from hybridai.config.spec import StackSpec


@dataclass(frozen=True)
class JobPlacement:
    """Where one training job runs."""

    placement: str
    """`onprem` or `cloud`."""
    pool: str | None
    """The on-prem pool it takes whole GPUs of (None in the cloud: Kueue picks the NodePool flavor)."""
    gpus: int
    """GPUs it takes at once: what its quota was sized with."""


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
    clusters: dict[str, ClusterCapacity] = field(default_factory=dict)
    """Where `onprem` lists several data centers: each cluster beside the lead one (`onprem`) →
    its capacity, sized for the share of each model's peak it carries once a site is lost
    (hybridai/config/sites.py `peak_share`); empty for a single cluster."""

    def site(self, name: str, lead: str) -> ClusterCapacity:
        """The capacity of the on-prem cluster `name` (`lead`: the lead cluster's name)."""
        return self.onprem if name == lead else self.clusters[name]

    def job_placement(self, index: int) -> JobPlacement | None:
        """Where the training catalog's job `index` runs and with how many GPUs at once: the same
        decision that sized the quotas (None: it was placed nowhere, a problem already reported)."""
        if index in self.onprem.job_pools:
            pool, gpus = self.onprem.job_pools[index]
            return JobPlacement("onprem", pool, gpus)
        job = next((o.job for o in self.onprem.overflow_jobs if o.index == index), None)
        if job is not None and self.cloud is not None:
            return JobPlacement("cloud", None, training_gpus(job))
        return None

    @property
    def problems(self) -> list[Problem]:
        # A site's one tenant holds exactly its GPUs, so a site problem means the site itself is off.
        site_problems = [
            Problem(("sites", i), p.type, f"site {name}: {p.message}", p.value) for i, (name, site) in enumerate(self.sites.items()) for p in site.problems
        ]
        return [*self.onprem.problems, *(p for c in self.clusters.values() for p in c.problems), *(self.cloud.problems if self.cloud else []), *site_problems]


def plan_stack(spec: StackSpec) -> CapacityPlan:
    """Decide the stack's capacity from its validated spec: each on-prem cluster from the stack as
    it sees it (hybridai/config/sites.py `site_view`; a single cluster's is the stack itself)."""
    pool = spec.burst_pool()
    hub = sites.hub_view(spec)
    onprem = cluster_capacity(
        hub.onprem, hub.gpu_operator, hub.teams, hub.models, hub.training,
        cluster_key="the on-prem cluster", burst_teams=frozenset(t.name for t in pool.teams) if pool else frozenset(),
    )
    onprem.problems.extend(_job_shapes(hub, onprem))
    onprem.problems.extend(_scaling_targets(hub, onprem))
    onprem.problems.extend(check_tracking_reach(hub, [o.index for o in onprem.overflow_jobs] if pool else []))
    onprem.problems[:] = _at_stack_keys(spec, hub, onprem.problems)
    others = {}
    for name in (s.name for s in spec.onprem_sites() if s.name != sites.lead(spec)):
        view = site_view(spec, name)
        capacity = cluster_capacity(view.onprem, view.gpu_operator, view.teams, view.models, [], cluster_key=f"on-prem cluster {name}")
        capacity.problems.extend(_scaling_targets(view, capacity))
        capacity.problems[:] = _at_stack_keys(spec, view, capacity.problems)
        others[name] = capacity
    return CapacityPlan(
        onprem=onprem,
        cloud=cloud_capacity(pool, onprem.overflow_jobs) if pool else None,
        sites={site.name: cluster_capacity(site.cluster(), spec.gpu_operator, [site.owner()]) for site in spec.edge_sites()},
        cloud_training_hours=dict(onprem.overflow_hours) if spec.training else None,
        clusters=others,
    )


def _at_stack_keys(spec: StackSpec, view: StackSpec, problems: list[Problem]) -> list[Problem]:
    """A site's problems at the stack file's keys: its models and teams at their index there, its
    cluster at its place in the `onprem` list, each message naming the cluster. A single cluster's
    are the stack's already."""
    if view is spec:
        return problems
    index = {"models": view_index(spec, view, "models"), "teams": view_index(spec, view, "teams")}
    position = [s.name for s in spec.onprem_sites()].index(view.onprem.name)
    out = []
    for p in problems:
        loc = p.loc
        if len(loc) >= 2 and loc[0] in index and isinstance(loc[1], int):
            loc = (loc[0], index[loc[0]][loc[1]], *loc[2:])
        elif loc and loc[0] == "onprem":
            loc = ("onprem", position, *loc[1:])
        out.append(p._replace(loc=loc, message=f"on-prem cluster {view.onprem.name}: {p.message}"))
    return out


def _scaling_targets(spec: StackSpec, onprem: ClusterCapacity) -> list[Problem]:
    """Record each placed model's requests in flight per replica — its planned rate for the whole
    of its latency objective — and return the problems of targets KEDA can't hand the HPA: a planned
    rate or requests in flight below limits.yaml `keda.threshold_min` (three decimals)."""
    smallest = catalog.limits().keda.threshold_min
    problems = []
    for i, model in enumerate(spec.models):
        rps = onprem.replica_rps.get(model.name)
        if rps is None:
            continue  # not placed: its problem is already reported
        objective = model.objective_ms(spec.monitoring.latency_objective_ms)
        in_flight = onprem.replica_in_flight[model.name] = rps * objective / 1000
        if min(rps, in_flight) < smallest:
            problems.append(
                Problem(
                    ("models", i, "throughputRps"),
                    "below_autoscaler_precision",
                    f"each replica is planned for {rps:g} requests per second ({model.throughput_rps:g} less headroom), "
                    f"{in_flight:g} in flight within its {objective} ms objective; KEDA can't scale on a target below {smallest:g} per replica "
                    "(its thresholds have three decimals): raise `throughputRps` (what one replica sustains, in requests per second), or `latencyObjectiveMs` for the in-flight target",
                    model.throughput_rps,
                )
            )
    return problems


def _job_shapes(spec: StackSpec, onprem: ClusterCapacity) -> list[Problem]:
    """A job's `nodes × gpusPerNode` fits in the GPUs the plan gives it (its deadline's GPUs), and a
    pod's GPUs fit on one node of where it runs."""
    problems = []
    per_node = {p.name: p.gpus_per_node for p in spec.onprem.gpu_pools}
    pool = spec.burst_pool()
    for i, job in enumerate(spec.training):
        if job.gpus_per_node is None:
            continue
        given, asked = training_gpus(job), job.nodes * job.gpus_per_node
        if asked > given:
            problems.append(
                Problem(
                    ("training", i, "gpusPerNode"),
                    "exceeds_capacity_plan",
                    f"{job.nodes} nodes × {job.gpus_per_node} GPUs = {asked} GPUs, but the capacity plan gives this job {given} "
                    f"({job.gpu_hours_per_week:g} GPU-hours within {job.deadline_hours:g} h); lower `nodes` or `gpusPerNode`, or raise the catalog's GPU-hours",
                    job.gpus_per_node,
                )
            )
        largest = per_node.get(onprem.job_pools[i][0]) if i in onprem.job_pools else max((p.gpus_per_node for p in pool.gpu_node_pools), default=None) if pool else None
        if largest is not None and job.gpus_per_node > largest:
            problems.append(
                Problem(("training", i, "gpusPerNode"), "exceeds_node", f"the nodes this job runs on have {largest} GPUs each; a pod can't take more", job.gpus_per_node)
            )
    return problems


__all__ = [
    "JobPlacement",
    "CapacityError",
    "CapacityPlan",
    "CloudCapacity",
    "ClusterCapacity",
    "GpuNode",
    "PoolPlacement",
    "InferenceDemand",
    "LlmSizing",
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
