"""The cloud burst training pool on AWS, shared by the blueprints that have one (finance-hybrid,
manufacturing-edge): network, EKS, the platform on the cluster, Karpenter and its GPU NodePools
sized by the capacity plan, the teams' storage and identities, and a budget.

What happens to a training job: submitted to the team's LocalQueue `training`, Kueue admits it
against the team's quota on a NodePool's flavor and lets its pods run; they ask for GPUs no node
has, so Karpenter launches a node of that pool (spot, or on-demand when spot is short), the job
runs, and the node is removed once it has stood empty for the pool's `consolidateAfter`."""
from __future__ import annotations

import pulumi

from hybridai.blueprints.platform import CLOUD_BACKLOG, backup_args, collector_logging_args, export_cluster, monitoring_args, secured, tenancy_args, tenant
from hybridai.config.base import KARPENTER_NAMESPACE, KUEUE_NAMESPACE
from hybridai.modules.backup import SERVER_SERVICE_ACCOUNT, BackupStoreArgs
from hybridai.modules.backup_bucket import BackupBucket, BackupBucketArgs, backup_bucket_name, backup_key_alias
from hybridai import catalog
from hybridai.capacity import CloudCapacity
from hybridai.config.cloud import bucket_name, trainer_role_name
from hybridai.config.spec import CloudBurstSpec, stores_read
from hybridai.recorded import COST_CENTER_LABEL, ENVIRONMENT_LABEL, TEAM_LABEL
from hybridai.modules.aws_network import AwsNetwork, AwsNetworkArgs
from hybridai.modules.budget import Budget, BudgetArgs
from hybridai.modules.eks_cluster import EksCluster, EksClusterArgs
from hybridai.modules.gpu_node_pools import GpuNodePools, GpuNodePoolsArgs, NodePoolArgs
from hybridai.modules.gpu_operator import GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.karpenter import Karpenter, KarpenterArgs
from hybridai.modules.secret_store import StoreIdentity, StoreIdentityArgs
from hybridai.modules.queues import FlavorArgs, QueuesArgs, QueueTeamArgs
from hybridai.modules.target import AwsTargetArgs, Target
from hybridai.modules.training_runtime import TrainingRuntimeArgs
from hybridai.modules.training_storage import TrainingStorage, TrainingStorageArgs, TrainingTeamArgs


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


def node_pools(capacity: CloudCapacity) -> tuple[NodePoolArgs, ...]:
    """Each of the stack's GPU node pools with the limit the capacity plan gave it."""
    return tuple(NodePoolArgs(pool=p.pool, gpu_limit=p.gpu_limit) for p in capacity.pools)


def cloud_queues(spec: CloudBurstSpec, capacity: CloudCapacity) -> QueuesArgs:
    """Kueue on the burst pool: a flavor per NodePool, selecting its nodes by Karpenter's pool
    label, each team's GPUs nominal on every flavor (within the cohort, borrowing). Spot versus
    on-demand is Karpenter's choice inside the pool: a flavor per capacity type would pin a job to
    spot and leave it pending when spot is short, since Kueue moves on only when quota runs out."""
    flavors = [FlavorArgs(name=p.pool.name, node_labels={"karpenter.sh/nodepool": p.pool.name}) for p in capacity.pools]
    return QueuesArgs(
        cohort=f"{spec.cloud.cluster.name}-gpus",
        flavors=tuple(flavors),
        teams=tuple(
            QueueTeamArgs(name=t.name, namespace=t.namespace, quotas={f.name: {"cpu": t.quota.cpu, "memory": t.quota.memory, "nvidia.com/gpu": str(capacity.team_gpus[t.name])} for f in flavors})
            for t in spec.cloud.teams
        ),
        monitoring_namespace=spec.monitoring.namespace,
    )


def backup_region(spec: CloudBurstSpec) -> str:
    """Region of the EKS cluster's backup bucket: `backups.cloud.region`, else the pool's."""
    return (spec.backups.cloud.region if spec.backups else None) or spec.cloud.region


def cloud_store(spec: CloudBurstSpec) -> BackupStoreArgs:
    """The EKS cluster's backup location: its bucket in the cloud account, SSE-KMS with its key."""
    cluster = spec.cloud.cluster.name
    return BackupStoreArgs(
        bucket=backup_bucket_name(spec.prefix, cluster, spec.cloud.account_id),
        prefix=cluster,
        region=backup_region(spec),
        kms_key=f"alias/{backup_key_alias(spec.prefix, cluster)}",
    )


