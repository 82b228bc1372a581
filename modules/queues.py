"""Queues: Kueue on one target — GPU flavors, a ClusterQueue per team borrowing within a cohort,
LocalQueues in team namespaces, and workload priority classes."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

import pulumi
import yaml

from hybridai.config.base import KUEUE_NAMESPACE
from hybridai.config.components import Team
from hybridai.recorded import GPU_POOL_LABEL, component_type
from hybridai.modules.base import (
    GPU_TOLERATION,
    MANAGED_BY,
    TIERS,
    Args,
    Module,
    child,
    from_namespace,
    on_port,
    pinned_release,
    placed,
    platform_namespace,
    pod_security,
    priority_class,
)
from hybridai.modules.target import Target

NAMESPACE = KUEUE_NAMESPACE
LOCAL_QUEUE = "training"
"""The LocalQueue in every training team's namespace: jobs are submitted to it."""


class FlavorArgs(Args):
    name: str
    """ResourceFlavor name: the GPU pool (on-prem) or NodePool (cloud) it stands for."""
    node_labels: dict[str, str]
    """Nodes of this flavor (GPU pool, NodePool): admitted workloads are steered to them."""


class QueueTeamArgs(Args):
    name: str
    """Team name: its ClusterQueue's name."""
    namespace: str
    """The team's namespace: its LocalQueue `training` is there, and its ClusterQueue admits only workloads from it."""
    quotas: dict[str, dict[str, str]]
    """flavor → resource (`cpu`, `memory`, `nvidia.com/gpu`) → nominal quota."""

    @classmethod
    def of(cls, team: Team, gpus: Mapping[str, int]) -> QueueTeamArgs:
        """A team's queue: on each flavor (`gpus`: flavor → GPUs nominal there), its namespace's CPU
        and memory quota, so a gang is admitted only when the namespace could run it."""
        return cls(name=team.name, namespace=team.namespace, quotas={f: {"cpu": team.quota.cpu, "memory": team.quota.memory, "nvidia.com/gpu": str(n)} for f, n in gpus.items()})


class QueuesArgs(Args):
    cohort: str
    """Teams of the cohort lend each other unused quota and reclaim it by preemption."""
    flavors: tuple[FlavorArgs, ...]
    """In preference order: a workload takes the first flavor with room."""
    teams: tuple[QueueTeamArgs, ...]
    """Teams that train here, each with a ClusterQueue and a LocalQueue."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes Kueue's metrics (default: the stack's default monitoring namespace)."""
    jobset: bool = False
    """Whether JobSets run here (modules/training_runtime.py): Kueue's configuration then names
    the JobSet integration explicitly, so a distributed run is admitted as one unit. Default: off,
    no catalog job runs here."""

    @classmethod
    def of_pools(
        cls, cluster: str, teams: Iterable[Team], pools: list[str], training: Mapping[str, Mapping[str, int]], monitoring_namespace: str, jobset: bool = False
    ) -> QueuesArgs | None:
        """Kueue for a data-center cluster's training: a flavor per pool of whole GPUs (`pools`, in
        order), selecting its nodes by their pool label. A team's nominal quota on each is what the
        capacity plan gave its training jobs there (`training`: team → pool → GPUs), plus, for a
        `training`-tier team, its explicit `quota.gpus` on the first flavor. None when nobody trains here."""
        queued = []
        for team in teams:
            gpus = Counter(training.get(team.name, {}))
            if team.tier == "training" and team.quota.gpus and pools:
                gpus[pools[0]] += team.quota.gpus
            if +gpus:
                queued.append(QueueTeamArgs.of(team, {p: gpus.get(p, 0) for p in pools}))
        if not queued or not pools:
            return None
        flavors = tuple(FlavorArgs(name=p, node_labels={GPU_POOL_LABEL: p}) for p in pools)
        return cls(cohort=f"{cluster}-gpus", flavors=flavors, teams=tuple(queued), monitoring_namespace=monitoring_namespace, jobset=jobset)


