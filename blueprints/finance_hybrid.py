"""finance-hybrid: a bank's GPU platform across AWS and its own data center.

Weekly retraining runs on a cloud burst pool whose GPU node groups scale from zero, so idle GPUs
cost nothing; inference runs 24/7 on-prem next to the transaction systems. CloudTrail records every
AWS API call into an object-locked bucket (SOX), and the cloud region is checked against the
stack's jurisdiction at config validation (data residency).
"""
from __future__ import annotations

import pulumi

from hybridai.blueprints.burst import aws_account, burst_pool
from hybridai.blueprints.sites import other_sites
from hybridai.blueprints.platform import OVERFLOW_BACKLOG, export_cluster, onprem_platform, training_runtime_args
from hybridai.capacity import CapacityPlan
from hybridai.config.finance import FinanceHybridSpec
from hybridai.config.sites import hub_view
from hybridai.modules.audit_trail import AuditTrail, AuditTrailArgs
from hybridai.modules.eks_audit import EksAuditArchive, EksAuditArgs, archive_prefix
from hybridai.modules.gpu_platform import GpuPlatform
from hybridai.modules.target import Target, TargetArgs
from hybridai.modules.training_storage import TrainingStorageArgs


def build(spec: FinanceHybridSpec, capacity: CapacityPlan) -> None:
    aws = aws_account(spec)
    eks = burst_pool(spec, capacity.cloud, aws, training_runtime_args(spec, capacity, "cloud"))
    # Every read and write of the teams' training data is on the trail too.
    training_buckets = tuple(team.bucket for team in TrainingStorageArgs.of(aws.scope, spec.cloud).teams)
    audit = AuditTrail(aws, AuditTrailArgs.of(aws.scope, spec.audit, training_buckets))

    exported = {"bucket": audit.bucket.bucket.bucket, "trailArn": audit.trail.arn}
    if spec.log_retention().archive:
        # The profiles keep audit records write-once: the EKS audit goes into the trail's bucket too.
        eks_audit = EksAuditArchive(aws, EksAuditArgs.of(aws.scope, spec.monitoring.alerting), eks, audit)
        exported["eksAudit"] = {"prefix": archive_prefix(aws.scope.cluster), "alarmTopicArn": eks_audit.topic_arn}
    pulumi.export("audit", exported)

    hub = hub_view(spec)
    onprem = Target(spec.prefix, spec.onprem.name, TargetArgs.of(spec.onprem))
    platform = GpuPlatform(onprem, onprem_platform(hub, capacity.onprem, OVERFLOW_BACKLOG, runtime=training_runtime_args(hub, capacity, "onprem")))
    export_cluster(spec.onprem.name, "onprem", platform, context=spec.onprem.context)
    other_sites(spec, capacity)
