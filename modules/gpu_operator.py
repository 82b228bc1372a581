"""GpuOperator: the NVIDIA GPU Operator on one target, with its MIG and device-plugin config."""
from __future__ import annotations

from typing import Any, Iterable, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from hybridai import catalog
from hybridai.config.components import GpuOperatorSettings, OnpremCluster
from hybridai.config.workloads import ServedModel
from hybridai.recorded import MLOPS_STEP_LABEL, GPU_COUNT_LABEL, GPU_MODEL_LABEL, GPU_POOL_LABEL, MIG_ALL_DISABLED, MIG_CONFIG_KEY, MIG_CONFIG_LABEL, component_type
from hybridai.modules.gpu_burn_in import TAINT_KEY as BURN_IN_TAINT
from hybridai.modules.base import GPU_TOLERATION, MANAGED_BY, Args, Module, child, from_namespace, on_port, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.target import Target

MIG_CONFIG_MAP = "hybridai-mig-config"
TIME_SLICING_CONFIG_MAP = "hybridai-time-slicing"
DCGM_PORT = 5555
"""The standalone DCGM hostengine's port (the chart's `nvidia-dcgm` Service)."""


class GpuNodeArgs(Args):
    name: str
    """Kubernetes node name."""
    pool: str
    """GPU pool it belongs to (a label Kueue flavors and cost showback select by)."""
    gpu_model: str
    """Its GPUs' model (a label training jobs select memory by)."""
    mig_config: str
    """Entry of the mig-manager config this node applies (`all-disabled` for whole GPUs)."""
    gpus: int
    """GPUs in the node (a label for inventory and cost showback)."""


