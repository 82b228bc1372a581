"""TrainingPool: an AWS cloud burst GPU pool — EKS with GPU node groups that scale from zero."""
from __future__ import annotations

import ipaddress
import json
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from modules.base import Args, Module, options
from modules.bucket import SecureBucket, SecureBucketArgs
from modules.gpu_operator import GpuOperator, GpuOperatorArgs
from modules.iam import document, trust
from modules.monitoring import Monitoring, MonitoringArgs
from modules.queues import FlavorArgs, Queues, QueuesArgs, QueueTeamArgs
from modules.target import Target, TargetArgs
from modules.tenancy import Tenancy, TenancyArgs

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
NODE_POLICIES = {
    # The managed policies worker nodes need, and no more: join the cluster, pull images, run the VPC CNI.
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "ecr-pull": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
}
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
TRAINER_SERVICE_ACCOUNT = "trainer"


class NodeGroupArgs(Args):
    name: str
    instance_types: tuple[str, ...]
    gpu_model: str
    min_size: int = 0
    max_size: int
    spot: bool = True
    fallback_max: int = 0
    """Nodes of the on-demand fallback group (spot groups only); 0: none."""
    disk_gb: int = 200


class TrainingTeamArgs(Args):
    name: str
    namespace: str
    bucket: str
    role: str
    """Name of the IAM role its training pods assume through EKS Pod Identity."""


class BudgetArgs(Args):
    monthly_limit_usd: float
    thresholds_percent: tuple[int, ...]
    notify: tuple[str, ...]


class TrainingPoolArgs(Args):
    prefix: str
    """Stack prefix: physical names are `<prefix>-<cluster>-…`."""
    cluster: str
    """Target name of the EKS cluster."""
    region: str
    kubernetes_version: str
    vpc_cidr: str = "10.64.0.0/16"
    availability_zones: int = 2
    nat_gateways: Literal["per-az", "single"] = "single"
    existing_vpc_id: str | None = None
    existing_private_subnet_ids: tuple[str, ...] = ()
    public_access_cidrs: tuple[str, ...] = ()
    """Empty: private API endpoint only."""
    admin_role_arns: tuple[str, ...]
    system_instance_type: str = "m7i.large"
    log_types: tuple[str, ...] = ("api", "audit", "authenticator")
    log_retention_days: int = 365
    node_groups: tuple[NodeGroupArgs, ...]
    checkpoint_retention_days: int = 30
    budget: BudgetArgs
    teams: tuple[TrainingTeamArgs, ...]
    tenancy: TenancyArgs
    gpu_operator: GpuOperatorArgs
    monitoring: MonitoringArgs
    queues: QueuesArgs
    """Kueue on the cluster: spot flavors before on-demand ones, a ClusterQueue per team."""


