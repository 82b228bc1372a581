"""GpuNodeGroups: the GPU capacity of a cloud burst pool, as EKS managed node groups from zero."""
from __future__ import annotations

import pulumi

from hybridai.recorded import CAPACITY_LABEL, GPU_MODEL_LABEL, NODE_GROUP_LABEL, NODE_ROLE_LABEL, ON_DEMAND, ROLE_GPU_TRAINING, SPOT, component_type
from modules.base import Args, Module, former_training_pool, placed
from modules.eks_cluster import EksCluster
from modules.node_group import node_group
from modules.target import Target

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
"""Only pods that tolerate it (GPU workloads) land on GPU nodes."""


class NodeGroupArgs(Args):
    name: str
    instance_types: tuple[str, ...]
    gpu_model: str
    min_size: int
    max_size: int
    spot: bool
    fallback_max: int
    """Nodes of the on-demand fallback group (spot groups only); 0: none."""
    disk_gb: int


class GpuNodeGroupsArgs(Args):
    prefix: str
    cluster: str
    """Target name of the EKS cluster."""
    groups: tuple[NodeGroupArgs, ...]


def capacity_kinds(group: NodeGroupArgs) -> list[str]:
    """The capacity types a group runs, in the order they are tried: spot, then its on-demand fallback."""
    return ([SPOT, ON_DEMAND] if group.fallback_max else [SPOT]) if group.spot else [ON_DEMAND]


class GpuNodeGroups(Module):
    """Per GPU node group a spot group and an on-demand fallback, both scaling from zero, on the
    NVIDIA AMI, tainted `nvidia.com/gpu=true:NoSchedule`, labelled with their role, group, GPU model
    and capacity type (what Kueue's flavors and the cost model select)."""

    def __init__(self, target: Target, args: GpuNodeGroupsArgs, cluster: EksCluster, subnet_ids: list[pulumi.Input[str]], opts: pulumi.ResourceOptions | None = None):
        # Children keep the names they had under the TrainingPool component.
        name = f"{target.prefix}-{args.cluster}"
        super().__init__(component_type("gpu_node_groups", "GpuNodeGroups"), f"{name}-gpu-nodes", None, placed(target, opts))
        self.children_were_under = former_training_pool(target, args.cluster)
        physical = f"{args.prefix}-{args.cluster}"
        for group in args.groups:
            for kind in capacity_kinds(group):
                spot = kind == SPOT
                # The fallback group idles at zero; only the main group keeps the configured minimum.
                minimum = group.min_size if spot == group.spot else 0
                node_group(
                    self,
                    f"{name}-{group.name}-{kind}",
                    f"{physical}-{group.name}-{kind}",
                    provider=target.provider,
                    cluster=cluster.cluster,
                    role=cluster.node_role,
                    subnet_ids=subnet_ids,
                    depends_on=cluster.node_policies,
                    instance_types=list(group.instance_types),
                    ami_type="AL2023_x86_64_NVIDIA",
                    capacity="SPOT" if spot else "ON_DEMAND",
                    scaling={"desired_size": minimum, "min_size": minimum, "max_size": group.max_size if spot == group.spot else group.fallback_max},
                    labels={NODE_ROLE_LABEL: ROLE_GPU_TRAINING, NODE_GROUP_LABEL: group.name, GPU_MODEL_LABEL: group.gpu_model, CAPACITY_LABEL: kind},
                    taints=[GPU_TAINT],
                    disk_gb=group.disk_gb,
                )
        self.register_outputs({})
