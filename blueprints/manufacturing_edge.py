"""manufacturing-edge: a fleet of factory edge sites that keep inferring offline.

Each site is its own target (`edge:<site>`): the GPU platform for its distribution, Triton serving
from a local model cache, a model sync confined to the maintenance window, and a Prometheus agent
that remote-writes to the plant hub. The plant's data-center cluster hosts analytics teams and the
hub; training runs on the cloud burst pool. Sites CI can't reach use GitOps: Pulumi renders their
manifests for the site's Argo CD to pull.
"""
from __future__ import annotations

import pulumi

from hybridai.blueprints.burst import aws_target, burst_pool
from hybridai.blueprints.platform import (
    OVERFLOW_BACKLOG,
    backup_args,
    cluster_target,
    collector_logging_args,
    credential_args,
    export_cluster,
    gpu_operator_args,
    monitoring_args,
    onprem_platform,
    onprem_store,
    secured,
    tenancy_args,
    tenant,
    training_runtime_args,
)
from hybridai.capacity import CapacityPlan, ClusterCapacity
from hybridai.config.edge import EdgeSite as EdgeSiteSpec
from hybridai.config.manufacturing import ManufacturingEdgeSpec
from hybridai.modules.device_plugin import DevicePluginArgs
from hybridai.modules.edge_site import EdgeModelArgs, EdgeSite, EdgeSiteArgs
from hybridai.modules.gitops_bootstrap import GitOpsBootstrap, GitOpsBootstrapArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.target import Target, TargetArgs


def site_platform(spec: ManufacturingEdgeSpec, site: EdgeSiteSpec, capacity: ClusterCapacity) -> GpuPlatformArgs:
    """A site as a one-pool cluster whose one tenant, the site's team, holds all of its GPUs; its
    Prometheus is an agent forwarding to the plant hub. Jetson modules run the device plugin alone."""
    owner = site.owner()
    monitoring = monitoring_args(spec, [owner], spec.gpu_operator.namespace, None).model_copy(
        update={"mode": "agent", "remote_write_url": spec.hub_remote_write_url, "external_labels": {"site": site.name}}
    )
    jetson = site.distribution == "jetson"
    platform = GpuPlatformArgs(
        gpu_operator=None if jetson else gpu_operator_args(site.cluster(), spec.gpu_operator, capacity, spec.monitoring.namespace),
        device_plugin=DevicePluginArgs(
            namespace=spec.gpu_operator.namespace,
            pool=site.name,
            gpu_model=site.gpu_model,
            nodes=tuple(site.nodes),
            gpus_per_node=site.gpus_per_node,
            registry_mirror=site.registry_mirror,
            image_digest=site.image_digests.get("device-plugin"),
            monitoring_namespace=spec.monitoring.namespace,
        )
        if jetson
        else None,
        tenancy=tenancy_args(spec, [tenant(owner, capacity.gpu_quota(owner.name))]),
        monitoring=monitoring,
        logging=collector_logging_args(spec, site.name, f"edge:{site.name}", site=site.name, distribution=site.distribution),
        backup=site_backup_args(spec, site),
    )
    return secured(spec, f"edge:{site.name}", platform)


def site_backup_args(spec: ManufacturingEdgeSpec, site: EdgeSiteSpec):
    """Velero at a site the stack lists in `backups.sites`, into the plant's object store: the
    site's team namespace (its model cache) and its platform namespaces. Its alerts are evaluated at
    the hub, where its Prometheus agent forwards Velero's series."""
    if spec.backups is None or site.name not in spec.backups.sites:
        return None
    return backup_args(spec, site.name, [site.owner()], [spec.monitoring.namespace, spec.gpu_operator.namespace], onprem_store(spec, site.name), alert_rules=False)


def site_serving(spec: ManufacturingEdgeSpec, site: EdgeSiteSpec) -> EdgeSiteArgs:
    return EdgeSiteArgs(
        site=site.name,
        namespace=site.owner().namespace,
        distribution=site.distribution,
        timezone=site.timezone,
        window_cron=site.maintenance_window.cron(),
        window_hours=site.maintenance_window.hours,
        registry_mirror=site.registry_mirror,
        model_source=site.model_source,
        model_source_secret=site.model_source_secret,
        credentials=credential_args(spec, f"edge:{site.name}", site.owner().namespace),
        image_digests=dict(site.image_digests),
        cache_size=site.cache_size,
        storage_class=site.storage_class,
        client_cidrs=tuple(site.client_cidrs),
        models=tuple(EdgeModelArgs(name=m.name, replicas=m.replicas, gpus=m.gpus, cpu=m.cpu, memory=m.memory) for m in site.models),
    )


def build(spec: ManufacturingEdgeSpec, capacity: CapacityPlan) -> None:
    aws = Target(spec.prefix, "aws", aws_target(spec))
    burst_pool(spec, capacity.cloud, aws, training_runtime_args(spec, capacity, "cloud"))

    plant = Target(spec.prefix, spec.onprem.name, cluster_target(spec.onprem))
    # The hub: edge agents remote-write here.
    hub = GpuPlatform(plant, onprem_platform(spec, capacity.onprem, OVERFLOW_BACKLOG, hub=True, runtime=training_runtime_args(spec, capacity, "onprem")))
    export_cluster(spec.onprem.name, "onprem", hub, context=spec.onprem.context)

    for site in spec.sites:
        gitops = site.delivery == "gitops"
        target = Target(
            spec.prefix,
            site.name,
            TargetArgs(placement=f"edge:{site.name}", context=site.context, render_to=f"gitops/{site.name}" if gitops else None, renamed_from=site.renamed_from),
        )
        platform = GpuPlatform(target, site_platform(spec, site, capacity.sites[site.name]))
        # The sync's Secret may come from the site's store: after external-secrets and its store.
        stores = [platform.external_secrets] if platform.external_secrets else []
        EdgeSite(target, site_serving(spec, site), namespace=platform.tenancy.namespaces[site.team], opts=pulumi.ResourceOptions(depends_on=stores) if stores else None)
        export_cluster(site.name, f"edge:{site.name}", platform, context=site.context, delivery=site.delivery)
        if gitops and site.gitops.bootstrap:
            bootstrap = Target(
                spec.prefix,
                f"{site.name}-bootstrap",
                TargetArgs(placement=f"edge:{site.name}", context=site.context, renamed_from=f"{site.renamed_from}-bootstrap" if site.renamed_from else None),
            )
            GitOpsBootstrap(bootstrap, GitOpsBootstrapArgs(repo_url=site.gitops.repo_url, revision=site.gitops.revision, path=site.gitops_path))
