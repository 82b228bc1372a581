"""DevicePlugin: the NVIDIA device plugin alone, where the OS image ships driver and runtime."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.edge import EdgeSite
from hybridai.recorded import GPU_COUNT_LABEL, GPU_MODEL_LABEL, GPU_POOL_LABEL, component_type
from hybridai.modules.base import (
    GPU_TOLERATION,
    MANAGED_BY,
    RESTRICTED_CONTAINER,
    RUNTIME_DEFAULT_SECCOMP,
    Args,
    Module,
    child,
    from_namespace,
    placed,
    platform_namespace,
    pod_security,
)
from hybridai.modules.target import Target


class DevicePluginArgs(Args):
    namespace: str
    """The one privileged namespace of the cluster, as the GPU Operator's is elsewhere."""
    pool: str
    """GPU pool label of the nodes (the site's name at the edge)."""
    gpu_model: str
    """GPU model labelled on the nodes (what training and cost showback select by)."""
    nodes: tuple[str, ...]
    """The GPU nodes: labelled with pool, model and GPU count; the plugin runs on them."""
    gpus_per_node: int
    """GPUs of each node (its count label)."""
    registry_mirror: str | None
    """Registry the plugin's image is pulled through (the site's mirror); None: its upstream registry."""
    image_digest: str | None = None
    """Digest of the plugin's image at the mirror (`sha256:…`): pulled by digest when given; default: by tag."""
    monitoring_namespace: str
    """Whose Prometheus may reach the namespace (its only other inbound traffic)."""

    @classmethod
    def of(cls, site: EdgeSite, namespace: str, monitoring_namespace: str) -> DevicePluginArgs:
        """The plugin of a Jetson site: its nodes as one pool named after it, its image through the site's mirror."""
        return cls(
            namespace=namespace,
            pool=site.name,
            gpu_model=site.gpu_model,
            nodes=tuple(site.nodes),
            gpus_per_node=site.gpus_per_node,
            registry_mirror=site.registry_mirror,
            image_digest=site.image_digests.get("device-plugin"),
            monitoring_namespace=monitoring_namespace,
        )


class DevicePlugin(Module):
    """Jetson: JetPack ships driver and runtime; the device plugin alone advertises the GPU, with
    Tegra discovery (Jetson GPUs aren't visible to NVML). The GPU nodes get the same pool, model and
    count labels the GPU Operator module gives them elsewhere."""

    def __init__(self, target: Target, args: DevicePluginArgs, opts: pulumi.ResourceOptions | None = None):
        # Logical names as when the edge site created these itself, so deployed sites keep them.
        name = f"{target.prefix}-edge"
        # Its children are named `<target>-edge-…`: so is the component, so they follow a renamed site.
        super().__init__(component_type("device_plugin", "DevicePlugin"), name, None, placed(target, opts))
        # They were children of the site's EdgeSite component.
        self.children_were_under = pulumi.create_urn(name, component_type("edge_site", "EdgeSite"), parent=target)
        provider = target.provider
        # The device plugin mounts the kubelet's device-plugin socket directory (hostPath).
        namespace = platform_namespace(f"{name}-gpu-ns", args.namespace, pod_security("privileged"), [from_namespace(args.monitoring_namespace)], self, provider)
        labels = {"app.kubernetes.io/name": "nvidia-device-plugin"}
        resources = {"cpu": "50m", "memory": "64Mi"}
        k8s.apps.v1.DaemonSet(
            f"{name}-device-plugin",
            metadata={"name": "nvidia-device-plugin", "namespace": args.namespace, "labels": {**MANAGED_BY, **labels}},
            spec={
                "selector": {"matchLabels": labels},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "priorityClassName": "system-node-critical",
                        "nodeSelector": {GPU_POOL_LABEL: args.pool},
                        "tolerations": [GPU_TOLERATION],
                        # Root (no runAsNonRoot): the plugin serves its socket in the kubelet's
                        # root-owned device-plugins folder.
                        "securityContext": RUNTIME_DEFAULT_SECCOMP,
                        "containers": [
                            {
                                "name": "nvidia-device-plugin",
                                "image": catalog.image("device-plugin", args.registry_mirror, args.image_digest),
                                "env": [{"name": "DEVICE_DISCOVERY_STRATEGY", "value": "tegra"}, {"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                                "resources": {"requests": resources, "limits": {"cpu": "100m", "memory": "128Mi"}},
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                            }
                        ],
                        "volumes": [{"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"}}],
                    },
                },
            },
            opts=child(self, provider, depends_on=[namespace]),
        )
        for node in args.nodes:
            k8s.core.v1.NodePatch(
                f"{name}-node-{node}",
                metadata={"name": node, "labels": {GPU_POOL_LABEL: args.pool, GPU_MODEL_LABEL: args.gpu_model, GPU_COUNT_LABEL: str(args.gpus_per_node)}},
                opts=child(self, provider),
            )
        self.register_outputs({"namespace": args.namespace})
