"""Stack spec of the finance-hybrid blueprint."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybridai.config.base import HttpsUrl, Model, Problem
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.rules import STACK_RULES, check_cloud_pool
from hybridai.config.spec import CloudBurstSpec
from hybridai.config.workloads import ServedModel, TrainingJob


class Audit(Model):
    """The SOX audit trail: CloudTrail into an object-locked, KMS-encrypted bucket."""

    retention_days: int = Field(
        default=2557, ge=365, le=36500, description="Days every audit log object is locked against deletion and change (default: 7 years)."
    )
    decision_log_url: HttpsUrl | None = Field(
        default=None,
        description="An audit sink outside the stack receiving every inference request and response (KServe's logger) instead of the "
        "decision sink the stack provisions (`logging.decisions`): only to keep using an existing one. An https:// URL without credentials, "
        "whose certificate the public CAs sign.",
    )
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = Field(
        default="COMPLIANCE",
        description="S3 Object Lock mode. `COMPLIANCE`: nobody, not even the account root, can shorten the lock — what an immutable trail needs.",
    )


class FinanceHybridSpec(CloudBurstSpec):
    """A bank's hybrid platform: weekly retraining on burst cloud GPUs that scale back to zero,
    24/7 inference on-prem next to the transaction systems, an immutable audit trail, and data kept
    in the declared jurisdiction."""

    summary = "SOX: cloud burst training on AWS, on-prem inference, immutable audit trail, data residency"
    default_profiles = ("sox", "residency")
    rules = (*STACK_RULES, check_cloud_pool)

    blueprint: Literal["finance-hybrid"] = Field(description="`finance-hybrid`.")
    onprem: OnpremCluster = Field(description="The on-prem inference cluster; or a list of clusters, one per data center, each with a `role` (`primary`, `dr`, `active`): see [multi-site](multi-site.md).")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings of the on-prem cluster.")
    teams: list[Team] = Field(min_length=1, description="Tenants of the on-prem cluster (inference teams).")
    audit: Audit = Field(default_factory=Audit, description="SOX audit trail.")

    def external_decision_log(self) -> str | None:
        return self.audit.decision_log_url

    models: list[ServedModel] = Field(default_factory=list, description="Inference catalog: models served with KServe on the on-prem cluster, sized from their load.")
    training: list[TrainingJob] = Field(default_factory=list, description="Training catalog: weekly runs, placed on-prem where whole GPUs are left after inference, the rest on the cloud burst pool.")
