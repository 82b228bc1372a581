"""Karpenter: the node autoscaler of a cloud burst pool — launches GPU nodes when training waits."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from hybridai.config.base import KARPENTER_NAMESPACE
from hybridai.recorded import NODE_ROLE_LABEL, ROLE_SYSTEM, component_type
from hybridai.modules.base import Args, Module, child, from_namespace, on_port, options, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.eks_cluster import NODE_POLICIES, EksCluster
from hybridai.modules.iam import document, trust
from hybridai.modules.kms import key_policy, protected_key
from hybridai.modules.target import AwsScope, Target

SERVICE_ACCOUNT = "karpenter"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
"""Pod annotation: Karpenter never consolidates or expires a node while a pod carrying it runs.
Training pods carry it: a checkpointed run would still lose its progress since the last checkpoint,
so training nodes stay until the run finishes."""
METRICS_PORT = 8080
INTERRUPTION_EVENTS = {
    # What Karpenter documents for its interruption queue: it drains a node before EC2 takes it.
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
# EC2 and pricing reads AWS authorizes on no narrower resource than `*` (Service Authorization
# Reference); every other action below is scoped to this cluster's ARNs and tags.
UNSCOPED_READS = [
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
]


class KarpenterArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: Karpenter's roles, queue and policy are scoped to them."""
    monitoring_namespace: str
    """Whose Prometheus scrapes the controller's metrics (the namespace's only other inbound traffic)."""


