"""Config → module args, shared by the blueprints that run a GPU cluster."""
from __future__ import annotations

from hybridai import catalog
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.serving import ServedModel, serving_plan
from hybridai.config.spec import StackSpec, derive_mig_strategy
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd, onprem_prices
from modules.gpu_operator import GpuNodeArgs, GpuOperatorArgs
from modules.monitoring import MonitoringArgs, OpenCostPricing
from modules.observability import AlertArgs
from modules.queues import FlavorArgs, QueuesArgs, QueueTeamArgs
from modules.serving import ServedModelArgs, ServingArgs
from modules.tenancy import TenancyArgs, TenantArgs


def gpu_operator_args(cluster: OnpremCluster, settings: GpuOperatorSettings, monitoring_namespace: str) -> GpuOperatorArgs:
    preinstalled = cluster.driver == "preinstalled"
    return GpuOperatorArgs(
        namespace=settings.namespace,
        monitoring_namespace=monitoring_namespace,
        driver=not preinstalled,
        toolkit=True,
        toolkit_env=catalog.toolkit_env(cluster.distribution),
        cdi=settings.cdi,
        nfd=settings.nfd,
        dcgm_exporter=settings.dcgm_exporter,
        mig_strategy=derive_mig_strategy(cluster, settings),
        mig_configs={pool.mig_config_name: pool.mig for pool in cluster.gpu_pools if pool.mig},
        time_slicing_replicas=settings.time_slicing.replicas if settings.time_slicing else None,
        nodes=tuple(
            GpuNodeArgs(name=node, pool=pool.name, gpu_model=pool.gpu_model, mig_config=pool.mig_config_name, gpus=pool.gpus_per_node)
            for pool in cluster.gpu_pools
            for node in pool.nodes
        ),
    )


def gpu_quota(team: Team, cluster: OnpremCluster, mig_strategy: str) -> dict[str, int]:
    """Every GPU resource the cluster advertises gets a quota line — zero when the team has none —
    because a ResourceQuota leaves unlisted resources unlimited."""
    quota = {"nvidia.com/gpu": team.quota.gpus}
    if mig_strategy == "mixed":
        for profile in sorted(p for p in cluster.gpu_capacity() if p != "gpu"):
            quota[f"nvidia.com/mig-{profile}"] = team.quota.mig.get(profile, 0)
    return quota


def tenant(team: Team, gpu_quota: dict[str, int]) -> TenantArgs:
    return TenantArgs(
        name=team.name,
        namespace=team.namespace,
        group=team.group,
        tier=team.tier,
        data_classification=team.data_classification,
        gpu_quota=gpu_quota,
        cpu=team.quota.cpu,
        memory=team.quota.memory,
        storage=team.quota.storage,
        pods=team.quota.pods,
    )


def tenancy_args(spec: StackSpec, tenants: list[TenantArgs]) -> TenancyArgs:
    return TenancyArgs(
        tenants=tuple(tenants),
        monitoring_namespace=spec.monitoring.namespace,
        labels={"hybrid-ai.io/environment": spec.environment, "hybrid-ai.io/cost-center": spec.cost_center},
    )


def onprem_tenancy_args(spec: StackSpec, teams: list[Team], cluster: OnpremCluster, settings: GpuOperatorSettings) -> TenancyArgs:
    strategy = derive_mig_strategy(cluster, settings)
    return tenancy_args(spec, [tenant(team, gpu_quota(team, cluster, strategy)) for team in teams])


