"""manufacturing-edge: a fleet of factory edge sites that keep inferring offline.

Each site is its own target (`edge:<site>`): GPU setup for its distribution, Triton serving from a
local model cache, a model sync confined to the maintenance window, and a Prometheus agent that
remote-writes to the plant hub. The plant's data-center cluster hosts analytics teams and the hub;
training runs on the cloud burst pool. Sites CI can't reach use GitOps: Pulumi renders their
manifests for the site's Argo CD to pull.
"""
from __future__ import annotations

import pulumi

from blueprints.common import OVERFLOW_BACKLOG, gpu_operator_args, monitoring_args, onprem_pricing, onprem_queues_args, onprem_tenancy_args, serving_args, tenancy_args, tenant
from blueprints.finance_hybrid import aws_tags, training_pool_args
from hybridai.config.components import OnpremCluster, Team
from hybridai.config.edge import EdgeSite as EdgeSiteSpec
from hybridai.config.manufacturing import ManufacturingEdgeSpec
from hybridai.config.workloads import plan_cluster
from modules.edge_site import EdgeModelArgs, EdgeSite, EdgeSiteArgs, GitOpsBootstrap, GitOpsBootstrapArgs
from modules.gpu_operator import GpuOperator
from modules.monitoring import Monitoring
from modules.target import AwsTargetArgs, Target, TargetArgs
from modules.queues import Queues
from modules.serving import Serving
from modules.tenancy import Tenancy
from modules.training_pool import TrainingPool


def site_args(spec: ManufacturingEdgeSpec, site: EdgeSiteSpec) -> EdgeSiteArgs:
    # The site as a one-pool cluster: its GPU nodes, its owning team holding all of its GPUs.
    cluster = OnpremCluster.model_validate(
        {"name": site.name, "context": site.context, "distribution": "kubeadm" if site.distribution == "jetson" else site.distribution, "driver": site.driver,
         "gpuPools": [{"name": site.name, "gpuModel": site.gpu_model, "nodes": site.nodes, "gpusPerNode": site.gpus_per_node}]}
    )
    owner = Team.model_validate(
        {"name": site.team, "namespace": "inference", "group": site.group, "tier": "production-inference", "dataClassification": "internal",
         "quota": {"gpus": len(site.nodes) * site.gpus_per_node, "cpu": "64", "memory": "256Gi", "storage": "1Ti"}}
    )
    monitoring = monitoring_args(spec, [owner], spec.gpu_operator.namespace, None).model_copy(
        update={"mode": "agent", "remote_write_url": spec.hub_remote_write_url, "external_labels": {"site": site.name}}
    )
    operator = None
    if site.distribution != "jetson":
        operator = gpu_operator_args(cluster, spec.gpu_operator, plan_cluster(cluster, spec.gpu_operator, [owner]), spec.monitoring.namespace)
    return EdgeSiteArgs(
        site=site.name,
        distribution=site.distribution,
        gpu_model=site.gpu_model,
        nodes=tuple(site.nodes),
        gpus_per_node=site.gpus_per_node,
        timezone=site.timezone,
        window_cron=site.maintenance_window.cron(),
        window_hours=site.maintenance_window.hours,
        registry_mirror=site.registry_mirror,
        model_source=site.model_source,
        model_source_secret=site.model_source_secret,
        cache_size=site.cache_size,
        storage_class=site.storage_class,
        client_cidrs=tuple(site.client_cidrs),
        models=tuple(EdgeModelArgs(name=m.name, replicas=m.replicas, gpus=m.gpus, cpu=m.cpu, memory=m.memory) for m in site.models),
        gpu_operator=operator,
        gpu_namespace=spec.gpu_operator.namespace,
        tenancy=tenancy_args(spec, [tenant(owner, {"nvidia.com/gpu": owner.quota.gpus})]),
        monitoring=monitoring,
    )


def build(spec: ManufacturingEdgeSpec) -> None:
    aws = Target(spec.prefix, "aws", AwsTargetArgs(region=spec.cloud.region, account_id=spec.cloud.account_id, tags=aws_tags(spec)))
    TrainingPool(aws, training_pool_args(spec))

    plant = Target(spec.prefix, spec.onprem.name, TargetArgs(placement="onprem", context=spec.onprem.context, kubeconfig=spec.onprem.kubeconfig))
    GpuOperator(plant, gpu_operator_args(spec.onprem, spec.gpu_operator, spec.capacity, spec.monitoring.namespace))
    tenancy = Tenancy(plant, onprem_tenancy_args(spec))
    serving = serving_args(spec)
    if serving:
        Serving(plant, serving, opts=pulumi.ResourceOptions(depends_on=[tenancy]))
    queues = onprem_queues_args(spec)
    # The hub: edge agents remote-write here.
    hub = monitoring_args(spec, spec.teams, spec.gpu_operator.namespace, onprem_pricing(spec, spec.onprem), spec.models, OVERFLOW_BACKLOG if queues else None)
    monitoring = Monitoring(plant, hub.model_copy(update={"receive_remote_write": True}))
    if queues:
        Queues(plant, queues, opts=pulumi.ResourceOptions(depends_on=[monitoring]))

    for site in spec.sites:
        gitops = site.delivery == "gitops"
        target = Target(spec.prefix, site.name, TargetArgs(placement=f"edge:{site.name}", context=site.context, render_to=f"gitops/{site.name}" if gitops else None))
        EdgeSite(target, site_args(spec, site))
        if gitops and site.gitops.bootstrap:
            bootstrap = Target(spec.prefix, f"{site.name}-bootstrap", TargetArgs(placement=f"edge:{site.name}", context=site.context))
            GitOpsBootstrap(bootstrap, GitOpsBootstrapArgs(repo_url=site.gitops.repo_url, revision=site.gitops.revision, path=site.gitops_path))
