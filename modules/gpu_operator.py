"""GpuOperator: the NVIDIA GPU Operator on one target, with its MIG and device-plugin config."""
from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from hybridai.recorded import GPU_COUNT_LABEL, GPU_MODEL_LABEL, GPU_POOL_LABEL, MIG_ALL_DISABLED, MIG_CONFIG_KEY, MIG_CONFIG_LABEL, component_type
from hybridai.modules.base import MANAGED_BY, Args, Module, child, from_namespace, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.target import Target

MIG_CONFIG_MAP = "hybridai-mig-config"
TIME_SLICING_CONFIG_MAP = "hybridai-time-slicing"


class GpuNodeArgs(Args):
    name: str
    """Kubernetes node name."""
    pool: str
    gpu_model: str
    mig_config: str
    """Entry of the mig-manager config this node applies (`all-disabled` for whole GPUs)."""
    gpus: int
    """GPUs in the node (a label for inventory and cost showback)."""


class GpuOperatorArgs(Args):
    namespace: str = "gpu-operator"
    """The operator's namespace: the one namespace labelled `privileged`, because the driver,
    container toolkit and device plugin must reach the host."""
    driver: bool = True
    """Install the NVIDIA driver from the operator; off where the node image ships it."""
    toolkit: bool = True
    """Install the NVIDIA container toolkit; off where the node image ships it."""
    toolkit_env: dict[str, str] = {}
    """Toolkit environment, e.g. containerd config and socket paths for k3s and RKE2."""
    cdi: bool = True
    nfd: bool = True
    dcgm_exporter: bool = True
    mig_strategy: Literal["none", "single", "mixed"] = "none"
    mig_configs: dict[str, list[dict[str, Any]]] = {}
    """mig-manager configs by name: mig-parted entries, each a set of `devices` (`all` or GPU
    indices) with MIG on or off and its `mig-devices` (profile → instances per GPU)."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus may scrape the DCGM exporter (the namespace's only other inbound traffic)."""
    time_slicing_replicas: int | None = None
    nodes: tuple[GpuNodeArgs, ...] = ()
    """GPU nodes to label with their pool, model and MIG config."""


class GpuOperator(Module):
    """The GPU Operator Helm release (pinned in hybridai/data/versions.yaml) in its own namespace,
    the mig-manager and time-slicing ConfigMaps it reads, and the labels that select a MIG layout
    on each GPU node."""

    def __init__(self, target: Target, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-gpu-operator"
        super().__init__(component_type("gpu_operator", "GpuOperator"), name, None, placed(target, opts))
        provider = target.provider

        # Privileged on purpose and only here: drivers and toolkit install on the host. Inbound:
        # only Prometheus scraping the DCGM exporter.
        namespace = platform_namespace(f"{name}-ns", args.namespace, pod_security("privileged"), [from_namespace(args.monitoring_namespace)], self, provider)
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
    if args.toolkit_env:
        values["toolkit"]["env"] = [{"name": k, "value": v} for k, v in sorted(args.toolkit_env.items())]
    if args.mig_configs:
        values["migManager"] = {"enabled": True, "config": {"name": MIG_CONFIG_MAP, "default": MIG_ALL_DISABLED}}
    else:
        values["migManager"] = {"enabled": False}
    if args.time_slicing_replicas:
        values["devicePlugin"] = {"config": {"name": TIME_SLICING_CONFIG_MAP, "default": "any"}}
    return values
