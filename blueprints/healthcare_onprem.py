"""healthcare-onprem: a hospital's GPU platform, entirely on-prem (HIPAA).

No cloud provider is created at all, so no resource of this stack can hold PHI outside the
hospital. Tenants share GPUs only through MIG, which isolates memory and faults in hardware;
time-slicing is refused at config validation.
"""
from __future__ import annotations

from hybridai.blueprints.platform import ONPREM_BACKLOG, export_cluster, onprem_platform, training_runtime_args
from hybridai.blueprints.sites import other_sites
from hybridai.capacity import CapacityPlan
from hybridai.config.sites import hub_view
from hybridai.config.healthcare import HealthcareOnpremSpec
from hybridai.modules.gpu_platform import GpuPlatform
from hybridai.modules.target import Target, TargetArgs


def build(spec: HealthcareOnpremSpec, capacity: CapacityPlan) -> None:
    hub = hub_view(spec)
    onprem = Target(spec.prefix, spec.onprem.name, TargetArgs.of(spec.onprem))
    platform = GpuPlatform(onprem, onprem_platform(hub, capacity.onprem, ONPREM_BACKLOG, runtime=training_runtime_args(hub, capacity, "onprem")))
    export_cluster(spec.onprem.name, "onprem", platform, context=spec.onprem.context)
    other_sites(spec, capacity)
