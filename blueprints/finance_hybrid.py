"""finance-hybrid: a bank's GPU platform across AWS and its own data center.

Weekly retraining runs on a cloud burst pool whose GPU node groups scale from zero, so idle GPUs
cost nothing; inference runs 24/7 on-prem next to the transaction systems. CloudTrail records every
AWS API call into an object-locked bucket (SOX), and the cloud region is checked against the
stack's jurisdiction at config validation (data residency).
"""
from __future__ import annotations

import pulumi

from blueprints.common import CLOUD_BACKLOG, OVERFLOW_BACKLOG, gpu_operator_args, monitoring_args, onprem_pricing, onprem_queues_args, onprem_tenancy_args, serving_args, tenancy_args, tenant
from hybridai import catalog
from hybridai.config.cloud import bucket_name, trainer_role_name
from hybridai.config.finance import FinanceHybridSpec
from modules.audit_trail import AuditTrail, AuditTrailArgs
from modules.gpu_operator import GpuOperator, GpuOperatorArgs
from modules.monitoring import Monitoring
from modules.target import AwsTargetArgs, Target, TargetArgs
from modules.queues import Queues
from modules.serving import Serving
from modules.tenancy import Tenancy
from modules.training_pool import BudgetArgs, NodeGroupArgs, TrainingPool, TrainingPoolArgs, TrainingTeamArgs, cloud_queues


def training_pool_args(spec) -> TrainingPoolArgs:
    """The cloud burst pool of a stack with a `cloud` section (finance-hybrid, manufacturing-edge)."""
    cloud, prod = spec.cloud, spec.environment == "prod"
    network = cloud.network
    # Node groups and team quotas sized for the training the planner sends to the cloud.
    overflow = spec.capacity.overflow_jobs
    team_gpus = cloud.team_gpus(overflow)
    groups = tuple(
        NodeGroupArgs(
            name=g.name,
            instance_types=tuple(g.instance_types),
            gpu_model=g.gpu_model,
            min_size=g.min_size,
            max_size=g.max_size,
            spot=g.spot,
            fallback_max=g.on_demand_fallback_max if g.spot else 0,
            disk_gb=g.disk_gb,
        )
        for g in cloud.sized_groups(overflow)
    )
    return TrainingPoolArgs(
        prefix=spec.prefix,
        cluster=cloud.cluster.name,
        region=cloud.region,
        kubernetes_version=cloud.cluster.version or catalog.aws().eks.version,
        vpc_cidr=network.vpc_cidr,
        # Derived defaults: production survives the loss of an availability zone.
        availability_zones=network.availability_zones or (3 if prod else 2),
        nat_gateways=network.nat_gateways or ("per-az" if prod else "single"),
        existing_vpc_id=network.existing_vpc_id,
        existing_private_subnet_ids=tuple(network.existing_private_subnet_ids),
        public_access_cidrs=tuple(cloud.cluster.public_access_cidrs),
        admin_role_arns=tuple(cloud.cluster.admin_role_arns),
        system_instance_type=cloud.cluster.system_instance_type,
        log_types=catalog.aws().eks.log_types,
        log_retention_days=cloud.cluster.log_retention_days,
        node_groups=groups,
        checkpoint_retention_days=cloud.checkpoint_retention_days,
        budget=BudgetArgs(monthly_limit_usd=cloud.budget.monthly_limit_usd, thresholds_percent=tuple(cloud.budget.alert_thresholds_percent), notify=tuple(cloud.budget.notify)),
        teams=tuple(
            TrainingTeamArgs(name=t.name, namespace=t.namespace, bucket=bucket_name(spec.prefix, t.name, cloud.account_id), role=trainer_role_name(spec.prefix, t.name))
            for t in cloud.teams
        ),
        tenancy=tenancy_args(spec, [tenant(t, {"nvidia.com/gpu": team_gpus[t.name]}) for t in cloud.teams]),
        # The EKS NVIDIA AMI ships the driver and container toolkit; the operator adds the rest.
        gpu_operator=GpuOperatorArgs(namespace=spec.gpu_operator.namespace, monitoring_namespace=spec.monitoring.namespace, driver=False, toolkit=False, cdi=spec.gpu_operator.cdi, nfd=spec.gpu_operator.nfd),
        # OpenCost prices EKS nodes from the AWS pricing API: no custom pricing in the cloud.
        monitoring=monitoring_args(spec, cloud.teams, spec.gpu_operator.namespace, None, queue_backlog_hint=CLOUD_BACKLOG),
        queues=cloud_queues(cloud.cluster.name, groups, [(t.name, t.namespace, team_gpus[t.name], t.quota.cpu, t.quota.memory) for t in cloud.teams], spec.monitoring.namespace),
    )


def aws_tags(spec) -> dict[str, str]:
    """Tags on every AWS resource of the stack (the provider's default tags)."""
    return {
        "hybrid-ai.io/stack": spec.prefix,
        "hybrid-ai.io/environment": spec.environment,
        "hybrid-ai.io/cost-center": spec.cost_center,
        "hybrid-ai.io/team": "platform",
        "hybrid-ai.io/managed-by": "hybrid-ai",
    }


def build(spec: FinanceHybridSpec) -> None:
    cloud = spec.cloud
    aws = Target(spec.prefix, "aws", AwsTargetArgs(region=cloud.region, account_id=cloud.account_id, tags=aws_tags(spec)))
    TrainingPool(aws, training_pool_args(spec))
    AuditTrail(
        aws,
        AuditTrailArgs(
            prefix=spec.prefix,
            account_id=cloud.account_id,
            region=cloud.region,
            retention_days=spec.audit.retention_days,
            lock_mode=spec.audit.lock_mode,
            data_buckets=tuple(bucket_name(spec.prefix, t.name, cloud.account_id) for t in cloud.teams),
        ),
    )

    onprem = Target(spec.prefix, spec.onprem.name, TargetArgs(placement="onprem", context=spec.onprem.context, kubeconfig=spec.onprem.kubeconfig))
    GpuOperator(onprem, gpu_operator_args(spec.onprem, spec.gpu_operator, spec.capacity, spec.monitoring.namespace))
    tenancy = Tenancy(onprem, onprem_tenancy_args(spec))
    serving = serving_args(spec, spec.audit.decision_log_url)
    if serving:
        Serving(onprem, serving, opts=pulumi.ResourceOptions(depends_on=[tenancy]))
    queues = onprem_queues_args(spec)
    monitoring = Monitoring(onprem, monitoring_args(spec, spec.teams, spec.gpu_operator.namespace, onprem_pricing(spec, spec.onprem), spec.models, OVERFLOW_BACKLOG if queues else None))
    if queues:
        Queues(onprem, queues, opts=pulumi.ResourceOptions(depends_on=[monitoring]))