KUEUE_FRAMEWORKS = (
    "batch/job",
    "kubeflow.org/mpijob",
    "ray.io/rayjob",
    "ray.io/rayservice",
    "ray.io/raycluster",
    "jobset.x-k8s.io/jobset",
    "workload.codeflare.dev/appwrapper",
    "trainer.kubeflow.org/trainjob",
    "pod",
    "deployment",
    "statefulset",
    "leaderworkerset.x-k8s.io/leaderworkerset",
)
"""The chart's default integrations (v0.19.2), JobSet among them: written out so that a chart
upgrade dropping one can't silently stop Kueue from admitting JobSets (a test compares them)."""


def kueue_config() -> str:
    """Kueue's Configuration: the chart's default (`managerConfig.controllerManagerConfigYaml`)
    with the integrations written explicitly."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        "integrations": {"frameworks": list(KUEUE_FRAMEWORKS)},
    }
    return yaml.safe_dump(config, sort_keys=False)


class Queues(Module):
    """Kueue (chart pinned) admits training jobs against team quotas instead of letting them pile
    up as Pending pods: each team's ClusterQueue has a nominal GPU quota per flavor and borrows
    idle quota of its cohort, which the lender reclaims by preemption when it needs it back."""

    def __init__(self, target: Target, args: QueuesArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-queues"
        super().__init__(component_type("queues", "Queues"), name, None, placed(target, opts))
        provider = target.provider
        # The API server calls Kueue's admission webhook (pod port 9443); Prometheus scrapes metrics.
        namespace = platform_namespace(
            f"{name}-ns", NAMESPACE, pod_security("baseline", "restricted"), [on_port(9443), from_namespace(args.monitoring_namespace)], self, provider
        )
        # The chart's ServiceMonitor lets Prometheus scrape Kueue's queue metrics (the backlog
        # alert reads them); it needs the monitoring CRDs, so Queues is created after Monitoring.
        values: dict = {"enablePrometheus": True, "metrics": {"prometheusNamespace": args.monitoring_namespace}}
        if args.jobset:
            values["managerConfig"] = {"controllerManagerConfigYaml": kueue_config()}
        kueue = pinned_release(f"{name}-kueue", "kueue", NAMESPACE, values, child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        after = child(self, provider, depends_on=[kueue])

        def resource(kind: str, logical: str, metadata: dict, **body) -> pulumi.CustomResource:
            # Registered like the SDK's CustomResource does, with top-level fields besides `spec`
            # (a WorkloadPriorityClass has `value` and `description`, no spec).
            api = "kueue.x-k8s.io/v1beta2"
            props = {"apiVersion": api, "kind": kind, "metadata": {**metadata, "labels": MANAGED_BY}, **body}
            return pulumi.CustomResource(f"kubernetes:{api}:{kind}", logical, props, opts=after)

        for tier, (value, _) in TIERS.items():
            resource("WorkloadPriorityClass", f"{name}-priority-{tier}", {"name": priority_class(tier)}, value=value, description=f"hybrid-ai {tier} workloads")
        for flavor in args.flavors:
            resource("ResourceFlavor", f"{name}-flavor-{flavor.name}", {"name": flavor.name}, spec={"nodeLabels": flavor.node_labels, "tolerations": [GPU_TOLERATION]})
        for team in args.teams:
            covered = sorted({r for quotas in team.quotas.values() for r in quotas})
            resource(
                "ClusterQueue",
                f"{name}-{team.name}",
                {"name": team.name},
                spec={
                    "cohortName": args.cohort,
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": team.namespace}},
                    "queueingStrategy": "BestEffortFIFO",
                    "resourceGroups": [
                        {
                            "coveredResources": covered,
                            "flavors": [
                                {"name": flavor.name, "resources": [{"name": r, "nominalQuota": team.quotas.get(flavor.name, {}).get(r, "0")} for r in covered]}
                                for flavor in args.flavors
                            ],
                        }
                    ],
                    # Borrowing is what turns idle quota into utilization; reclaiming keeps it fair.
                    "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
                    "flavorFungibility": {"whenCanBorrow": "TryNextFlavor", "whenCanPreempt": "TryNextFlavor"},
                },
            )
            resource("LocalQueue", f"{name}-{team.name}-local", {"name": LOCAL_QUEUE, "namespace": team.namespace}, spec={"clusterQueue": team.name})
        self.register_outputs({})
