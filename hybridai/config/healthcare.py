"""Stack spec of the healthcare-onprem blueprint."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybridai.config.base import DataClassification, Problem
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.rules import STACK_RULES
from hybridai.config.spec import StackSpec
from hybridai.config.workloads import ServedModel, TrainingJob


class HealthcareTeam(Team):
    """A clinical or research team; its data is treated as PHI unless declared otherwise."""

    data_classification: DataClassification = Field(
        default="phi",
        description="Most sensitive data the team's workloads handle. Default `phi`: in a hospital, "
        "data is protected health information until someone decides it is not.",
    )


def check_no_time_slicing(spec: HealthcareOnpremSpec) -> list[Problem]:
    """HIPAA tenants share no GPU memory: time-slicing is refused (MIG isolates them)."""
    time_slicing = spec.gpu_operator.time_slicing
    if time_slicing is None:
        return []
    return [
        Problem(
            ("gpuOperator", "timeSlicing"),
            "time_slicing_forbidden",
            "time-slicing shares GPU memory between tenants without isolation, which HIPAA "
            "workloads may not do; remove it and give pools a `mig` layout instead",
            time_slicing.model_dump(by_alias=True),
        )
    ]


class HealthcareOnpremSpec(StackSpec):
    """Everything on-prem for HIPAA: GPU inference and training on the hospital's cluster, MIG isolation
    between tenants, no cloud provider at all."""

    summary = "HIPAA: all on-prem, MIG-isolated GPU tenants, no cloud provider"
    default_profiles = ("hipaa",)
    rules = (*STACK_RULES, check_no_time_slicing)

    blueprint: Literal["healthcare-onprem"] = Field(description="`healthcare-onprem`.")
    onprem: OnpremCluster = Field(description="The hospital's Kubernetes cluster; or a list of clusters, one per data center, each with a `role` (`primary`, `dr`, `active`): see [multi-site](multi-site.md).")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings.")
    teams: list[HealthcareTeam] = Field(min_length=1, description="Tenants of the cluster.")

    models: list[ServedModel] = Field(default_factory=list, description="Inference catalog: models served with KServe on the on-prem cluster, sized from their load.")
    training: list[TrainingJob] = Field(default_factory=list, description="Training catalog: weekly runs, placed on the cluster's whole GPUs left after inference.")
