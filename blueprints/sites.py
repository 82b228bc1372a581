"""The on-prem clusters beside the lead one, where `onprem` lists several data centers
(docs/multi-site.md): a Target and a standalone GPU platform each, shared by every blueprint."""
from __future__ import annotations

from hybridai.blueprints.platform import export_cluster, site_platform
from hybridai.capacity import CapacityPlan
from hybridai.config.sites import as_cluster, lead
from hybridai.config.spec import StackSpec
from hybridai.modules.gpu_platform import GpuPlatform
from hybridai.modules.target import Target, TargetArgs


def other_sites(spec: StackSpec, capacity: CapacityPlan) -> None:
    """Each on-prem cluster but the lead one (which its blueprint builds as it always has): its own
    Kubernetes provider (its context) and platform, exported like the lead's. Nothing for a
    single cluster."""
    for site in spec.onprem_sites():
        if site.name == lead(spec):
            continue
        cluster = as_cluster(site)
        target = Target(spec.prefix, site.name, TargetArgs.of(cluster))
        platform = GpuPlatform(target, site_platform(spec, site.name, capacity.clusters[site.name]))
        export_cluster(site.name, "onprem", platform, context=cluster.context, role=site.role)