class DriverUpgradeArgs(Args):
    """How the operator rolls a new driver over the GPU nodes (`driver.upgradePolicy`) without
    taking a pool down (docs/operations.md#driver-upgrades)."""

    max_parallel: int
    """Nodes upgraded at once (`maxParallelUpgrades`, and `maxUnavailable` as the same absolute
    number): see `of`."""
    training_wait_seconds: int
    """How long a node's upgrade waits for its training pods to finish (`waitForCompletion`), the
    stack's `gpuHealth.trainingDrainMinutes`; then the node is drained like any other."""
    drain_timeout_seconds: int = 600
    """How long the drain before the driver reload may take (default: 10 minutes, twice the chart's
    300 s, room for a model server's PodDisruptionBudget to let its pods move one at a time); a
    drain that times out leaves that node on the old driver and the upgrade reports it."""

    @classmethod
    def of(cls, gpu_nodes: int, serving_minimum: int, training_wait_minutes: int) -> DriverUpgradeArgs:
        """At most a quarter of the `gpu_nodes` at once (the chart's own default share, 25 %, rounded
        down), and never so many that fewer nodes stay up than `serving_minimum` (the most replicas a
        production model keeps, spread one to a node); one node at a time at least."""
        return cls(max_parallel=max(1, min(gpu_nodes // 4, gpu_nodes - serving_minimum)), training_wait_seconds=training_wait_minutes * 60)


class GpuOperatorArgs(Args):
    namespace: str = "gpu-operator"
    """The operator's namespace: the one namespace labelled `privileged`, because the driver,
    container toolkit and device plugin must reach the host (default: the stack's default)."""
    driver: bool = True
    """Install the NVIDIA driver from the operator (default); off where the node image ships it."""
    toolkit: bool = True
    """Install the NVIDIA container toolkit (default); off where the node image ships it."""
    toolkit_env: dict[str, str] = {}
    """Toolkit environment, e.g. containerd config and socket paths for k3s and RKE2; default: none,
    containerd where kubeadm keeps it."""
    cdi: bool = True
    """Inject GPUs into containers through the Container Device Interface (default: on, the stack's)."""
    nfd: bool = True
    """Deploy node-feature-discovery, which labels GPU nodes (default); off where the cluster runs its own."""
    dcgm_exporter: bool = True
    """Export GPU metrics with DCGM (default): the GPU alerts, dashboards and showback read them."""
    mig_strategy: Literal["none", "single", "mixed"] = "none"
    """How MIG slices are advertised (the capacity plan's decision); default: `none`, whole GPUs."""
    mig_configs: dict[str, list[dict[str, Any]]] = {}
    """mig-manager configs by name: mig-parted entries, each a set of `devices` (`all` or GPU
    indices) with MIG on or off and its `mig-devices` (profile → instances per GPU). Default: none,
    no mig-manager."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus may scrape the DCGM exporter (the namespace's only other inbound traffic)."""
    time_slicing_replicas: int | None = None
    """Pods that may share one whole GPU; default: None, no time-slicing (it isolates neither memory nor faults)."""
    nodes: tuple[GpuNodeArgs, ...] = ()
    """GPU nodes to label with their pool, model and MIG config."""
    upgrade: DriverUpgradeArgs | None = None
    """How a driver upgrade rolls over the nodes, where the operator installs the driver; default:
    None, the chart's policy (or no driver of the operator's)."""
    tolerate_burn_in: bool = False
    """The operator's node agents (and node-feature-discovery's worker) tolerate the burn-in taint
    (modules/gpu_burn_in.py), `pending` or `failed`: a DaemonSet tolerates no custom taint on its
    own, and the burn-in waits for the GPUs they advertise. Default: off, no burn-in on the cluster."""
    dcgm_clients: tuple[str, ...] = ()
    """Namespaces reading GPU health from DCGM (NVSentinel's): the operator then runs DCGM's
    hostengine on its own (`dcgm.enabled`, the `nvidia-dcgm` Service on port 5555, which the exporter
    reads too) and admits them on that port; default: none, the exporter's embedded hostengine."""

    @classmethod
    def of(
        cls,
        settings: GpuOperatorSettings,
        cluster: OnpremCluster,
        monitoring_namespace: str,
        mig_strategy: str,
        mig_configs: dict[str, list[dict[str, Any]]],
        nodes: Iterable[Any],
        dcgm_clients: tuple[str, ...] = (),
        models: Iterable[ServedModel] = (),
        training_wait_minutes: int = 60,
        burn_in: bool = False,
    ) -> GpuOperatorArgs:
        """The operator on a cluster hybrid-ai sets up the GPUs of (data center, plant, k3s/RKE2
        site): the driver unless the nodes' image has it, the toolkit pointed at the distribution's
        containerd, and the capacity plan's MIG strategy, layouts and `nodes` (each with a name, pool,
        GPU model, MIG config and GPU count); `dcgm_clients`: who reads DCGM's hostengine. Where
        the operator installs the driver, its upgrades roll over the nodes by `DriverUpgradeArgs.of`,
        keeping up as many nodes as the most replicas one of the `models` served here keeps
        (default: none served, one) and waiting `training_wait_minutes` for training pods; `burn_in`:
        new GPU nodes join with the burn-in taint (default: no burn-in)."""
        nodes = tuple(GpuNodeArgs.model_validate(node, from_attributes=True) for node in nodes)
        serving_minimum = max((m.min_replicas for m in models), default=1)
        driver = cluster.driver != "preinstalled"
        return cls(
            namespace=settings.namespace,
            monitoring_namespace=monitoring_namespace,
            driver=driver,
            toolkit=True,
            toolkit_env=catalog.toolkit_env(cluster.distribution),
            cdi=settings.cdi,
            nfd=settings.nfd,
            dcgm_exporter=settings.dcgm_exporter,
            mig_strategy=mig_strategy,
            mig_configs=mig_configs,
            time_slicing_replicas=settings.time_slicing.replicas if settings.time_slicing else None,
            nodes=nodes,
            upgrade=DriverUpgradeArgs.of(len(nodes), serving_minimum, training_wait_minutes) if driver and nodes else None,
            dcgm_clients=dcgm_clients,
            tolerate_burn_in=burn_in,
        )

    @classmethod
    def on_eks(cls, settings: GpuOperatorSettings, monitoring_namespace: str, burn_in: bool = False) -> GpuOperatorArgs:
        """The operator on the EKS burst pool: the EKS NVIDIA AMI ships the driver and container
        toolkit; the operator adds the rest, on whole GPUs. `burn_in`: the NodePools' nodes join
        with the burn-in taint (default: no burn-in)."""
        return cls(
            namespace=settings.namespace, monitoring_namespace=monitoring_namespace, driver=False, toolkit=False, cdi=settings.cdi, nfd=settings.nfd, tolerate_burn_in=burn_in
        )


class GpuOperator(Module):
    """The GPU Operator Helm release (pinned in hybridai/data/versions.yaml) in its own namespace,
    the mig-manager and time-slicing ConfigMaps it reads, and the labels that select a MIG layout
    on each GPU node."""

    def __init__(self, target: Target, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-gpu-operator"
        super().__init__(component_type("gpu_operator", "GpuOperator"), name, None, placed(target, opts))
        provider = target.provider

        # Privileged on purpose and only here: drivers and toolkit install on the host. Inbound:
        # only Prometheus scraping the DCGM exporter, and DCGM's readers on its hostengine's port.
        ingress = [from_namespace(args.monitoring_namespace), *({**from_namespace(ns), **on_port(DCGM_PORT)} for ns in args.dcgm_clients)]
        namespace = platform_namespace(f"{name}-ns", args.namespace, pod_security("privileged"), ingress, self, provider)
        config_maps = [
            k8s.core.v1.ConfigMap(
                f"{name}-{suffix}",
                metadata={"name": object_name, "namespace": args.namespace, "labels": MANAGED_BY},
                data={key: yaml.safe_dump(content, sort_keys=False)},
                opts=child(self, provider, depends_on=[namespace]),
            )
            for suffix, object_name, key, content in operator_config_maps(args)
        ]
        self.release = pinned_release(f"{name}-release", "gpu-operator", args.namespace, gpu_operator_values(args), child(self, provider, depends_on=[namespace, *config_maps]), gitops=target.gitops)

        # Server-side apply patches only these labels; the rest of each Node stays with the kubelet.
        for node in args.nodes:
            k8s.core.v1.NodePatch(
                f"{name}-node-{node.name}",
                metadata={
                    "name": node.name,
                    "labels": {
                        GPU_POOL_LABEL: node.pool,
                        GPU_MODEL_LABEL: node.gpu_model,
                        GPU_COUNT_LABEL: str(node.gpus),
                        MIG_CONFIG_LABEL: node.mig_config,
                    },
                },
                opts=child(self, provider, depends_on=[self.release]),
            )

        self.register_outputs({"namespace": args.namespace, "release": self.release.name})


def operator_config_maps(args: GpuOperatorArgs) -> list[tuple[str, str, str, dict]]:
    """The ConfigMaps the operator reads, each (resource suffix, name, key, YAML document under the
    key): mig-manager's layouts where nodes are partitioned, the device plugin's time-slicing."""
    config_maps = []
    if args.mig_configs:
        mig_parted = {
            "version": "v1",
            "mig-configs": {
                MIG_ALL_DISABLED: [{"devices": "all", "mig-enabled": False}],
                **dict(sorted(args.mig_configs.items())),
            },
        }
        config_maps.append(("mig-config", MIG_CONFIG_MAP, MIG_CONFIG_KEY, mig_parted))
    if args.time_slicing_replicas:
        sharing = {
            "version": "v1",
            "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": args.time_slicing_replicas}]}},
        }
        config_maps.append(("time-slicing", TIME_SLICING_CONFIG_MAP, "any", sharing))
    return config_maps


