"""healthcare-onprem: a hospital's GPU platform, entirely on-prem (HIPAA).

No cloud provider is created at all, so no resource of this stack can hold PHI outside the
hospital. Tenants share GPUs only through MIG, which isolates memory and faults in hardware;
time-slicing is refused at config validation. The teams that handle PHI reach the hospital's EHR
and PACS (`interop`) only through the egress PhiEgress opens for them (docs/data-paths.md).
"""
from __future__ import annotations

import pulumi

from hybridai.blueprints.platform import ONPREM_BACKLOG, credential_args, export_cluster, onprem_platform, training_runtime_args
from hybridai.blueprints.sites import other_sites
from hybridai.capacity import CapacityPlan
from hybridai.config.credentials import phi_endpoint_needs
from hybridai.config.sites import hub_view
from hybridai.config.healthcare import HealthcareOnpremSpec
from hybridai.modules.gpu_platform import GpuPlatform
from hybridai.modules.phi_egress import PhiEgress, PhiEgressArgs
from hybridai.modules.target import Target, TargetArgs


def build(spec: HealthcareOnpremSpec, capacity: CapacityPlan) -> None:
    hub = hub_view(spec)
    onprem = Target(spec.prefix, spec.onprem.name, TargetArgs.of(spec.onprem))
    platform = GpuPlatform(onprem, onprem_platform(hub, capacity.onprem, ONPREM_BACKLOG, runtime=training_runtime_args(hub, capacity, "onprem")))
    if hub.interop is not None:
        # Only the endpoints' Secrets: the teams' other Secrets are their readers' (training runtime).
        needs = phi_endpoint_needs(hub)
        credentials = tuple(secret for namespace in dict.fromkeys(n.namespace for n in needs) for secret in credential_args(hub, "onprem", namespace, needs))
        stores = [platform.external_secrets] if platform.external_secrets else []
        PhiEgress(
            onprem,
            PhiEgressArgs.of(hub.interop, hub.teams, credentials),
            {team.namespace: platform.tenancy.namespaces[team.name] for team in hub.teams},
            opts=pulumi.ResourceOptions(depends_on=[platform.tenancy, *stores]),
        )
    export_cluster(spec.onprem.name, "onprem", platform, context=spec.onprem.context)
    other_sites(spec, capacity)
