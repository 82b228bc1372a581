"""manufacturing-edge: a fleet of factory edge sites that keep inferring offline.

Each site is its own target (`edge:<site>`): the GPU platform for its distribution, Triton serving
from a local model cache, a model sync confined to the maintenance window, and a Prometheus agent
that remote-writes to the plant hub. The plant's data-center cluster hosts analytics teams and the
hub; training runs on the cloud burst pool. Sites CI can't reach use GitOps: Pulumi renders their
manifests for the site's Argo CD to pull.
"""
from __future__ import annotations

import pulumi

from hybridai.blueprints.burst import aws_account, burst_pool
from hybridai.blueprints.sites import other_sites
from hybridai.blueprints.platform import OVERFLOW_BACKLOG, backups, credential_args, export_cluster, monitoring, onprem_platform, secured, tenancy, training_runtime_args
from hybridai.config.base import ARGOCD_NAMESPACE
from hybridai.capacity import CapacityPlan, ClusterCapacity
from hybridai.config.edge import EdgeSite as EdgeSiteSpec
from hybridai.config.fleet import HUB_OUTPUT
from hybridai.config.manufacturing import ManufacturingEdgeSpec
from hybridai.config.sites import hub_view
from hybridai.modules.backup import BackupArgs, BackupStoreArgs
from hybridai.modules.device_plugin import DevicePluginArgs
from hybridai.modules.edge_site import EdgeSite, EdgeSiteArgs
from hybridai.modules.gitops_bootstrap import GitOpsBootstrap, GitOpsBootstrapArgs
from hybridai.modules.gpu_operator import GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.logging import LoggingArgs
from hybridai.modules.target import Target, TargetArgs


def site_platform(spec: ManufacturingEdgeSpec, site: EdgeSiteSpec, capacity: ClusterCapacity, remote_write_url: pulumi.Input[str]) -> GpuPlatformArgs:
    """A site as a one-pool cluster whose one tenant, the site's team, holds all of its GPUs; its
    Prometheus is an agent forwarding to the plant hub. Jetson modules run the device plugin alone."""
    owner, placement = site.owner(), site.placement
    jetson = site.distribution == "jetson"
    platform = GpuPlatformArgs(
        gpu_operator=None if jetson else GpuOperatorArgs.of(spec.gpu_operator, site.cluster(), spec.monitoring.namespace, capacity.strategy, capacity.mig_configs, capacity.nodes),
        device_plugin=DevicePluginArgs.of(site, spec.gpu_operator.namespace, spec.monitoring.namespace) if jetson else None,
        tenancy=tenancy(spec, [owner], {owner.name: capacity.gpu_quota(owner.name)}),
        monitoring=monitoring(spec, [owner], mode="agent", remote_write_url=remote_write_url, external_labels={"site": site.name}),
        logging=LoggingArgs.remote(spec.logging, site.name, placement, spec.monitoring.namespace, site=site.name, distribution=site.distribution) if spec.logging else None,
        backup=site_backups(spec, site),
    )
    return secured(spec, placement, platform)


def site_backups(spec: ManufacturingEdgeSpec, site: EdgeSiteSpec) -> BackupArgs | None:
    """Velero at a site the stack lists in `backups.sites`, into the plant's object store: the
    site's team namespace (its model cache) and its platform namespaces. Its alerts are evaluated at
    the hub, where its Prometheus agent forwards Velero's series."""
    if spec.backups is None or site.name not in spec.backups.sites:
        return None
    store = BackupStoreArgs.of_store(spec.backups.object_store, prefix=site.name)
    # A GitOps site's Argo CD is bootstrapped through a target of its own (below), on the same cluster.
    bootstrapped = [ARGOCD_NAMESPACE] if site.delivery == "gitops" and site.gitops.bootstrap else []
    return backups(spec, site.name, [site.owner()], store, alert_rules=False, also_backed_up=bootstrapped)


def hub_facts(spec: ManufacturingEdgeSpec) -> dict[str, str]:
    """What a fleet's hub stack exports for its site stacks (HUB_OUTPUT, keys HUB_FACTS)."""
    return {"remoteWriteUrl": spec.hub_remote_write_url}


def build(spec: ManufacturingEdgeSpec, capacity: CapacityPlan) -> None:
    """One stack (no `fleet`): the plant, the cloud pool and every site. A fleet's hub (`fleet: {}`):
    the plant and the cloud pool, exporting HUB_OUTPUT. A site stack (`fleet.site`): that site alone,
    wired to the hub through a StackReference. A resource is named and parented the same in all three,
    so it keeps its URN (the stack aside) when a fleet is split or merged (docs/fleets.md)."""
    fleet = spec.fleet
    if fleet is None or fleet.is_hub:
        aws = aws_account(spec)
        burst_pool(spec, capacity.cloud, aws, training_runtime_args(spec, capacity, "cloud"))

        plant = Target(spec.prefix, spec.onprem.name, TargetArgs.of(spec.onprem))
        view = hub_view(spec)
        # The hub: edge agents remote-write here.
        hub = GpuPlatform(plant, onprem_platform(view, capacity.onprem, OVERFLOW_BACKLOG, hub=True, runtime=training_runtime_args(view, capacity, "onprem")))
        export_cluster(spec.onprem.name, "onprem", hub, context=spec.onprem.context)
        other_sites(spec, capacity)
    if fleet is not None and fleet.is_hub:
        pulumi.export(HUB_OUTPUT, hub_facts(spec))
        return  # each site is a stack of its own
    remote_write_url: pulumi.Input[str] = spec.hub_remote_write_url
    if fleet is not None:
        # The hub's own output, as `pulumi up` of the hub stack published it (under the offline plan:
        # as the hub's plan exported it), never a copy in this stack's config.
        hub_stack = pulumi.StackReference(f"{spec.prefix}-fleet-hub", f"{pulumi.get_organization()}/{pulumi.get_project()}/{fleet.hub_stack}")
        remote_write_url = hub_stack.require_output(HUB_OUTPUT).apply(lambda facts: facts["remoteWriteUrl"])

    for site in spec.sites:
        target = Target(spec.prefix, site.name, TargetArgs.of_site(site))
        platform = GpuPlatform(target, site_platform(spec, site, capacity.sites[site.name], remote_write_url))
        # The sync's Secret may come from the site's store: after external-secrets and its store.
        stores = [platform.external_secrets] if platform.external_secrets else []
        serving = EdgeSiteArgs.of(site, credential_args(spec, site.placement, site.owner().namespace))
        EdgeSite(target, serving, namespace=platform.tenancy.namespaces[site.team], opts=pulumi.ResourceOptions(depends_on=stores) if stores else None)
        export_cluster(site.name, site.placement, platform, context=site.context, delivery=site.delivery)
        if site.delivery == "gitops" and site.gitops.bootstrap:
            GitOpsBootstrap(Target(spec.prefix, f"{site.name}-bootstrap", TargetArgs.of_site(site, bootstrap=True)), GitOpsBootstrapArgs.of(site))
