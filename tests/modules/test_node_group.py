"""How every EKS managed node boots: IMDSv2 at one hop, an encrypted root volume, a size a deploy
never resets."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from hybridai.modules.node_group import node_group
from hybridai.modules.target import AwsScope, Target
from tests.helpers import of_type, run_module


def _system_nodes() -> list:
    def program() -> None:
        target = Target("t", "aws", AwsScope(prefix="t", cluster="training", region="eu-central-1", account_id="210987654321"))
        provider = target.provider
        parent = pulumi.ComponentResource("test:index:Parent", "parent", opts=pulumi.ResourceOptions(parent=target))
        cluster = aws.eks.Cluster("c", role_arn="arn:aws:iam::210987654321:role/c", vpc_config={"subnet_ids": ["subnet-1"]}, opts=pulumi.ResourceOptions(parent=parent, provider=provider))
        role = aws.iam.Role("r", assume_role_policy="{}", opts=pulumi.ResourceOptions(parent=parent, provider=provider))
        node_group(
            parent, "p-system", "p-system", provider=provider, cluster=cluster, role=role, subnet_ids=["subnet-1"], depends_on=[], instance_types=["m7i.large"],
            ami_type="AL2023_x86_64_STANDARD", capacity="ON_DEMAND", scaling={"min_size": 2, "max_size": 4, "desired_size": 2}, labels={"hybrid-ai.io/node-role": "system"}, disk_gb=50,
        )

    return run_module(program)


def test_nodes_boot_with_imdsv2_at_one_hop_and_an_encrypted_root_volume() -> None:
    # GIVEN a node group WHEN the program runs
    [template] = of_type(_system_nodes(), "aws:ec2/launchTemplate:LaunchTemplate")
    # THEN pods (a hop beyond the node) can't reach instance metadata, so can't borrow the node's role
    assert template.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    # AND the root volume is gp3, encrypted, of the size asked, gone with the instance
    [device] = template.inputs["blockDeviceMappings"]
    assert device["ebs"] == {"volumeSize": 50, "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}


def test_the_group_uses_its_template_and_a_deploy_never_resets_its_size() -> None:
    resources = _system_nodes()
    [group] = of_type(resources, "aws:eks/nodeGroup:NodeGroup")
    # THEN it is named as asked, replaces one node at a time, carries its labels and no taints
    assert (group.inputs["nodeGroupName"], group.inputs["capacityType"], group.inputs["updateConfig"]) == ("p-system", "ON_DEMAND", {"maxUnavailable": 1})
    assert group.inputs["labels"] == {"hybrid-ai.io/node-role": "system"} and group.inputs["taints"] == []
    assert group.inputs["scalingConfig"] == {"minSize": 2, "maxSize": 4, "desiredSize": 2}
