"""GpuNodePools: the GPU capacity of a cloud burst pool, as Karpenter NodePools that start at zero."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.cloud import GpuNodePool
from hybridai.recorded import CAPACITY_TYPE_KEY, GPU_MODEL_LABEL, GPU_RESOURCE, INSTANCE_TYPE_KEY, NODE_GROUP_LABEL, NODE_ROLE_LABEL, ROLE_GPU_TRAINING, component_type
from hybridai.modules.gpu_burn_in import STARTUP_TAINT
from hybridai.modules.base import MANAGED_BY, Args, Module, child, placed
from hybridai.modules.target import Target

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
"""Only pods that tolerate it (GPU workloads) land on GPU nodes."""


class NodePoolArgs(Args):
    """One GPU node pool: the stack's pool and the capacity plan's limit for it."""

    pool: GpuNodePool
    """The pool as the stack configures it: name, instance types, capacity types, disk, disruption."""
    gpu_limit: int
    """Most GPUs the pool's nodes may hold at once, as the capacity plan sized it."""


class GpuNodePoolsArgs(Args):
    """The burst pool's GPU node pools and how all their nodes boot."""

    pools: tuple[NodePoolArgs, ...]
    """Each NodePool (and its EC2NodeClass): the stack's pool with the GPU limit the capacity plan gave it."""
    ami_alias: str
    """The EKS-optimized AL2023 AMI release GPU nodes boot (`al2023@vYYYYMMDD`)."""
    tags: dict[str, str]
    """Tags on every instance, volume and interface Karpenter launches (cost allocation, ownership)."""
    burn_in: bool = False
    """New nodes join with the burn-in's startup taint (modules/gpu_burn_in.py), removed when their
    GPUs pass; default: off, they take work at once (the stack's `gpuHealth.burnIn.enabled` is on)."""


class GpuNodePools(Module):
    """Per GPU class an EC2NodeClass and a NodePool on the EKS cluster. Nodes boot the pinned
    EKS-optimized AL2023 AMI (Karpenter picks its NVIDIA variant for GPU instances) with IMDSv2
    required at hop limit 1 (pods can't borrow the node's credentials), an encrypted gp3 root
    volume and no public address, in the cluster's private subnets and node security group. The
    NodePool buys spot first and on-demand when spot is short, taints its nodes for GPU workloads,
    labels them for Kueue's flavors and the cost model, never holds more GPUs than its limit, and
    removes only empty nodes — running training is never consolidated away."""

    def __init__(
        self,
        target: Target,
        args: GpuNodePoolsArgs,
        node_role: pulumi.Input[str],
        subnet_ids: list[pulumi.Input[str]],
        security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        name = f"{target.prefix}-gpu-node-pools"
        super().__init__(component_type("gpu_node_pools", "GpuNodePools"), name, None, placed(target, opts))
        provider = target.provider
        self.node_pools = {}
        for sized in args.pools:
            pool = sized.pool
            node_class = k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-class",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata={"name": pool.name, "labels": MANAGED_BY},
                spec=_node_class(pool, args, node_role, subnet_ids, security_group_id),
                opts=child(self, provider),
            )
            self.node_pools[pool.name] = k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata={"name": pool.name, "labels": MANAGED_BY},
                spec=_node_pool(sized, args.burn_in),
                opts=child(self, provider, depends_on=[node_class]),
            )
        self.register_outputs({"nodePools": sorted(self.node_pools)})


def _node_class(pool: GpuNodePool, args: GpuNodePoolsArgs, node_role: pulumi.Input[str], subnet_ids: list[pulumi.Input[str]], security_group_id: pulumi.Input[str]) -> dict:
    """How a pool's nodes boot: the pinned AMI, IMDSv2 at one hop, an encrypted root volume, no
    public address, in the private subnets and the node security group."""
    return {
        # The node role (Karpenter makes its instance profile).
        "role": node_role,
        "amiSelectorTerms": [{"alias": args.ami_alias}],
        "subnetSelectorTerms": [{"id": subnet} for subnet in subnet_ids],
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        "associatePublicIPAddress": False,
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": f"{pool.disk_gb}Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}
        ],
        "tags": args.tags,
    }


def _node_pool(sized: NodePoolArgs, burn_in: bool) -> dict:
    """What a pool's nodes are (labels, instance and capacity types, taints) and how many GPUs and
    disruptions it allows."""
    pool = sized.pool
    # Karpenter applies a startup taint to the nodes it launches and plans pods onto them as if it
    # weren't there (pods needn't tolerate it): the burn-in removes it.
    startup = {"startupTaints": [STARTUP_TAINT]} if burn_in else {}
    return {
        "template": {
            "metadata": {"labels": {NODE_ROLE_LABEL: ROLE_GPU_TRAINING, NODE_GROUP_LABEL: pool.name, GPU_MODEL_LABEL: pool.gpu_model}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.name},
                "requirements": [
                    {"key": INSTANCE_TYPE_KEY, "operator": "In", "values": list(pool.instance_types)},
                    {"key": CAPACITY_TYPE_KEY, "operator": "In", "values": list(pool.capacity_types)},
                ],
                "taints": [GPU_TAINT],
                **startup,
                "expireAfter": pool.expire_after,
            },
        },
        # The bound on spend: never more GPUs than the capacity plan sized the pool for.
        "limits": {GPU_RESOURCE: str(sized.gpu_limit)},
        "disruption": {
            # Empty nodes only: a node running training is never consolidated away.
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": pool.consolidate_after,
            # At most one node in ten is replaced at a time (expiry, drift).
            "budgets": [{"nodes": "10%"}],
        },
    }
