"""The cloud burst training pool on AWS, shared by the blueprints that have one (finance-hybrid,
manufacturing-edge): network, EKS, GPU capacity sized by the capacity plan, the platform on the
cluster, the teams' storage and identities, and a budget."""
from __future__ import annotations

from blueprints.platform import CLOUD_BACKLOG, monitoring_args, tenancy_args, tenant
from hybridai import catalog
from hybridai.capacity import CloudCapacity
from hybridai.config.cloud import bucket_name, trainer_role_name
from hybridai.config.spec import CloudBurstSpec
from hybridai.recorded import CAPACITY_LABEL, COST_CENTER_LABEL, ENVIRONMENT_LABEL, NODE_GROUP_LABEL, TEAM_LABEL
from modules.aws_network import AwsNetwork, AwsNetworkArgs
from modules.budget import Budget, BudgetArgs
from modules.eks_cluster import EksCluster, EksClusterArgs
from modules.gpu_node_groups import GpuNodeGroups, GpuNodeGroupsArgs, NodeGroupArgs, capacity_kinds
from modules.gpu_operator import GpuOperatorArgs
from modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from modules.queues import FlavorArgs, QueuesArgs, QueueTeamArgs
from modules.target import AwsTargetArgs, Target
from modules.training_storage import TrainingStorage, TrainingStorageArgs, TrainingTeamArgs


def aws_target(spec: CloudBurstSpec) -> AwsTargetArgs:
    """The stack's AWS account and region; the provider refuses any other account and tags every
    resource for cost allocation and ownership."""
    tags = {
        "hybrid-ai.io/stack": spec.prefix,
        ENVIRONMENT_LABEL: spec.environment,
        COST_CENTER_LABEL: spec.cost_center,
        TEAM_LABEL: "platform",
        "hybrid-ai.io/managed-by": "hybrid-ai",
    }
    return AwsTargetArgs(region=spec.cloud.region, account_id=spec.cloud.account_id, tags=tags)


def node_groups(capacity: CloudCapacity) -> tuple[NodeGroupArgs, ...]:
    return tuple(
        NodeGroupArgs(
            name=g.name,
            instance_types=g.instance_types,
            gpu_model=g.gpu_model,
            min_size=g.min_size,
            max_size=g.max_size,
            spot=g.spot,
            fallback_max=g.fallback_max,
            disk_gb=g.disk_gb,
        )
        for g in capacity.groups
    )


def cloud_queues(spec: CloudBurstSpec, capacity: CloudCapacity, groups: tuple[NodeGroupArgs, ...]) -> QueuesArgs:
    """Kueue on the burst pool: per node group a spot flavor tried first, then its on-demand
    fallback; each team has its GPUs nominal on every flavor."""
    flavors = [FlavorArgs(name=f"{g.name}-{kind}", node_labels={NODE_GROUP_LABEL: g.name, CAPACITY_LABEL: kind}) for g in groups for kind in capacity_kinds(g)]
    return QueuesArgs(
        cohort=f"{spec.cloud.cluster.name}-gpus",
        flavors=tuple(flavors),
        teams=tuple(
            QueueTeamArgs(name=t.name, namespace=t.namespace, quotas={f.name: {"cpu": t.quota.cpu, "memory": t.quota.memory, "nvidia.com/gpu": str(capacity.team_gpus[t.name])} for f in flavors})
            for t in spec.cloud.teams
        ),
        monitoring_namespace=spec.monitoring.namespace,
    )


def cloud_platform(spec: CloudBurstSpec, capacity: CloudCapacity, groups: tuple[NodeGroupArgs, ...]) -> GpuPlatformArgs:
    """The platform on the EKS cluster: tenants with their cloud quotas, monitoring, queues."""
    return GpuPlatformArgs(
        # The EKS NVIDIA AMI ships the driver and container toolkit; the operator adds the rest.
        gpu_operator=GpuOperatorArgs(namespace=spec.gpu_operator.namespace, monitoring_namespace=spec.monitoring.namespace, driver=False, toolkit=False, cdi=spec.gpu_operator.cdi, nfd=spec.gpu_operator.nfd),
        tenancy=tenancy_args(spec, [tenant(t, {"nvidia.com/gpu": capacity.team_gpus[t.name]}) for t in spec.cloud.teams]),
        # OpenCost prices EKS nodes from the AWS pricing API: no custom pricing in the cloud.
        monitoring=monitoring_args(spec, spec.cloud.teams, spec.gpu_operator.namespace, None, queue_backlog_hint=CLOUD_BACKLOG),
        queues=cloud_queues(spec, capacity, groups),
    )


def burst_pool(spec: CloudBurstSpec, capacity: CloudCapacity, aws: Target) -> None:
    """The burst pool in the account `aws` reaches."""
    cloud, prod = spec.cloud, spec.environment == "prod"
    cluster, network = cloud.cluster.name, cloud.network
    vpc = AwsNetwork(
        aws,
        AwsNetworkArgs(
            prefix=spec.prefix,
            cluster=cluster,
            vpc_cidr=network.vpc_cidr,
            # Derived defaults: production survives the loss of an availability zone.
            availability_zones=network.availability_zones or (3 if prod else 2),
            nat_gateways=network.nat_gateways or ("per-az" if prod else "single"),
            existing_vpc_id=network.existing_vpc_id,
            existing_private_subnet_ids=tuple(network.existing_private_subnet_ids),
        ),
    )
    eks = EksCluster(
        aws,
        EksClusterArgs(
            prefix=spec.prefix,
            cluster=cluster,
            region=cloud.region,
            account_id=cloud.account_id,
            kubernetes_version=cloud.cluster.version or catalog.aws().eks.version,
            public_access_cidrs=tuple(cloud.cluster.public_access_cidrs),
            admin_role_arns=tuple(cloud.cluster.admin_role_arns),
            system_instance_type=cloud.cluster.system_instance_type,
            log_types=catalog.aws().eks.log_types,
            log_retention_days=cloud.cluster.log_retention_days,
        ),
        vpc.private_subnet_ids,
    )
    groups = node_groups(capacity)
    GpuNodeGroups(aws, GpuNodeGroupsArgs(prefix=spec.prefix, cluster=cluster, groups=groups), eks, vpc.private_subnet_ids)
    platform = GpuPlatform(eks.target, cloud_platform(spec, capacity, groups), parts_were_under=eks.former_target)
    TrainingStorage(
        aws,
        TrainingStorageArgs(
            prefix=spec.prefix,
            cluster=cluster,
            region=cloud.region,
            checkpoint_retention_days=cloud.checkpoint_retention_days,
            teams=tuple(
                TrainingTeamArgs(
                    name=t.name,
                    namespace=t.namespace,
                    bucket=bucket_name(spec.prefix, t.name, cloud.account_id),
                    role=trainer_role_name(spec.prefix, t.name),
                    data_classification=t.data_classification,
                )
                for t in cloud.teams
            ),
        ),
        eks,
        platform.tenancy.namespaces,
    )
    Budget(
        aws,
        BudgetArgs(
            prefix=spec.prefix,
            cluster=cluster,
            monthly_limit_usd=cloud.budget.monthly_limit_usd,
            thresholds_percent=tuple(cloud.budget.alert_thresholds_percent),
            notify=tuple(cloud.budget.notify),
        ),
    )
