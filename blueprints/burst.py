"""The cloud burst training pool on AWS, shared by the blueprints that have one (finance-hybrid,
manufacturing-edge): network, EKS, the platform on the cluster, Karpenter and its GPU NodePools
sized by the capacity plan, the teams' storage and identities, and a budget.

What happens to a training job: submitted to the team's LocalQueue `training`, Kueue admits it
against the team's quota on a NodePool's flavor and lets its pods run; they ask for GPUs no node
has, so Karpenter launches a node of that pool (spot, or on-demand when spot is short), the job
runs, and the node is removed once it has stood empty for the pool's `consolidateAfter`."""
from __future__ import annotations

import pulumi

from hybridai.blueprints.platform import CLOUD_BACKLOG, backups, export_cluster, monitoring, secured, tenancy
from hybridai.capacity import CloudCapacity
from hybridai.config.base import KARPENTER_NAMESPACE
from hybridai.config.credentials import stores_read
from hybridai.config.spec import CloudBurstSpec
from hybridai.modules.aws_network import AwsNetwork, AwsNetworkArgs
from hybridai.modules.backup import BackupStoreArgs
from hybridai.modules.backup_bucket import BackupBucket, BackupBucketArgs
from hybridai.modules.budget import Budget, BudgetArgs
from hybridai.modules.eks_cluster import EksCluster, EksClusterArgs
from hybridai.modules.gpu_burn_in import GpuBurnInArgs
from hybridai.modules.gpu_node_pools import GpuNodePools, GpuNodePoolsArgs, NodePoolArgs
from hybridai.modules.gpu_operator import GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.karpenter import Karpenter, KarpenterArgs
from hybridai.modules.logging import LoggingArgs
from hybridai.modules.queues import FlavorArgs, QueuesArgs, QueueTeamArgs
from hybridai.modules.secret_store import StoreIdentity, StoreIdentityArgs
from hybridai.modules.target import AwsScope, Target
from hybridai.modules.training_runtime import TrainingRuntimeArgs
from hybridai.modules.training_storage import TrainingStorage, TrainingStorageArgs


def aws_account(spec: CloudBurstSpec) -> Target:
    """The stack's AWS account and region as a target, its scope made once for every AWS module
    (AwsScope.of): the provider refuses any other account and tags every resource for cost
    allocation and ownership."""
    return Target(spec.prefix, "aws", AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center))


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


def cloud_platform(spec: CloudBurstSpec, capacity: CloudCapacity, runtime: TrainingRuntimeArgs | None, backup_store: BackupStoreArgs | None) -> GpuPlatformArgs:
    """The platform on the EKS cluster: tenants with their cloud quotas, monitoring, queues, the
    catalog jobs the capacity plan sends here (`runtime`), and backups into `backup_store`."""
    cluster, teams = spec.cloud.cluster.name, spec.cloud.teams
    queues = cloud_queues(spec, capacity)
    burn_in = GpuBurnInArgs.of_node_pools(spec.gpu_health.burn_in, [p.pool for p in capacity.pools])
    platform = GpuPlatformArgs(
        gpu_operator=GpuOperatorArgs.on_eks(spec.gpu_operator, spec.monitoring.namespace, burn_in=burn_in is not None),
        burn_in=burn_in,
        tenancy=tenancy(spec, teams, {t.name: {"nvidia.com/gpu": capacity.team_gpus[t.name]} for t in teams}),
        # OpenCost prices EKS nodes from the AWS pricing API: no custom pricing in the cloud.
        monitoring=monitoring(spec, teams, coverage={
            "queue_backlog_hint": CLOUD_BACKLOG, "karpenter": True, "xid_remediation": "node-repair",
            "burn_in_stuck_minutes": burn_in.stuck_minutes if burn_in else None,
        }),
        queues=queues.model_copy(update={"jobset": True}) if runtime else queues,
        logging=LoggingArgs.remote(spec.logging, cluster, "cloud", spec.monitoring.namespace) if spec.logging else None,
        training_runtime=runtime,
        # Karpenter is composed after the platform (its ServiceMonitor needs the monitoring CRDs).
        backup=backups(spec, cluster, teams, backup_store, also_backed_up=[KARPENTER_NAMESPACE]) if backup_store else None,
    )
    return secured(spec, "cloud", platform)


def cluster_and_network(spec: CloudBurstSpec, aws: Target) -> tuple[AwsNetwork, EksCluster, list[StoreIdentity]]:
    """The pool's network and EKS cluster, and the Pod Identity roles external-secrets reads AWS
    Secrets Manager with there (the platform's external-secrets waits for them)."""
    scope = aws.scope
    vpc = AwsNetwork(aws, AwsNetworkArgs.of(scope, spec.cloud.network, spec.environment))
    eks = EksCluster(aws, EksClusterArgs.of(scope, spec.cloud.cluster, spec.eks_log_retention_days()), vpc.private_subnet_ids)
    identities = [StoreIdentity(aws, StoreIdentityArgs.of(scope, store.aws_secrets_manager), eks) for store in stores_read(spec, "cloud") if store.aws_secrets_manager is not None]
    return vpc, eks, identities


def node_capacity(spec: CloudBurstSpec, capacity: CloudCapacity, aws: Target, vpc: AwsNetwork, eks: EksCluster, platform: GpuPlatform) -> Karpenter:
    """Karpenter and its GPU NodePools, sized by the capacity plan."""
    scope = aws.scope
    karpenter = Karpenter(
        aws,
        KarpenterArgs(scope=scope, monitoring_namespace=spec.monitoring.namespace),
        eks,
        # Its ServiceMonitor needs the monitoring CRDs.
        opts=pulumi.ResourceOptions(depends_on=[platform.monitoring]),
    )
    cloud = spec.cloud
    GpuNodePools(
        eks.target,
        GpuNodePoolsArgs(pools=node_pools(capacity), ami_alias=cloud.cluster.ami_alias, tags=scope.tags, burn_in=spec.gpu_health.burn_in.enabled),
        karpenter.node_role.name,
        vpc.private_subnet_ids,
        eks.cluster.vpc_config.cluster_security_group_id,
        # The NodePool and EC2NodeClass CRDs come with Karpenter's chart.
        opts=pulumi.ResourceOptions(depends_on=[karpenter.release]),
    )
    return karpenter


def burst_pool(spec: CloudBurstSpec, capacity: CloudCapacity, aws: Target, runtime: TrainingRuntimeArgs | None = None) -> EksCluster:
    """The burst pool in the account `aws` reaches (`aws_account`); `runtime`: the catalog jobs that
    train here. Returns its EKS cluster (the blueprint archives its audit log)."""
    scope, cluster = aws.scope, spec.cloud.cluster.name
    vpc, eks, identities = cluster_and_network(spec, aws)
    bucket = BackupBucketArgs.of(scope, spec.backups, spec.backup_policy().retention_days) if spec.backups is not None else None
    # Before the platform's Velero: its pods get their role from this association when created.
    backup = BackupBucket(aws, bucket, eks) if bucket else None
    platform = GpuPlatform(
        eks.target,
        cloud_platform(spec, capacity, runtime, bucket.location() if bucket else None),
        opts=pulumi.ResourceOptions(depends_on=identities) if identities else None,
        parts_were_under=eks.former_target,
        backup_after=[backup.identity] if backup else None,
    )
    karpenter = node_capacity(spec, capacity, aws, vpc, eks, platform)
    storage = TrainingStorage(aws, TrainingStorageArgs.of(scope, spec.cloud), eks, platform.tenancy.namespaces)
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
    Budget(aws, BudgetArgs.of(scope, spec.cloud.budget))
    return eks
