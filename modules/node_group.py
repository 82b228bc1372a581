"""An EKS managed node group with its launch template: how every hybrid-ai node boots."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from hybridai.modules.base import options


def node_group(
    parent: pulumi.Resource,
    logical: str,
    physical: str,
    *,
    provider: pulumi.ProviderResource,
    cluster: aws.eks.Cluster,
    role: aws.iam.Role,
    subnet_ids: list,
    depends_on: list,
    instance_types: list[str],
    ami_type: str,
    capacity: str,
    scaling: dict,
    labels: dict[str, str],
    disk_gb: int,
    taints: list[dict] | None = None,
) -> aws.eks.NodeGroup:
    """A node group `physical` (logical name `logical`) of `parent`, its nodes booted from a launch
    template that locks down instance metadata and encrypts the root volume."""
    template = aws.ec2.LaunchTemplate(
        f"{logical}-lt",
        name=physical,
        # IMDSv2 only, one hop: processes on the node can read instance metadata, pods (one hop
        # further) can't, so they can't borrow the node role's credentials.
        metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
        # Encrypted with the account's EBS key: a customer key would need grants for the Auto
        # Scaling service-linked role, without which node groups fail to launch instances.
        block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"volume_size": disk_gb, "volume_type": "gp3", "encrypted": True, "delete_on_termination": True}}],
        update_default_version=True,
        opts=options(parent, provider=provider),
    )
    return aws.eks.NodeGroup(
        logical,
        cluster_name=cluster.name,
        node_group_name=physical,
        node_role_arn=role.arn,
        subnet_ids=subnet_ids,
        instance_types=instance_types,
        ami_type=ami_type,
        capacity_type=capacity,
        scaling_config=scaling,
        labels=labels,
        taints=taints or [],
        launch_template={"id": template.id, "version": template.latest_version.apply(str)},
        update_config={"max_unavailable": 1},
        # The autoscaler moves the desired size; a deploy must not reset it mid-training.
        opts=options(parent, provider=provider, depends_on=depends_on, ignore_changes=["scalingConfig.desiredSize"]),
    )
