"""GpuNodePools: per stack pool an EC2NodeClass (how its nodes boot) and a NodePool (what they are,
how many GPUs they may hold, how they are disrupted), each field that matters."""
from __future__ import annotations

import pytest

from hybridai.config.cloud import GpuNodePool
from hybridai.modules.gpu_node_pools import GpuNodePools, GpuNodePoolsArgs, NodePoolArgs
from hybridai.modules.target import Target, TargetArgs
from hybridai.recorded import gpu_node_pools
from tests.helpers import named, run_module

TAGS = {"hybrid-ai.io/stack": "t", "hybrid-ai.io/team": "platform"}
# As a stack file writes them (camelCase keys).
A100 = GpuNodePool.model_validate({"name": "a100", "instanceTypes": ["p4de.24xlarge"]})
H100 = GpuNodePool.model_validate({"name": "h100", "instanceTypes": ["p5.48xlarge"], "capacityTypes": ["on-demand"], "diskGb": 500, "consolidateAfter": "30m", "expireAfter": "168h"})


@pytest.fixture(scope="module")
def resources():
    # GIVEN two pools: a100 with the defaults (spot first), h100 on-demand only with its own disk and timings
    def program():
        target = Target("t", "training", TargetArgs(placement="cloud", context="training"))
        pools = (NodePoolArgs(pool=A100, gpu_limit=48), NodePoolArgs(pool=H100, gpu_limit=16))
        GpuNodePools(target, GpuNodePoolsArgs(pools=pools, ami_alias="al2023@v20251110", tags=TAGS), "t-karpenter-node", ["subnet-a", "subnet-b"], "sg-cluster")

    return run_module(program)


def test_each_node_pool_holds_at_most_the_gpus_the_capacity_plan_gave_it(resources) -> None:
    # THEN each NodePool's GPU limit is the one it was given (the bound on spend)
    assert named(resources, "NodePool", "a100").inputs["spec"]["limits"] == {"nvidia.com/gpu": "48"}
    assert named(resources, "NodePool", "h100").inputs["spec"]["limits"] == {"nvidia.com/gpu": "16"}


def test_node_pool_nodes_are_the_pools_instance_and_capacity_types_tainted_for_gpu_work(resources) -> None:
    a100 = named(resources, "NodePool", "a100").inputs["spec"]["template"]["spec"]
    h100 = named(resources, "NodePool", "h100").inputs["spec"]["template"]["spec"]
    # THEN the a100 pool buys spot first and on-demand when spot is short; h100 on-demand only
    assert {r["key"]: (r["operator"], r["values"]) for r in a100["requirements"]} == {
        "node.kubernetes.io/instance-type": ("In", ["p4de.24xlarge"]),
        "karpenter.sh/capacity-type": ("In", ["spot", "on-demand"]),
    }
    assert {r["key"]: r["values"] for r in h100["requirements"]}["karpenter.sh/capacity-type"] == ["on-demand"]
    # AND only pods tolerating the GPU taint land on either, each on its own EC2NodeClass
    assert a100["taints"] == h100["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert a100["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "a100"}
    assert (a100["expireAfter"], h100["expireAfter"]) == ("720h", "168h")


def test_node_pool_labels_its_nodes_for_kueue_and_the_cost_model(resources) -> None:
    labels = named(resources, "NodePool", "h100").inputs["spec"]["template"]["metadata"]["labels"]
    # THEN its nodes are training capacity of the pool, with the pool's GPU model
    assert labels == {"hybrid-ai.io/node-role": "gpu-training", "hybrid-ai.io/node-group": "h100", "hybrid-ai.io/gpu-model": "H100-80GB"}


def test_node_pool_removes_only_empty_nodes_a_tenth_at_a_time(resources) -> None:
    # THEN running training is never consolidated away, and expiry or drift replaces one node in ten at most
    assert named(resources, "NodePool", "a100").inputs["spec"]["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m", "budgets": [{"nodes": "10%"}]}
    assert named(resources, "NodePool", "h100").inputs["spec"]["disruption"]["consolidateAfter"] == "30m"


def test_nodes_boot_the_pinned_ami_with_imdsv2_at_one_hop_and_no_public_address(resources) -> None:
    spec = named(resources, "EC2NodeClass", "a100").inputs["spec"]
    # THEN the pinned AMI release, IMDSv2 required at hop limit 1 (pods can't reach the node's credentials)
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20251110"}]
    assert spec["metadataOptions"] == {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"}
    # AND no public address, in the given subnets and security group, with the given node role
    assert spec["associatePublicIPAddress"] is False
    assert spec["subnetSelectorTerms"] == [{"id": "subnet-a"}, {"id": "subnet-b"}]
    assert spec["securityGroupSelectorTerms"] == [{"id": "sg-cluster"}]
    assert spec["role"] == "t-karpenter-node"
    # AND everything Karpenter launches carries the stack's tags
    assert spec["tags"] == TAGS


def test_root_volume_is_encrypted_gp3_of_the_pools_size_deleted_with_the_node(resources) -> None:
    a100 = named(resources, "EC2NodeClass", "a100").inputs["spec"]["blockDeviceMappings"]
    h100 = named(resources, "EC2NodeClass", "h100").inputs["spec"]["blockDeviceMappings"]
    assert a100 == [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}]
    assert h100[0]["ebs"]["volumeSize"] == "500Gi" and h100[0]["ebs"]["encrypted"] is True


def test_each_node_pool_waits_for_its_node_class(resources) -> None:
    for pool in ("a100", "h100"):
        assert named(resources, "EC2NodeClass", pool).urn in named(resources, "NodePool", pool).dependencies


def test_the_recorded_node_pools_read_back_what_the_module_wrote(resources) -> None:
    # WHEN the cost model and the review read the recorded NodePools
    pools = {p.name: p for p in gpu_node_pools(r.record() for r in resources)}
    # THEN they find each pool's limit, GPU model, role, instance and capacity types as written
    assert (pools["a100"].gpu_limit, pools["a100"].gpu_model, pools["a100"].role) == (48, "A100-80GB", "gpu-training")
    assert (pools["h100"].instance_types, pools["h100"].capacity_types) == (("p5.48xlarge",), ("on-demand",))
