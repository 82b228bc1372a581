"""NvSentinel: NVIDIA NVSentinel on the on-prem cluster — GPU faults become node conditions, the
faulted node is cordoned and drained by the stack's drain policy (docs/design/gpu-health.md)."""
from __future__ import annotations

from typing import Iterable

import pulumi

from hybridai import catalog
from hybridai.config.components import Team
from hybridai.config.gpu_health import GpuHealthSettings
from hybridai.config.workloads import TrainingJob
from hybridai.recorded import component_type
from hybridai.modules.gpu_operator import DCGM_PORT
from hybridai.modules.base import Args, Module, child, from_namespace, on_port, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.target import Target

METRICS_PORT = 2112
"""Where every NVSentinel component serves its metrics (`global.metricsPort`), scraped through the chart's PodMonitors."""
SERVING_EVICTION_SECONDS = 60
"""Grace period of a serving pod's eviction (`evictionTimeoutInSeconds`, Immediate mode only): the
chart's default, long enough for a model server to finish its requests in flight."""


class NvSentinelArgs(Args):
    namespace: str = "nvsentinel"
    """Its namespace, labelled privileged: the syslog monitor reads the host journal (hostPath)."""
    gpu_operator_namespace: str = "gpu-operator"
    """Where the GPU Operator runs DCGM's hostengine, which the GPU health monitor reads (`nvidia-dcgm.<ns>.svc`)."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes its metrics (the namespace's only other inbound traffic)."""
    training_namespaces: tuple[str, ...] = ()
    """Namespaces of the teams that train: on a faulted node their pods get `training_drain_minutes`
    to finish or checkpoint and exit (DeleteAfterTimeout), then are deleted; default: none."""
    evicted_namespaces: tuple[str, ...] = ()
    """The other teams' namespaces (serving, research): their pods are evicted at once through the
    Eviction API, so a production model's PodDisruptionBudget (modules/serving.py) keeps it at its
    minimum replicas while its pods move; default: none."""
    training_drain_minutes: int = 60
    """How long training pods get (the stack's `gpuHealth.trainingDrainMinutes`; default: its default)."""

    @classmethod
    def of(cls, settings: GpuHealthSettings, teams: Iterable[Team], jobs: Iterable[TrainingJob], gpu_operator_namespace: str, monitoring_namespace: str) -> NvSentinelArgs:
        """NVSentinel for the on-prem cluster's `teams`: the namespaces of teams that train (tier
        `training`, or a catalog job among `jobs` is theirs) drained with the stack's wait, the
        others' (serving, research) evicted within their disruption budgets. The drainer's modes are
        per namespace: a team that serves and trains gets the wait for its serving pods too (its
        models' other replicas, spread over nodes, keep serving meanwhile)."""
        teams = list(teams)
        trains = {t.name for t in teams if t.tier == "training"} | {job.team for job in jobs}
        return cls(
            namespace=settings.namespace,
            gpu_operator_namespace=gpu_operator_namespace,
            monitoring_namespace=monitoring_namespace,
            training_namespaces=tuple(sorted(t.namespace for t in teams if t.name in trains)),
            evicted_namespaces=tuple(sorted(t.namespace for t in teams if t.name not in trains)),
            training_drain_minutes=settings.training_drain_minutes,
        )


class NvSentinel(Module):
    """The pinned NVSentinel chart in its own privileged namespace: the GPU health monitor (DCGM
    health watches) and the syslog health monitor (XIDs, SXIDs, a GPU fallen off the bus in the
    kernel log) report health events; the platform connector turns them into node conditions and
    events; fault quarantine cordons the node on a fatal one; the node drainer empties it by the
    drain policy; its MongoDB store (a three-member replica set, certificates from cert-manager)
    keeps the events. Fault remediation (reboot, GPU reset) stays off: on-call is paged by the XID
    alerts with the node, GPU and XID (docs/operations.md#gpu-health)."""

    def __init__(self, target: Target, args: NvSentinelArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-nvsentinel"
        super().__init__(component_type("nvsentinel", "NvSentinel"), name, None, placed(target, opts))
        provider = target.provider
        # Protected: the namespace holds the MongoDB store's volumes (the fault history).
        namespace = platform_namespace(
            f"{name}-ns", args.namespace, pod_security("privileged"), [{**from_namespace(args.monitoring_namespace), **on_port(METRICS_PORT)}], self, provider,
            protect=True, retain_on_delete=True,
        )
        self.release = pinned_release(f"{name}-release", "nvsentinel", args.namespace, nvsentinel_values(args), child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        self.register_outputs({"namespace": args.namespace, "release": self.release.name})


def drain_policy(args: NvSentinelArgs) -> list[dict[str, str]]:
    """The node drainer's `userNamespaces`, first match wins: training namespaces wait, the other
    teams' are evicted within their budgets, any other (a platform namespace) is left to finish."""
    return [
        *({"name": ns, "mode": "DeleteAfterTimeout"} for ns in args.training_namespaces),
        *({"name": ns, "mode": "Immediate"} for ns in args.evicted_namespaces),
        {"name": "*", "mode": "AllowCompletion"},
    ]


def nvsentinel_values(args: NvSentinelArgs) -> dict:
    """The chart's values: detection, quarantine and drain on, with their datastore; remediation off."""
    return {
        "global": {
            # The chart's default tag is `main`, a moving one: every component runs the pinned release.
            "image": {"tag": catalog.chart("nvsentinel").version},
            # (The monitors' templates take the global endpoint over their own: `*.dcgmEndpoint`.)
            "dcgm": {"service": {"endpoint": f"nvidia-dcgm.{args.gpu_operator_namespace}.svc", "port": DCGM_PORT}},
            "faultQuarantine": {"enabled": True},
            "nodeDrainer": {"enabled": True},
            # Quarantine and drain read the health events from the store (MongoDB change streams).
            "mongodbStore": {"enabled": True},
            # Off: the janitor's reboot is a privileged Job (`chroot /host reboot`) and the chart maps
            # a GPU reset to a reboot; nothing restarts a node or GPU without the stack saying how.
            "faultRemediation": {"enabled": False},
            "janitor": {"enabled": False},
        },
        "node-drainer": {
            # Platform pods on a GPU node stay (DaemonSets aside, the drainer skips these namespaces).
            "systemNamespaces": f"^({args.namespace}|kube-system|{args.gpu_operator_namespace})$",
            "deleteAfterTimeoutMinutes": args.training_drain_minutes,
            "evictionTimeoutInSeconds": str(SERVING_EVICTION_SECONDS),
            "userNamespaces": drain_policy(args),
        },
    }
