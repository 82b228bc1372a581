"""Karpenter: its node role, the controller's Pod Identity and scoped policy, the interruption queue
and its events, and the pinned chart on the system nodes."""
from __future__ import annotations

import json

import pytest

from hybridai import catalog
from hybridai.modules.eks_cluster import EksCluster, EksClusterArgs
from hybridai.modules.karpenter import Karpenter, KarpenterArgs
from hybridai.modules.target import AwsScope, Target
from tests.helpers import named, of_type, release, run_module

ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def resources():
    # GIVEN Karpenter on an EKS cluster `t-training` in eu-central-1
    def program():
        scope = AwsScope(prefix="t", cluster="training", region="eu-central-1", account_id=ACCOUNT)
        aws = Target("t", "aws", scope)
        eks = EksCluster(
            aws,
            EksClusterArgs(
                scope=scope, kubernetes_version=catalog.aws().eks.version, public_access_cidrs=(),
                admin_role_arns=(f"arn:aws:iam::{ACCOUNT}:role/admin",), system_instance_type="m7i.large", log_types=catalog.aws().eks.log_types, log_retention_days=365,
            ),
            ["subnet-a", "subnet-b"],
        )
        Karpenter(aws, KarpenterArgs(scope=scope, monitoring_namespace="observability"), eks)

    return run_module(program)


def controller_policy(resources) -> dict[str, dict]:
    [policy] = [json.loads(r.inputs["policy"]) for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy") if r.name == "t-aws-training-karpenter-controller-policy"]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_the_pinned_chart_runs_on_the_system_nodes_with_its_cluster_and_queue(resources) -> None:
    karpenter = release(resources, "oci://public.ecr.aws/karpenter/karpenter")
    values = karpenter.inputs["values"]
    # THEN the version pinned in versions.yaml, in its namespace, on the nodes it never removes
    assert karpenter.inputs["version"] == catalog.chart("karpenter").version and karpenter.inputs["namespace"] == "karpenter"
    assert values["settings"] == {"clusterName": "t-training", "interruptionQueue": "t-training", "featureGates": {"nodeRepair": True}}
    assert values["nodeSelector"] == {"kubernetes.io/os": "linux", "hybrid-ai.io/node-role": "system"}
    assert values["serviceMonitor"] == {"enabled": True}
    # AND its namespace enforces Pod Security `restricted`
    assert named(resources, "Namespace", "karpenter").inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_interruption_queue_is_encrypted_short_lived_and_fed_by_the_four_documented_events(resources) -> None:
    [queue] = of_type(resources, "aws:sqs/queue:Queue")
    # THEN KMS-encrypted with a key of its own, notices kept five minutes
    assert queue.inputs["name"] == "t-training" and queue.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert queue.inputs["messageRetentionSeconds"] == 300
    # AND an EventBridge rule per event Karpenter documents, each sending to the queue
    rules = {r.inputs["name"]: json.loads(r.inputs["eventPattern"]) for r in of_type(resources, "aws:cloudwatch/eventRule:EventRule")}
    assert sorted(p["detail-type"][0] for p in rules.values()) == [
        "AWS Health Event", "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification", "EC2 Spot Instance Interruption Warning",
    ]
    assert {t.inputs["targetId"] for t in of_type(resources, "aws:cloudwatch/eventTarget:EventTarget")} == {"KarpenterInterruptionQueue"}
    assert len(of_type(resources, "aws:cloudwatch/eventTarget:EventTarget")) == 4


def test_only_eventbridge_sends_to_the_queue_and_only_over_tls(resources) -> None:
    [policy] = of_type(resources, "aws:sqs/queuePolicy:QueuePolicy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["EventBridgeSends"]["Action"] == "sqs:SendMessage"
    assert statements["EventBridgeSends"]["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny" and statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # AND the queue's key lets EventBridge encrypt for this queue alone
    [key] = [r for r in of_type(resources, "aws:kms/key:Key") if r.name == "t-aws-training-karpenter-queue-key"]
    grant = next(s for s in json.loads(key.inputs["policy"])["Statement"] if s["Sid"] == "EventBridgeSendsToTheQueue")
    assert grant["Condition"] == {"StringEquals": {"kms:EncryptionContext:aws:sqs:arn": f"arn:aws:sqs:eu-central-1:{ACCOUNT}:t-training"}}


def test_the_controller_gets_its_role_through_pod_identity(resources) -> None:
    [identity] = [r.inputs for r in of_type(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation") if r.inputs["namespace"] == "karpenter"]
    assert identity["serviceAccount"] == "karpenter"
    [role] = [r.inputs for r in of_type(resources, "aws:iam/role:Role") if r.inputs["name"] == "t-training-karpenter"]
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}


def test_the_controller_policy_is_scoped_to_this_cluster(resources) -> None:
    statements = controller_policy(resources)
    # THEN instances are deleted only with this cluster's ownership tag
    assert statements["AllowScopedDeletion"]["Condition"]["StringEquals"] == {"aws:ResourceTag/kubernetes.io/cluster/t-training": "owned"}
    # AND PassRole only for Karpenter's node role, only to EC2; only its own queue is read
    assert statements["AllowPassingInstanceRole"]["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/t-training-karpenter-node"
    assert statements["AllowPassingInstanceRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    # (the queue's ARN as the plan's mocks make it: `queue/<name>` in place of the name)
    assert statements["AllowInterruptionQueueActions"]["Resource"] == f"arn:aws:sqs:eu-central-1:{ACCOUNT}:queue/t-training"
    # AND `*` only for the reads AWS can't scope, and those only in the cluster's region
    assert {sid for sid, s in statements.items() if s["Resource"] == "*"} == {"AllowRegionalReadActions", "AllowPricingReadActions"}
    assert statements["AllowRegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-central-1"}}


def test_node_role_has_only_the_managed_policies_nodes_need_and_its_own_access_entry(resources) -> None:
    [role] = [r.inputs for r in of_type(resources, "aws:iam/role:Role") if r.inputs["name"] == "t-training-karpenter-node"]
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = {r.inputs["policyArn"] for r in of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r.name.startswith("t-aws-training-karpenter-node-role-")}
    # THEN no SSM shell access: the policies a node needs to join, pull images and run the CNI
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    }
    # AND its nodes join through an EC2_LINUX access entry of their own
    entries = [r.inputs for r in of_type(resources, "aws:eks/accessEntry:AccessEntry") if r.inputs.get("type") == "EC2_LINUX"]
    assert [e["principalArn"] for e in entries] == [f"arn:aws:iam::{ACCOUNT}:role/t-training-karpenter-node"]


def test_node_repair_replaces_gpu_nodes_the_node_monitoring_agent_marks_unhealthy(resources) -> None:
    # GIVEN the cluster's add-ons and Karpenter's values
    addons = {r.inputs["addonName"]: r for r in of_type(resources, "aws:eks/addon:Addon")}
    values = release(resources, "oci://public.ecr.aws/karpenter/karpenter").inputs["values"]
    # THEN the node monitoring agent sets the GPU condition, and node repair (alpha, off by default) acts on it
    assert "eks-node-monitoring-agent" in addons
    assert addons["eks-node-monitoring-agent"].inputs["clusterName"] == "t-training"
    assert values["settings"]["featureGates"]["nodeRepair"] is True
