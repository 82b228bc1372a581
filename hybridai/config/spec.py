"""The stack spec every blueprint's spec extends, and the cross-field checks they share."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import ARGOCD_NAMESPACE, KSERVE_NAMESPACE, KUEUE_NAMESPACE, DnsLabel, Environment, Model, Problem
from hybridai.config.cloud import CloudPool
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team, check_teams
from hybridai.config.edge import EdgeSite
from hybridai.config.operations import CostSettings, MonitoringSettings, PolicySettings, ServingSettings
from hybridai.config.workloads import ServedModel, TrainingJob

class StackSpec(Model):
    """Keys every stack file has, whatever its blueprint."""

    blueprint: str = Field(description="Blueprint that builds this stack (`hybridai blueprints` lists them).")
    environment: Environment = Field(examples=["dev"], description="Environment of the stack: `prod`, `staging` or `dev`.")
    prefix: DnsLabel | None = Field(
        default=None,
        description="Prefix of every resource name, so two stacks never collide; default: the stack name. "
        "Changing it renames (replaces) every resource.",
    )
    cost_center: str = Field(
        min_length=1,
        examples=["cc-0000"],
        description="Cost center charged for the stack; labelled on every namespace for showback.",
    )
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings, description="Monitoring, GPU alerts and OpenCost on every cluster.")
    cost: CostSettings = Field(default_factory=CostSettings, description="Assumptions of the cost estimate, and an optional monthly ceiling.")
    policy: PolicySettings = Field(default_factory=PolicySettings, description="Policy-as-code checks of the stack.")
    serving: ServingSettings = Field(default_factory=ServingSettings, description="How served models are reached (Gateway API ingress for canaries).")

    # Every blueprint runs an on-prem (or plant) cluster with tenants and a workload catalog; each
    # blueprint's spec restates these with its own description.
    onprem: OnpremCluster = Field(description="The on-prem Kubernetes cluster.")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings.")
    teams: list[Team] = Field(min_length=1, description="Tenants of the on-prem cluster.")
    models: list[ServedModel] = Field(default_factory=list, description="Inference catalog: models served with KServe on the on-prem cluster, sized from their load.")
    training: list[TrainingJob] = Field(default_factory=list, description="Training catalog: weekly runs, placed on the cluster's whole GPUs left after inference.")

    summary: ClassVar[str] = ""
    default_profiles: ClassVar[tuple[str, ...]] = ()
    """Compliance profiles checked unless the stack lists its own."""

    def compliance_profiles(self) -> tuple[str, ...]:
        return tuple(self.policy.profiles) if self.policy.profiles is not None else self.default_profiles

    def allowed_regions(self) -> tuple[str, ...]:
        """Cloud regions the stack's data may live in (none: the stack may not use the cloud)."""
        return ()

    def platform_namespaces(self) -> dict[str, str]:
        """Namespaces the platform runs in, with the Pod Security level each may run at: the GPU
        Operator's (privileged: drivers), monitoring, GitOps, queues and serving (baseline). No
        team may take one; policy checks each against its level."""
        operator = self.gpu_operator.namespace
        baseline = (self.monitoring.namespace, ARGOCD_NAMESPACE, KUEUE_NAMESPACE, KSERVE_NAMESPACE)
        return {operator: "privileged", **{ns: "baseline" for ns in baseline}}

    def burst_pool(self) -> CloudPool | None:
        """The stack's cloud burst training pool, if it has one."""
        return None

    def edge_sites(self) -> list[EdgeSite]:
        """The stack's edge sites, each its own cluster."""
        return []

    def registry_mirrors(self) -> tuple[str, ...]:
        """Registries the stack pulls through (site mirrors), as image references name them."""
        return ()

    @field_validator("prefix", mode="before")
    @classmethod
    def _default_prefix(cls, value: object, info: ValidationInfo) -> object:
        # Derived default: the stack name, which the loader passes in the validation context. Set
        # before validation so a stack name that is no valid prefix is reported like a bad value.
        if value is None and info.context:
            return info.context.get("stack")
        return value

    @field_validator("prefix")
    @classmethod
    def _short_prefix(cls, value: str | None) -> str | None:
        # Cloud names built from the prefix have hard limits (IAM roles 64, S3 buckets 63 characters).
        if value is not None and len(value) > 24:
            raise PydanticCustomError("prefix_too_long", "prefix has {n} characters, at most 24 fit in derived cloud names; set a shorter `prefix`", {"n": len(value)})
        return value

    def check(self) -> list[Problem]:
        """Cross-field problems pydantic's per-field validation cannot see, each at its own key path."""
        return []


def check_cluster(spec: StackSpec) -> list[Problem]:
    """The on-prem cluster's tenants are unique and clear of platform namespaces, and canaries have
    a Gateway to split traffic (whether the catalog fits the GPUs is hybridai/capacity's to say)."""
    problems = check_teams(spec.teams, reserved=set(spec.platform_namespaces()))
    for i, model in enumerate(spec.models):
        if model.canary and not spec.serving.gateway:
            problems.append(
                Problem(
                    ("models", i, "canary"),
                    "canary_needs_gateway",
                    "in KServe's Standard mode a canary gets its traffic share through Gateway API route weights; name the cluster's Gateway in `serving.gateway`",
                    model.canary.model_dump(by_alias=True),
                )
            )
    return problems


class CloudBurstSpec(StackSpec):
    """Keys of a stack with a cloud burst training pool, kept in a declared jurisdiction."""

    jurisdiction: str = Field(examples=["eu"], description="Where data must stay (keys of hybridai/data/aws.yaml `jurisdictions`); the cloud region must be in it.")
    cloud: CloudPool = Field(description="The AWS cloud burst training pool.")

    @field_validator("jurisdiction")
    @classmethod
    def _known_jurisdiction(cls, value: str) -> str:
        known = catalog.aws().jurisdictions
        if value not in known:
            raise PydanticCustomError("jurisdiction_unknown", "unknown jurisdiction; use one of {known}", {"known": ", ".join(known)})
        return value

    def allowed_regions(self) -> tuple[str, ...]:
        return catalog.aws().jurisdictions[self.jurisdiction]

    def burst_pool(self) -> CloudPool:
        return self.cloud