class Karpenter(Module):
    """Karpenter on the burst pool's EKS cluster, secure by default:

    - its own node role for the nodes it launches (the managed policies nodes need, and no SSM
      shell access), admitted to the cluster by an EC2_LINUX access entry;
    - the controller's identity through EKS Pod Identity, with Karpenter's documented v1 policy:
      instance and launch-template actions scoped to this cluster's tags, PassRole only for that
      node role, the interruption queue only, `*` only for the reads AWS can't scope;
    - spot interruption handling: a KMS-encrypted SQS queue fed by EventBridge rules for spot
      interruption warnings, rebalance recommendations, instance state changes and scheduled
      health events, so nodes are drained before EC2 reclaims them;
    - the pinned chart on the always-on system nodes, in a namespace enforcing Pod Security
      `restricted`, its metrics scraped by the cluster's Prometheus.
    """

    def __init__(self, target: Target, args: KarpenterArgs, cluster: EksCluster, opts: pulumi.ResourceOptions | None = None):
        scope = args.scope
        name = f"{target.prefix}-{scope.cluster}-karpenter"
        super().__init__(component_type("karpenter", "Karpenter"), name, None, placed(target, opts))
        self._provider = provider = target.provider
        aws_opts = lambda **o: options(self, provider=provider, **o)  # noqa: E731
        physical = scope.cluster_name
        arn = f"arn:aws:iam::{scope.account_id}"

        self.node_role = aws.iam.Role(f"{name}-node-role", name=f"{physical}-karpenter-node", assume_role_policy=trust("ec2.amazonaws.com"), opts=aws_opts())
        policies = [aws.iam.RolePolicyAttachment(f"{name}-node-role-{key}", role=self.node_role.name, policy_arn=policy, opts=aws_opts()) for key, policy in NODE_POLICIES.items()]
        # Karpenter's nodes join through an access entry of their own (managed node groups get theirs from EKS).
        node_access = aws.eks.AccessEntry(f"{name}-node-access", cluster_name=cluster.cluster.name, principal_arn=self.node_role.arn, type="EC2_LINUX", opts=aws_opts(depends_on=policies))

        self.queue = self._interruption_queue(name, physical, scope, aws_opts)

        controller_role = aws.iam.Role(f"{name}-controller-role", name=f"{physical}-karpenter", assume_role_policy=trust("pods.eks.amazonaws.com", tag_session=True), opts=aws_opts())
        aws.iam.RolePolicy(
            f"{name}-controller-policy",
            role=controller_role.id,
            policy=pulumi.Output.all(self.queue.arn, self.node_role.arn).apply(lambda a: _controller_policy(physical, scope, a[0], a[1], arn)),
            opts=aws_opts(),
        )
        identity = aws.eks.PodIdentityAssociation(
            f"{name}-identity",
            cluster_name=cluster.cluster.name,
            namespace=KARPENTER_NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=controller_role.arn,
            opts=aws_opts(depends_on=[cluster.addons["eks-pod-identity-agent"]]),
        )

        eks = cluster.target.provider
        namespace = platform_namespace(
            f"{name}-ns", KARPENTER_NAMESPACE, pod_security("restricted"), [{**from_namespace(args.monitoring_namespace), **on_port(METRICS_PORT)}], self, eks
        )
        values = {
            "settings": {
                "clusterName": physical,
                "interruptionQueue": self.queue.name,
                # Node repair is alpha in the pinned chart (1.14.1, off by default). On because a GPU
                # node with a failed GPU otherwise keeps taking pods: with it, a node the EKS node
                # monitoring agent marks AcceleratedHardwareReady=False for 10 minutes is replaced
                # (forcefully: Karpenter doesn't drain a node it repairs; it stops repairing a pool
                # where over 20 % of the nodes are unhealthy, so a fleet-wide fault doesn't empty it).
                "featureGates": {"nodeRepair": True},
            },
            "serviceAccount": {"name": SERVICE_ACCOUNT},
            # On the always-on system nodes: the autoscaler never runs on capacity it may remove.
            "nodeSelector": {"kubernetes.io/os": "linux", NODE_ROLE_LABEL: ROLE_SYSTEM},
            "controller": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
            "serviceMonitor": {"enabled": True},
        }
        self.release = pinned_release(
            f"{name}-release",
            "karpenter",
            KARPENTER_NAMESPACE,
            values,
            child(self, eks, depends_on=[namespace, identity, node_access]),
        )
        self.register_outputs({"queue": self.queue.name, "nodeRole": self.node_role.name})

    def _interruption_queue(self, name: str, physical: str, scope: AwsScope, aws_opts) -> aws.sqs.Queue:
        queue_arn = f"arn:aws:sqs:{scope.region}:{scope.account_id}:{physical}"
        senders = ["events.amazonaws.com", "sqs.amazonaws.com"]
        key = protected_key(
            self,
            f"{name}-queue-key",
            f"{physical}-karpenter",
            "Karpenter interruption queue",
            self._provider,
            policy=key_policy(
                scope.account_id,
                # EventBridge encrypts what it sends to this queue, and only to this queue.
                {
                    "Sid": "EventBridgeSendsToTheQueue",
                    "Effect": "Allow",
                    "Principal": {"Service": senders},
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:EncryptionContext:aws:sqs:arn": queue_arn}},
                },
            ),
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=physical,
            # Interruption notices are worth acting on for minutes, not days.
            message_retention_seconds=300,
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=300,
            opts=aws_opts(),
        )
        aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=queue.url,
            policy=queue.arn.apply(
                lambda q: document(
                    {"Sid": "EventBridgeSends", "Effect": "Allow", "Principal": {"Service": senders}, "Action": "sqs:SendMessage", "Resource": q},
                    # A Deny: anything not over TLS is refused, whoever sends it.
                    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": q, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                )
            ),
            opts=aws_opts(),
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", name=f"{physical}-karpenter-{event}", event_pattern=json.dumps(pattern, sort_keys=True), opts=aws_opts())
            aws.cloudwatch.EventTarget(f"{name}-{event}-target", rule=rule.name, target_id="KarpenterInterruptionQueue", arn=queue.arn, opts=aws_opts())
        return queue


def _controller_policy(physical: str, scope: AwsScope, queue_arn: str, node_role_arn: str, account: str) -> str:
    """Karpenter's v1 controller policy for one cluster (karpenter.sh, "CloudFormation" reference)."""
    ec2 = f"arn:aws:ec2:{scope.region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{physical}": "owned"}
    tagged = {f"aws:ResourceTag/kubernetes.io/cluster/{physical}": "owned"}
    profile_tags = {"aws:RequestTag/topology.kubernetes.io/region": scope.region}
    launched = [f"{ec2}:*:fleet/*", f"{ec2}:*:instance/*", f"{ec2}:*:volume/*", f"{ec2}:*:network-interface/*", f"{ec2}:*:launch-template/*"]
    profiles = f"{account}:instance-profile/*"
    return document(
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*", f"{ec2}:*:capacity-reservation/*"],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:launch-template/*",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Condition": {"StringEquals": tagged, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": [*launched, f"{ec2}:*:spot-instances-request/*"],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": [*launched, f"{ec2}:*:spot-instances-request/*"],
            "Action": ["ec2:CreateTags"],
            "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]}, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:instance/*",
            "Action": ["ec2:CreateTags"],
            "Condition": {
                "StringEquals": tagged,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Condition": {"StringEquals": tagged, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*", "Action": UNSCOPED_READS, "Condition": {"StringEquals": {"aws:RequestedRegion": scope.region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Resource": f"arn:aws:ssm:{scope.region}::parameter/aws/service/*", "Action": ["ssm:GetParameter"]},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": ["pricing:GetProducts"]},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow", "Resource": queue_arn, "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Resource": node_role_arn, "Action": ["iam:PassRole"], "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:CreateInstanceProfile"],
            "Condition": {"StringEquals": {**owned, **profile_tags}, "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}},
        },
        {
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:TagInstanceProfile"],
            "Condition": {
                "StringEquals": {**tagged, "aws:ResourceTag/topology.kubernetes.io/region": scope.region, **owned, **profile_tags},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            "Condition": {"StringEquals": {**tagged, "aws:ResourceTag/topology.kubernetes.io/region": scope.region}, "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}},
        },
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Resource": profiles, "Action": ["iam:GetInstanceProfile"]},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Resource": f"arn:aws:eks:{scope.region}:{scope.account_id}:cluster/{physical}", "Action": ["eks:DescribeCluster"]},
    )
