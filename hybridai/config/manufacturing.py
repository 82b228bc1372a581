"""Stack spec of the manufacturing-edge blueprint."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybridai.config.base import PLACEHOLDER, HttpUrl, Problem
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.edge import EdgeSite
from hybridai.config.fleet import Fleet, check_fleet
from hybridai.config.rules import STACK_RULES, check_cloud_pool, check_edge_sites
from hybridai.config.spec import CloudBurstSpec
from hybridai.config.workloads import ServedModel, TrainingJob


def check_fleet_member(spec: ManufacturingEdgeSpec) -> list[Problem]:
    """A generated site stack holds its one site (hybridai/config/fleet.py)."""
    return check_fleet(spec.fleet, [s.name for s in spec.sites], spec.backups.sites if spec.backups else None)


class ManufacturingEdgeSpec(CloudBurstSpec):
    """A manufacturer's fleet: inspection models on factory-floor GPUs that keep working offline and take
    new models only in maintenance windows, the plant's data center as metrics hub, and cloud burst
    training over the sensor history."""

    summary = "Factory edge sites that infer offline, a plant hub, cloud burst training"
    default_profiles = ("residency",)
    rules = (*STACK_RULES, check_cloud_pool, check_edge_sites, check_fleet_member)

    blueprint: Literal["manufacturing-edge"] = Field(description="`manufacturing-edge`.")
    onprem: OnpremCluster = Field(description="The plant's data-center cluster: analytics, and the hub edge sites ship metrics to; or a list of clusters, one per data center, each with a `role` (`primary`, `dr`, `active`): see [multi-site](multi-site.md).")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings of the plant cluster and k3s/RKE2 sites.")
    teams: list[Team] = Field(min_length=1, description="Tenants of the plant cluster.")
    hub_remote_write_url: HttpUrl = Field(
        examples=["https://metrics.plant.example/api/v1/write"], json_schema_extra=PLACEHOLDER,
        description="Where edge sites remote-write their metrics: the plant hub's Prometheus, as the sites reach it "
        "(a TLS load balancer in front of it, which the sites verify against their own trust store). "
        "With `tls`, the hub's Prometheus serves HTTPS with a certificate from its issuer, and the load balancer "
        "connects to it over https on port 9090. An http(s):// URL without credentials.",
    )
    sites: list[EdgeSite] = Field(min_length=1, description="Edge sites of the fleet.")
    models: list[ServedModel] = Field(default_factory=list, description="Inference catalog of the plant cluster: models served with KServe, sized from their load (edge sites list their own models).")
    training: list[TrainingJob] = Field(default_factory=list, description="Training catalog: weekly runs, placed on the plant cluster where whole GPUs are left after inference, the rest on the cloud burst pool.")

    fleet: Fleet | None = Field(
        default=None,
        description="Plan and deploy the fleet as many stacks: this stack the hub (plant and cloud), one generated stack per site "
        "(`hybridai fleet plan`, docs/fleets.md). Unset: every site is part of this stack.",
    )

    def edge_sites(self) -> list[EdgeSite]:
        return self.sites