def onprem_pricing(spec: StackSpec, cluster: OnpremCluster) -> OpenCostPricing:
    """OpenCost's hourly prices for an on-prem cluster, from the same assumptions as cost.json:
    the GPU price is the cluster's GPUs' amortized monthly cost, averaged and spread over the hours."""
    monthly = [(gpu_month_usd(pool.gpu_model, spec.cost), pool.gpu_count) for pool in cluster.gpu_pools]
    priced = [(m, n) for m, n in monthly if m is not None]
    gpus = sum(n for _, n in priced)
    items = onprem_prices(spec.cost).items
    return OpenCostPricing(
        cpu_core_hour=items.get("cpu_core_hour", 0.0),
        ram_gb_hour=items.get("ram_gb_hour", 0.0),
        gpu_hour=sum(m * n for m, n in priced) / gpus / HOURS_PER_MONTH if gpus else 0.0,
        storage_gb_month=items.get("storage_gb_month", 0.0),
    )


def monitoring_args(spec: StackSpec, teams: list[Team], gpu_operator_namespace: str, pricing: OpenCostPricing | None) -> MonitoringArgs:
    settings = spec.monitoring
    return MonitoringArgs(
        namespace=settings.namespace,
        retention=settings.retention,
        storage_size=settings.storage_size,
        storage_class=settings.storage_class,
        grafana_admin_secret=settings.grafana_admin_secret,
        gpu_operator_namespace=gpu_operator_namespace,
        alerts=AlertArgs(
            latency_objective_ms=settings.latency_objective_ms,
            idle_gpu_percent=settings.idle_gpu_percent,
            idle_gpu_minutes=settings.idle_gpu_minutes,
            quota_alert_percent=settings.quota_alert_percent,
            pending_training_minutes=settings.pending_training_minutes,
            training_namespaces=tuple(sorted(t.namespace for t in teams if t.tier == "training")),
        ),
        pricing=pricing,
    )


def onprem_queues_args(spec: StackSpec, cluster: OnpremCluster, teams: list[Team]) -> QueuesArgs | None:
    """Kueue for the cluster's training teams: a flavor per whole-GPU pool, each team's GPUs as
    nominal quota on the first; None when no team trains here."""
    trainers = [t for t in teams if t.tier == "training" and t.quota.gpus]
    pools = [p for p in cluster.gpu_pools if not p.mig]
    if not trainers or not pools:
        return None
    flavors = tuple(FlavorArgs(name=p.name, node_labels={"hybrid-ai.io/gpu-pool": p.name}) for p in pools)
    return QueuesArgs(
        cohort=f"{cluster.name}-gpus",
        flavors=flavors,
        teams=tuple(
            QueueTeamArgs(
                name=t.name,
                namespace=t.namespace,
                quotas={f.name: {"cpu": t.quota.cpu, "memory": t.quota.memory, "nvidia.com/gpu": str(t.quota.gpus if i == 0 else 0)} for i, f in enumerate(flavors)},
            )
            for t in trainers
        ),
        monitoring_namespace=spec.monitoring.namespace,
    )


def serving_args(spec: StackSpec, cluster: OnpremCluster, settings: GpuOperatorSettings, teams: list[Team], models: list[ServedModel], decision_log_url: str | None = None) -> ServingArgs | None:
    """KServe for the catalog's models, each sized by the planner: replicas from its load, the
    smallest slice of the cluster that holds a replica."""
    if not models:
        return None
    plan = serving_plan(cluster, models)
    strategy = derive_mig_strategy(cluster, settings)
    namespaces = {t.name: t.namespace for t in teams}

    def resource(profile: str) -> str:
        return "nvidia.com/gpu" if profile == "gpu" or strategy == "single" else f"nvidia.com/mig-{profile}"

    return ServingArgs(
        models=tuple(
            ServedModelArgs(
                name=m.name,
                namespace=namespaces[m.team],
                model_format=m.model_format,
                storage_uri=m.storage_uri,
                # Scale down off-peak to what availability needs, up to the peak the planner sized.
                replicas=2 if m.production else 1,
                max_replicas=max(plan[m.name][1], 2 if m.production else 1),
                gpu_resource=resource(plan[m.name][0]),
                production=m.production,
            )
            for m in models
        ),
        decision_log_url=decision_log_url,
        monitoring_namespace=spec.monitoring.namespace,
    )