def gpu_operator_values(args: GpuOperatorArgs) -> dict:
    """The GPU Operator chart's values: which components it installs, and the ConfigMaps
    (`operator_config_maps`) its mig-manager and device plugin read."""
    values: dict = {
        "driver": {"enabled": args.driver},
        "toolkit": {"enabled": args.toolkit},
        "cdi": {"enabled": args.cdi},
        "nfd": {"enabled": args.nfd},
        "mig": {"strategy": args.mig_strategy},
        "dcgmExporter": {
            "enabled": args.dcgm_exporter,
            # Scraped by the Monitoring module's own ServiceMonitor, which is planned, validated
            # against its CRD and created after the CRDs exist; the operator's would be neither.
            "serviceMonitor": {"enabled": False},
        },
        # The chart's Pod Security Admission labelling stays off: GpuOperator's namespace carries the labels.
        "psa": {"enabled": False},
    }
    if args.tolerate_burn_in:
        # The chart's lists are replaced, not merged: its own entries, then the burn-in taint's.
        burn_in = {"key": BURN_IN_TAINT, "operator": "Exists", "effect": "NoSchedule"}
        values["daemonsets"] = {"tolerations": [GPU_TOLERATION, burn_in]}
        if args.nfd:
            control_plane = {"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "", "effect": "NoSchedule"}
            values["node-feature-discovery"] = {"worker": {"tolerations": [control_plane, GPU_TOLERATION, burn_in]}}
    if args.dcgm_clients:
        values["dcgm"] = {"enabled": True}
    if args.driver and args.upgrade is not None:
        values["driver"]["upgradePolicy"] = driver_upgrade_policy(args.upgrade)
    if args.toolkit_env:
        values["toolkit"]["env"] = [{"name": k, "value": v} for k, v in sorted(args.toolkit_env.items())]
    if args.mig_configs:
        values["migManager"] = {"enabled": True, "config": {"name": MIG_CONFIG_MAP, "default": MIG_ALL_DISABLED}}
    else:
        values["migManager"] = {"enabled": False}
    if args.time_slicing_replicas:
        values["devicePlugin"] = {"config": {"name": TIME_SLICING_CONFIG_MAP, "default": "any"}}
    return values


def driver_upgrade_policy(upgrade: DriverUpgradeArgs) -> dict:
    """`driver.upgradePolicy`: automatic, `max_parallel` nodes at a time, each waiting for its
    training pods and then drained through the Eviction API (so PodDisruptionBudgets hold)."""
    return {
        "autoUpgrade": True,
        "maxParallelUpgrades": upgrade.max_parallel,
        "maxUnavailable": upgrade.max_parallel,
        # Training pods (the trainer step of every catalog job) finish or checkpoint first.
        "waitForCompletion": {"timeoutSeconds": upgrade.training_wait_seconds, "podSelector": f"{MLOPS_STEP_LABEL}=train"},
        # The operator's own GPU-pod deletion doesn't honour PodDisruptionBudgets; a drain does.
        # Not forced (pods without a controller stay and the node waits), emptyDir volumes (model
        # caches) go with their pods.
        "drain": {"enable": True, "force": False, "timeoutSeconds": upgrade.drain_timeout_seconds, "deleteEmptyDir": True},
    }