def cloud_platform(spec: CloudBurstSpec, capacity: CloudCapacity, runtime: TrainingRuntimeArgs | None = None) -> GpuPlatformArgs:
    """The platform on the EKS cluster: tenants with their cloud quotas, monitoring, queues, and
    the catalog jobs the capacity plan sends here (`runtime`)."""
    queues = cloud_queues(spec, capacity)
    platform_namespaces = [spec.monitoring.namespace, spec.gpu_operator.namespace, KUEUE_NAMESPACE, KARPENTER_NAMESPACE]
    platform = GpuPlatformArgs(
        # The EKS NVIDIA AMI ships the driver and container toolkit; the operator adds the rest.
        gpu_operator=GpuOperatorArgs(namespace=spec.gpu_operator.namespace, monitoring_namespace=spec.monitoring.namespace, driver=False, toolkit=False, cdi=spec.gpu_operator.cdi, nfd=spec.gpu_operator.nfd),
        tenancy=tenancy_args(spec, [tenant(t, {"nvidia.com/gpu": capacity.team_gpus[t.name]}) for t in spec.cloud.teams]),
        # OpenCost prices EKS nodes from the AWS pricing API: no custom pricing in the cloud.
        monitoring=monitoring_args(spec, spec.cloud.teams, spec.gpu_operator.namespace, None, queue_backlog_hint=CLOUD_BACKLOG, karpenter=True),
        queues=queues.model_copy(update={"jobset": True}) if runtime else queues,
        logging=collector_logging_args(spec, spec.cloud.cluster.name, "cloud"),
        training_runtime=runtime,
        backup=backup_args(spec, spec.cloud.cluster.name, spec.cloud.teams, platform_namespaces, cloud_store(spec)) if spec.backups else None,
    )
    return secured(spec, "cloud", platform)


def burst_pool(spec: CloudBurstSpec, capacity: CloudCapacity, aws: Target, runtime: TrainingRuntimeArgs | None = None) -> None:
    """The burst pool in the account `aws` reaches; `runtime`: the catalog jobs that train here."""
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
            log_retention_days=spec.eks_log_retention_days(),
        ),
        vpc.private_subnet_ids,
    )
    # external-secrets on EKS reads AWS Secrets Manager through Pod Identity: its role first.
    identities = [
        StoreIdentity(aws, StoreIdentityArgs(prefix=spec.prefix, cluster=cluster, region=cloud.region, account_id=cloud.account_id, store_region=store.aws_secrets_manager.region), eks)
        for store in stores_read(spec, "cloud")
        if store.aws_secrets_manager is not None
    ]
    backup = None
    if spec.backups is not None:
        # Before the platform's Velero: its pods get their role from this association when created.
        backup = BackupBucket(
            aws,
            BackupBucketArgs(
                prefix=spec.prefix,
                cluster=cluster,
                account_id=cloud.account_id,
                region=backup_region(spec),
                pool_region=cloud.region,
                tags=aws_target(spec).tags,
                namespace=spec.backups.namespace,
                service_account=SERVER_SERVICE_ACCOUNT,
                retention_days=spec.backup_policy().retention_days,
            ),
            eks,
        )
    platform = GpuPlatform(eks.target, cloud_platform(spec, capacity, runtime), opts=pulumi.ResourceOptions(depends_on=identities) if identities else None, parts_were_under=eks.former_target, backup_after=[backup.identity] if backup else None)
    karpenter = Karpenter(
        aws,
        KarpenterArgs(prefix=spec.prefix, cluster=cluster, region=cloud.region, account_id=cloud.account_id, monitoring_namespace=spec.monitoring.namespace),
        eks,
        # Its ServiceMonitor needs the monitoring CRDs.
        opts=pulumi.ResourceOptions(depends_on=[platform.monitoring]),
    )
    GpuNodePools(
        eks.target,
        GpuNodePoolsArgs(pools=node_pools(capacity), ami_alias=cloud.cluster.ami_alias, tags=aws_target(spec).tags),
        karpenter.node_role.name,
        vpc.private_subnet_ids,
        eks.cluster.vpc_config.cluster_security_group_id,
        # The NodePool and EC2NodeClass CRDs come with Karpenter's chart.
        opts=pulumi.ResourceOptions(depends_on=[karpenter.release]),
    )
    storage = TrainingStorage(
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
    export_cluster(
        cluster,
        "cloud",
        platform,
        clusterName=eks.cluster.name,
        endpoint=eks.cluster.endpoint,
        ecrRepositoryUrl=storage.repository.repository_url,
        trainingBuckets={team: {"name": bucket.bucket.bucket, "arn": bucket.bucket.arn} for team, bucket in storage.buckets.items()},
        interruptionQueue=karpenter.queue.name,
        nodePools=[p.pool.name for p in capacity.pools],
    )
    # Its own output: a secret marks everything it is exported with secret.
    pulumi.export(f"{cluster}-kubeconfig", eks.kubeconfig)
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
