"""Stack spec of the manufacturing-edge blueprint."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybridai.config.base import Problem
from hybridai.config.cloud import CloudBurstSpec, check_cloud
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.edge import EdgeSite, check_sites
from hybridai.config.spec import check_cluster


class ManufacturingEdgeSpec(CloudBurstSpec):
    """A manufacturer's fleet: inspection models on factory-floor GPUs that keep working offline and take
    new models only in maintenance windows, the plant's data center as metrics hub, and cloud burst
    training over the sensor history."""

    summary = "Factory edge sites that infer offline, a plant hub, cloud burst training"
    default_profiles = ("residency",)

    blueprint: Literal["manufacturing-edge"] = Field(description="`manufacturing-edge`.")
    onprem: OnpremCluster = Field(description="The plant's data-center cluster: analytics, and the hub edge sites ship metrics to.")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings of the plant cluster and k3s/RKE2 sites.")
    teams: list[Team] = Field(min_length=1, description="Tenants of the plant cluster.")
    hub_remote_write_url: str = Field(
        examples=["https://metrics.plant.example/api/v1/write"],
        pattern=r"^https?://",
        description="Where edge sites remote-write their metrics: the plant hub's Prometheus, as the sites reach it.",
    )
    sites: list[EdgeSite] = Field(min_length=1, description="Edge sites of the fleet.")

    def registry_mirrors(self) -> tuple[str, ...]:
        return tuple(sorted({s.registry_mirror.split("/", 1)[0] for s in self.sites if s.registry_mirror}))

    def check(self) -> list[Problem]:
        problems = check_cluster(self, self.onprem, self.teams, "the plant cluster")
        problems += check_cloud(self.cloud, self.prefix, self.jurisdiction, set(self.platform_namespaces()))
        problems += check_sites(self.sites)
        return problems