class TrainingPool(Module):
    """Everything a cloud burst training pool needs, secure by default:

    - a VPC with private subnets across availability zones and NAT egress (or an existing VPC);
    - EKS with a private API endpoint (public only for listed CIDRs), secrets envelope-encrypted
      with a rotating KMS key, control-plane audit/api/authenticator logs, API-only access entries;
    - a small system node group and, per GPU node group, a spot group and an on-demand fallback,
      both scaling from zero, on the NVIDIA AMI, tainted `nvidia.com/gpu=true:NoSchedule`, with
      IMDSv2 required at hop limit 1 (pods can't borrow the node's credentials) and encrypted disks;
    - per team, a bucket for datasets and checkpoints and an IAM role, assumed through EKS Pod
      Identity by the team's `trainer` service account, that reaches that bucket only;
    - an ECR repository (immutable tags, scan on push, KMS), and a monthly AWS budget with alerts;
    - on the cluster: the GPU Operator (driver and toolkit come with the AMI) and team tenancy.
    """

    def __init__(self, target: Target, args: TrainingPoolArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-{args.cluster}"
        super().__init__("hybrid-ai:training_pool:TrainingPool", name, None, pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=target), opts))
        self._name = name
        self._provider = target.provider
        self.cluster_name = physical = f"{args.prefix}-{args.cluster}"

        self.secrets_key = self._key("eks-key", f"{physical}-eks", "EKS secrets envelope encryption")
        self.data_key = self._key("data-key", f"{physical}-data", "training datasets, checkpoints and images")

        subnet_ids = self._network(args, physical)

        cluster_role = aws.iam.Role(f"{name}-cluster-role", name=f"{physical}-cluster", assume_role_policy=trust("eks.amazonaws.com"), opts=self._opts())
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-role-policy", role=cluster_role.name, policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=self._opts()
        )
        # Created before the cluster so retention is ours (EKS would create it with no expiry).
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/eks/{physical}/cluster", retention_in_days=args.log_retention_days, opts=self._opts())
        public = bool(args.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=physical,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": subnet_ids,
                "endpoint_private_access": True,
                # Private by default; a public endpoint only ever answers the listed networks.
                "endpoint_public_access": public,
                **({"public_access_cidrs": list(args.public_access_cidrs)} if public else {}),
            },
            encryption_config={"provider": {"key_arn": self.secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(args.log_types),
            # Access entries only (no aws-auth ConfigMap), and no implicit admin for whoever created it.
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            opts=self._opts(depends_on=[log_group, cluster_policy]),
        )
        admins = self._access_entries(args)

        node_role = aws.iam.Role(f"{name}-node-role", name=f"{physical}-node", assume_role_policy=trust("ec2.amazonaws.com"), opts=self._opts())
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-role-{key}", role=node_role.name, policy_arn=arn, opts=self._opts()) for key, arn in NODE_POLICIES.items()
        ]
        system = self._node_group(
            "system",
            physical,
            node_role,
            subnet_ids,
            node_policies,
            instance_types=[args.system_instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            capacity="ON_DEMAND",
            scaling={"desired_size": 2, "min_size": 2, "max_size": 3},
            labels={"hybrid-ai.io/node-role": "system"},
            disk_gb=50,
        )
        for group in args.node_groups:
            capacities = [("SPOT", group.max_size), ("ON_DEMAND", group.fallback_max)] if group.spot else [("ON_DEMAND", group.max_size)]
            for capacity, max_size in capacities:
                if max_size == 0:
                    continue
                kind = "spot" if capacity == "SPOT" else "ondemand"
                # The fallback group idles at zero; only the main group keeps the configured minimum.
                minimum = group.min_size if (capacity == "SPOT") == group.spot else 0
                self._node_group(
                    f"{group.name}-{kind}",
                    physical,
                    node_role,
                    subnet_ids,
                    node_policies,
                    instance_types=list(group.instance_types),
                    ami_type="AL2023_x86_64_NVIDIA",
                    capacity=capacity,
                    scaling={"desired_size": minimum, "min_size": minimum, "max_size": max_size},
                    labels={
                        "hybrid-ai.io/node-role": "gpu-training",
                        "hybrid-ai.io/node-group": group.name,
                        "hybrid-ai.io/gpu-model": group.gpu_model,
                        "hybrid-ai.io/capacity": kind,
                    },
                    taints=[GPU_TAINT],
                    disk_gb=group.disk_gb,
                )

        addons = {
            addon: aws.eks.Addon(
                f"{name}-addon-{addon}",
                cluster_name=self.cluster.name,
                addon_name=addon,
                # EKS picks the add-on version that matches the cluster version; a cluster upgrade
                # moves them together.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=self._opts(depends_on=[system] if addon == "coredns" else [self.cluster]),
            )
            for addon in ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
        }

        self.repository = aws.ecr.Repository(
            f"{name}-ecr",
            name=f"{args.prefix}/{args.cluster}",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": self.data_key.arn}],
            force_delete=False,
            opts=self._opts(protect=True, retain_on_delete=True),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-ecr-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(
                {"rules": [{"rulePriority": 1, "description": "expire untagged images after 14 days", "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]}
            ),
            opts=self._opts(),
        )

        self.buckets = {team.name: self._team_storage(team, args, addons["eks-pod-identity-agent"]) for team in args.teams}
        self._budget(args, physical)

        # The cluster as a deploy target: a kubeconfig for this one cluster, authenticated by the
        # deployer's AWS identity (`aws eks get-token`), which must be one of the admin roles.
        kubeconfig = pulumi.Output.all(self.cluster.endpoint, self.cluster.certificate_authority.data).apply(lambda a: _kubeconfig(physical, a[0], a[1], args.region))
        self.eks = Target(args.prefix, args.cluster, TargetArgs(placement="cloud", kubeconfig=kubeconfig), opts=options(self, depends_on=[system, *admins, *addons.values()]))
        # The cluster's modules sit under its Target, like those of any other cluster.
        self.gpu_operator = GpuOperator(self.eks, args.gpu_operator)
        self.tenancy = Tenancy(self.eks, args.tenancy)
        self.monitoring = Monitoring(self.eks, args.monitoring)
        self.queues = Queues(self.eks, args.queues, opts=pulumi.ResourceOptions(depends_on=[self.tenancy, self.monitoring]))
        for team in args.teams:
            namespace = self.tenancy.namespaces[team.name]
            k8s.core.v1.ServiceAccount(
                f"{name}-{team.name}-trainer-sa",
                metadata={"name": TRAINER_SERVICE_ACCOUNT, "namespace": team.namespace, "labels": {"app.kubernetes.io/managed-by": "hybrid-ai"}},
                # Pod Identity projects its own token; the API token is mounted only where asked for.
                automount_service_account_token=False,
                opts=options(self, provider=self.eks.provider, depends_on=[namespace]),
            )

        self.register_outputs(
            {
                "clusterName": self.cluster.name,
                "clusterArn": self.cluster.arn,
                "repositoryUrl": self.repository.repository_url,
                "buckets": {team: bucket.arn for team, bucket in self.buckets.items()},
            }
        )

    def _opts(self, **opts) -> pulumi.ResourceOptions:
        return options(self, provider=self._provider, **opts)

    def _key(self, suffix: str, alias: str, purpose: str) -> aws.kms.Key:
        # Keys are data: losing one makes everything it encrypted unreadable.
        key = aws.kms.Key(
            f"{self._name}-{suffix}",
            description=f"{alias}: {purpose}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=self._opts(protect=True, retain_on_delete=True),
        )
        aws.kms.Alias(f"{self._name}-{suffix}-alias", name=f"alias/{alias}", target_key_id=key.key_id, opts=self._opts())
        return key

    def _network(self, args: TrainingPoolArgs, physical: str) -> list[pulumi.Input[str]]:
        if args.existing_vpc_id:
            return list(args.existing_private_subnet_ids)
        name = self._name
        vpc_net = ipaddress.ip_network(args.vpc_cidr)
        blocks = list(vpc_net.subnets(prefixlen_diff=3))
        # Private subnets get the big blocks (the VPC CNI gives every pod an address); public
        # subnets, which only hold NAT gateways, small ones carved from the last block.
        private_cidrs = [str(b) for b in blocks[: args.availability_zones]]
        public_cidrs = [str(b) for b in list(blocks[-1].subnets(new_prefix=min(28, blocks[-1].prefixlen + 5)))[: args.availability_zones]]

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True, tags={"Name": physical}, opts=self._opts())
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOptions(parent=self, provider=self._provider))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": physical}, opts=self._opts())
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], tags={"Name": f"{physical}-public"}, opts=self._opts())

        nats: list[aws.ec2.NatGateway] = []
        private_ids = []
        for i in range(args.availability_zones):
            zone = zones.names.apply(lambda names, i=i: names[i])
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=zone,
                # Nothing launched here gets a public address unless asked: only NAT gateways live here.
                map_public_ip_on_launch=False,
                tags={"Name": f"{physical}-public-{i}", "kubernetes.io/role/elb": "1"},
                opts=self._opts(),
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=self._opts())
            if args.nat_gateways == "per-az" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}-eip", domain="vpc", tags={"Name": f"{physical}-nat-{i}"}, opts=self._opts())
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", subnet_id=public.id, allocation_id=eip.allocation_id, tags={"Name": f"{physical}-nat-{i}"}, opts=self._opts(depends_on=[igw])))
            private = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                cidr_block=private_cidrs[i],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{physical}-private-{i}", "kubernetes.io/role/internal-elb": "1", f"kubernetes.io/cluster/{physical}": "shared"},
                opts=self._opts(),
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{i}-rt", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[-1].id}], tags={"Name": f"{physical}-private-{i}"}, opts=self._opts()
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}-rta", subnet_id=private.id, route_table_id=private_rt.id, opts=self._opts())
            private_ids.append(private.id)
        return private_ids

    def _access_entries(self, args: TrainingPoolArgs) -> list[pulumi.Resource]:
        created = []
        for arn in args.admin_role_arns:
            role = arn.rsplit("/", 1)[-1].lower()
            entry = aws.eks.AccessEntry(f"{self._name}-admin-{role}", cluster_name=self.cluster.name, principal_arn=arn, type="STANDARD", opts=self._opts())
            created.append(
                aws.eks.AccessPolicyAssociation(
                    f"{self._name}-admin-{role}-policy",
                    cluster_name=self.cluster.name,
                    principal_arn=arn,
                    policy_arn=ADMIN_POLICY,
                    access_scope={"type": "cluster"},
                    opts=self._opts(depends_on=[entry]),
                )
            )
        return created

    def _node_group(self, group: str, physical: str, role: aws.iam.Role, subnet_ids: list, depends_on: list, *, instance_types, ami_type, capacity, scaling, labels, disk_gb, taints=None) -> aws.eks.NodeGroup:
        template = aws.ec2.LaunchTemplate(
            f"{self._name}-{group}-lt",
            name=f"{physical}-{group}",
            # IMDSv2 only, one hop: processes on the node can read instance metadata, pods (one hop
            # further) can't, so they can't borrow the node role's credentials.
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            # Encrypted with the account's EBS key: a customer key would need grants for the Auto
            # Scaling service-linked role, without which node groups fail to launch instances.
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"volume_size": disk_gb, "volume_type": "gp3", "encrypted": True, "delete_on_termination": True}}],
            update_default_version=True,
            opts=self._opts(),
        )
        return aws.eks.NodeGroup(
            f"{self._name}-{group}",
            cluster_name=self.cluster.name,
            node_group_name=f"{physical}-{group}",
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
            opts=self._opts(depends_on=depends_on, ignore_changes=["scalingConfig.desiredSize"]),
        )

    def _team_storage(self, team: TrainingTeamArgs, args: TrainingPoolArgs, pod_identity_agent: pulumi.Resource) -> SecureBucket:
        name = f"{self._name}-{team.name}"
        bucket = SecureBucket(
            f"{name}-data",
            SecureBucketArgs(
                bucket=team.bucket,
                kms_key_arn=self.data_key.arn,
                lifecycle_rules=(
                    {
                        "id": "expire-old-checkpoints",
                        "status": "Enabled",
                        "filter": {"prefix": "checkpoints/"},
                        "expiration": {"days": args.checkpoint_retention_days},
                        "noncurrent_version_expiration": {"noncurrent_days": args.checkpoint_retention_days},
                    },
                    {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {}, "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
                ),
                tags={"hybrid-ai.io/team": team.name},
            ),
            opts=options(self, provider=self._provider),
        )
        role = aws.iam.Role(f"{name}-trainer-role", name=team.role, assume_role_policy=trust("pods.eks.amazonaws.com", tag_session=True), tags={"hybrid-ai.io/team": team.name}, opts=self._opts())
        # Read and write the team's own bucket and nothing else; use the data key only through S3.
        aws.iam.RolePolicy(
            f"{name}-trainer-policy",
            role=role.id,
            policy=self.data_key.arn.apply(
                lambda key_arn: document(
                    {"Sid": "ListOwnBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": [bucket.arn]},
                    {"Sid": "ReadWriteOwnObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], "Resource": [f"{bucket.arn}/*"]},
                    {"Sid": "UseDataKeyThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key_arn], "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}}},
                )
            ),
            opts=self._opts(),
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-trainer-identity",
            cluster_name=self.cluster.name,
            namespace=team.namespace,
            service_account=TRAINER_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=self._opts(depends_on=[pod_identity_agent]),
        )
        return bucket

    def _budget(self, args: TrainingPoolArgs, physical: str) -> None:
        budget = args.budget
        aws.budgets.Budget(
            f"{self._name}-budget",
            name=f"{physical}-monthly",
            budget_type="COST",
            limit_amount=f"{budget.monthly_limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            # Spend of this stack only: its resources carry the tag through the provider's default
            # tags (activate `hybrid-ai.io/stack` as a cost allocation tag in the billing console).
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:hybrid-ai.io/stack${args.prefix}"]}],
            notifications=[
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": threshold,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": kind,
                    "subscriber_email_addresses": list(budget.notify),
                }
                for threshold in budget.thresholds_percent
                for kind in ("ACTUAL", "FORECASTED")
            ],
            opts=self._opts(),
        )


def _kubeconfig(cluster: str, endpoint: str, authority: str, region: str) -> str:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": ["eks", "get-token", "--cluster-name", cluster, "--region", region, "--output", "json"]}}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": authority}}],
            "users": [{"name": cluster, "user": user}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
        },
        sort_keys=True,
    )


def cloud_queues(cluster: str, groups: tuple[NodeGroupArgs, ...], teams: list[tuple[str, str, int, str, str]], monitoring_namespace: str) -> QueuesArgs:
    """Kueue on the burst pool: per node group a spot flavor tried first, then its on-demand
    fallback; each team (name, namespace, GPUs, CPU, memory) has its GPUs nominal on both."""
    flavors = []
    for g in groups:
        kinds = (["spot", "ondemand"] if g.fallback_max else ["spot"]) if g.spot else ["ondemand"]
        flavors += [FlavorArgs(name=f"{g.name}-{kind}", node_labels={"hybrid-ai.io/node-group": g.name, "hybrid-ai.io/capacity": kind}) for kind in kinds]
    return QueuesArgs(
        cohort=f"{cluster}-gpus",
        flavors=tuple(flavors),
        teams=tuple(
            QueueTeamArgs(name=name, namespace=namespace, quotas={f.name: {"cpu": cpu, "memory": memory, "nvidia.com/gpu": str(gpus)} for f in flavors})
            for name, namespace, gpus, cpu, memory in teams
        ),
        monitoring_namespace=monitoring_namespace,
    )
