"""Spec and capacity plan → the args of a cluster's GPU platform, shared by every blueprint.

Each function maps config values and the capacity plan's decisions onto module args; nothing is
decided here (hybridai/capacity decides) and nothing is created (the blueprints compose modules).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import pulumi

from hybridai import catalog
from hybridai.capacity import ClusterCapacity, resource_name
from hybridai.config.base import KSERVE_NAMESPACE, KUEUE_NAMESPACE
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.spec import StackSpec
from hybridai.config.workloads import ServedModel
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd, onprem_prices
from hybridai.recorded import COST_CENTER_LABEL, ENVIRONMENT_LABEL, GPU_POOL_LABEL
from hybridai.modules.backup import PLATFORM_SCHEDULE, BackupArgs, BackupStoreArgs, ScheduleArgs, team_schedule
from hybridai.modules.gpu_operator import GpuNodeArgs, GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.logging import CollectorArgs, LoggingArgs, LogStoreArgs, loki_datasource, loki_url
from hybridai.modules.monitoring import MonitoringArgs, OpenCostPricing
from hybridai.modules.observability import AlertArgs, ModelObjective
from hybridai.modules.queues import LOCAL_QUEUE, FlavorArgs, QueuesArgs, QueueTeamArgs
from hybridai.modules.serving import ServedModelArgs, ServingArgs
from hybridai.modules.target import TargetArgs
from hybridai.modules.tenancy import TenancyArgs, TenantArgs


def cluster_target(cluster: OnpremCluster) -> TargetArgs:
    """A data-center cluster as a deploy target, reached through its kubeconfig context."""
    return TargetArgs(placement="onprem", context=cluster.context, kubeconfig=cluster.kubeconfig, renamed_from=cluster.renamed_from)


def gpu_operator_args(cluster: OnpremCluster, settings: GpuOperatorSettings, capacity: ClusterCapacity, monitoring_namespace: str) -> GpuOperatorArgs:
    """The GPU Operator of a cluster, with the MIG layouts and node labels of its capacity plan."""
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
        mig_strategy=capacity.strategy,
        mig_configs=capacity.mig_configs,
        time_slicing_replicas=settings.time_slicing.replicas if settings.time_slicing else None,
        nodes=tuple(GpuNodeArgs(name=n.name, pool=n.pool, gpu_model=n.gpu_model, mig_config=n.mig_config, gpus=n.gpus) for n in capacity.nodes),
    )


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
        labels={ENVIRONMENT_LABEL: spec.environment, COST_CENTER_LABEL: spec.cost_center},
    )


def onprem_tenancy_args(spec: StackSpec, capacity: ClusterCapacity) -> TenancyArgs:
    """The on-prem cluster's tenants, each with the GPU quota of the capacity plan."""
    return tenancy_args(spec, [tenant(team, capacity.gpu_quota(team.name)) for team in spec.teams])


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


ONPREM_BACKLOG = "The team's on-prem training quota is in use: the job starts when running jobs finish or lent quota is reclaimed; a lasting backlog means the training catalog needs more on-prem GPUs."
OVERFLOW_BACKLOG = (
    "The team's on-prem training quota is in use. Its namespace and LocalQueue `training` exist on the cloud burst pool too: "
    "submit the same job there to overflow, or add the run to the training catalog so the planner sizes the pool for it."
)
CLOUD_BACKLOG = "The burst pool can't take it now: the team's cloud quota is used up, or its NodePools are at their GPU limits (see the node autoscaling alerts)."


def monitoring_args(
    spec: StackSpec,
    teams: list[Team],
    gpu_operator_namespace: str,
    pricing: OpenCostPricing | None,
    models: list[ServedModel] = (),
    queue_backlog_hint: str | None = None,
    karpenter: bool = False,
) -> MonitoringArgs:
    """Monitoring of a cluster; `models` served there get alerts on their own latency objectives;
    where training queues, a backlog alert says what to do about it."""
    settings = spec.monitoring
    namespaces = {t.name: t.namespace for t in teams}
    return MonitoringArgs(
        namespace=settings.namespace,
        retention=settings.retention,
        storage_size=settings.storage_size,
        storage_class=settings.storage_class,
        grafana_admin_secret=settings.grafana_admin_secret,
        gpu_operator_namespace=gpu_operator_namespace,
        alerting=settings.alerting,
        team_namespaces=namespaces,
        alerts=AlertArgs(
            latency_objective_ms=settings.latency_objective_ms,
            idle_gpu_percent=settings.idle_gpu_percent,
            idle_gpu_minutes=settings.idle_gpu_minutes,
            quota_alert_percent=settings.quota_alert_percent,
            pending_training_minutes=settings.pending_training_minutes,
            training_namespaces=tuple(sorted(t.namespace for t in teams if t.tier == "training")),
            queue_backlog_hint=queue_backlog_hint,
            karpenter=karpenter,
            model_objectives=tuple(
                ModelObjective(namespace=namespaces[m.team], model=m.name, latency_objective_ms=m.latency_objective_ms or settings.latency_objective_ms) for m in models
            ),
        ),
        pricing=pricing,
    )


def onprem_queues_args(spec: StackSpec, capacity: ClusterCapacity) -> QueuesArgs | None:
    """Kueue for the on-prem cluster's training: a flavor per pool with whole GPUs; each team's
    nominal quota is what the planner gave its training jobs in each pool, plus the explicit GPUs of
    a `training`-tier team on the first flavor. None when nobody trains on-prem."""
    pools = [pool for pool, (_, whole) in capacity.pool_gpus.items() if whole]
    quotas: dict[str, Counter] = {}
    for team in spec.teams:
        gpus = Counter(capacity.training.get(team.name, Counter()))
        if team.tier == "training" and team.quota.gpus and pools:
            gpus[pools[0]] += team.quota.gpus
        if +gpus:
            quotas[team.name] = gpus
    if not quotas or not pools:
        return None
    by_name = {t.name: t for t in spec.teams}
    return QueuesArgs(
        cohort=f"{spec.onprem.name}-gpus",
        flavors=tuple(FlavorArgs(name=p, node_labels={GPU_POOL_LABEL: p}) for p in pools),
        teams=tuple(
            QueueTeamArgs(
                name=name,
                namespace=by_name[name].namespace,
                quotas={p: {"cpu": by_name[name].quota.cpu, "memory": by_name[name].quota.memory, "nvidia.com/gpu": str(gpus.get(p, 0))} for p in pools},
            )
            for name, gpus in quotas.items()
        ),
        monitoring_namespace=spec.monitoring.namespace,
    )


def serving_args(spec: StackSpec, capacity: ClusterCapacity, decision_log_url: str | None = None) -> ServingArgs | None:
    """KServe for the catalog's models, each sized by the planner: replicas from its load, the
    smallest slice that holds a replica."""
    models = spec.models
    if not models:
        return None
    namespaces = {t.name: t.namespace for t in spec.teams}
    return ServingArgs(
        models=tuple(
            ServedModelArgs(
                name=m.name,
                namespace=namespaces[m.team],
                model_format=m.model_format,
                storage_uri=m.storage_uri,
                # Scale down off-peak to what availability needs, up to the peak the planner sized.
                replicas=2 if m.production else 1,
                max_replicas=max(capacity.placements[m.name][2], 2 if m.production else 1),
                gpu_resource=resource_name(capacity.slice_key(capacity.placements[m.name][1])),
                production=m.production,
                canary_storage_uri=m.canary.storage_uri if m.canary else None,
                canary_percent=m.canary.traffic_percent if m.canary else 0,
            )
            for m in models
        ),
        decision_log_url=decision_log_url,
        gateway=spec.serving.gateway,
        monitoring_namespace=spec.monitoring.namespace,
    )


def export_cluster(name: str, placement: str, platform: GpuPlatform, **more: Any) -> None:
    """A cluster's stack output (`pulumi stack output <name>`): where it is, each team's namespace,
    where training is submitted, its Prometheus and Grafana (in-cluster URLs), and whatever `more`
    the cluster adds (its endpoint, kubeconfig)."""
    namespaces = {team: ns.metadata.name for team, ns in platform.tenancy.namespaces.items()}
    queues = {team: ns.metadata.name.apply(lambda n: f"{n}/{LOCAL_QUEUE}") for team, ns in platform.tenancy.namespaces.items()} if platform.queues else {}
    monitoring = {"prometheus": platform.monitoring.prometheus_url, **({"grafana": platform.monitoring.grafana_url} if platform.monitoring.grafana_url else {})}
    pulumi.export(name, {"placement": placement, "namespaces": namespaces, **({"trainingQueues": queues} if queues else {}), "monitoring": monitoring, **more})


def collector_logging_args(spec: StackSpec, cluster: str, placement: str, site: str | None = None) -> LoggingArgs | None:
    """A cluster without the log store (EKS, an edge site): only the collector, pushing to the
    on-prem Loki through `logging.hubUrl`; an edge site buffers on disk while its uplink is down.
    None when the stack keeps no logs."""
    settings = spec.logging
    if settings is None or settings.hub_url is None:
        return None
    labels = {"cluster": cluster, "placement": placement, **({"site": site} if site else {})}
    collector = CollectorArgs(loki_url=settings.hub_url, labels=labels, buffer_size=settings.edge_buffer_size if site else None)
    return LoggingArgs(namespace=settings.namespace, collector_namespace=settings.collector_namespace, collector=collector)


def onprem_logging_args(spec: StackSpec) -> LoggingArgs | None:
    """The on-prem cluster's logging: Loki on the stack's object store, kept as long as the stack's
    compliance profiles require. A hub for the stack's other clusters (EKS, edge sites), whose
    collectors push to it from outside. None when the stack keeps no logs (dev without `logging`)."""
    settings = spec.logging
    if settings is None:
        return None
    store, retention = settings.object_store, spec.log_retention()
    return LoggingArgs(
        namespace=settings.namespace,
        collector_namespace=settings.collector_namespace,
        store=LogStoreArgs(
            endpoint=store.endpoint,
            bucket=store.bucket,
            region=store.region,
            access_key_id=store.access_key_id,
            secret_access_key=store.secret_access_key,
            storage_size=settings.storage_size,
            storage_class=settings.storage_class,
            log_retention_days=retention.log_days,
            audit_retention_days=retention.audit_days,
            monitoring_namespace=spec.monitoring.namespace,
            remote_collectors=spec.has_remote_clusters(),
        ),
        collector=CollectorArgs(loki_url=loki_url(settings.namespace), labels={"cluster": spec.onprem.name, "placement": "onprem"}),
    )


def backup_args(spec: StackSpec, cluster: str, teams: list[Team], platform_namespaces: list[str], store: BackupStoreArgs, alert_rules: bool = True) -> BackupArgs | None:
    """Velero on one cluster: a schedule per team namespace and one for the platform's namespaces
    there, every `backups.everyHours` (default: the profiles' RPO), kept `backups.retentionDays`
    (default: the profiles' minimum); volumes as the stack says for the cluster. None when the
    stack keeps no backups."""
    settings = spec.backups
    if settings is None:
        return None
    policy = spec.backup_policy()
    schedules = [ScheduleArgs(name=team_schedule(t.name), namespaces=(t.namespace,)) for t in teams]
    schedules.append(ScheduleArgs(name=PLATFORM_SCHEDULE, namespaces=tuple(dict.fromkeys(platform_namespaces))))
    return BackupArgs(
        namespace=settings.namespace,
        pod_security=spec.platform_namespaces()[settings.namespace],
        store=store,
        schedules=tuple(schedules),
        every_hours=policy.rpo_hours,
        retention_days=policy.retention_days,
        volumes=settings.volumes.get(cluster, "file-system"),
        monitoring_namespace=spec.monitoring.namespace,
        alert_rules=alert_rules,
    )


def onprem_store(spec: StackSpec, cluster: str) -> BackupStoreArgs | None:
    """An on-prem or edge cluster's backup location: the on-prem object store, under the cluster's name."""
    if spec.backups is None:
        return None
    store = spec.backups.object_store
    return BackupStoreArgs(
        bucket=store.bucket, prefix=cluster, region=store.region, endpoint=store.endpoint, access_key_id=store.access_key_id, secret_access_key=store.secret_access_key
    )


def onprem_backup_args(spec: StackSpec, queues: bool) -> BackupArgs | None:
    """The on-prem cluster's backups: its teams and the platform's namespaces holding its state and
    configuration (monitoring, the GPU Operator's, the log store's, Kueue's and KServe's where present)."""
    store = onprem_store(spec, spec.onprem.name)
    if store is None:
        return None
    platform = [spec.monitoring.namespace, spec.gpu_operator.namespace]
    if spec.logging is not None:
        platform.append(spec.logging.namespace)
    platform += [KUEUE_NAMESPACE] if queues else []
    platform += [KSERVE_NAMESPACE] if spec.models else []
    return backup_args(spec, spec.onprem.name, spec.teams, platform, store)


def onprem_platform(spec: StackSpec, capacity: ClusterCapacity, backlog: str, decision_log_url: str | None = None, hub: bool = False) -> GpuPlatformArgs:
    """The on-prem (or plant) cluster's platform: every part sized by its capacity plan. `backlog`:
    what the queue backlog alert tells on-prem teams to do; `hub`: its Prometheus receives what
    edge sites forward."""
    queues = onprem_queues_args(spec, capacity)
    monitoring = monitoring_args(spec, spec.teams, spec.gpu_operator.namespace, onprem_pricing(spec, spec.onprem), spec.models, backlog if queues else None)
    logging = onprem_logging_args(spec)
    if logging is not None:
        monitoring = monitoring.model_copy(update={"extra_datasources": (loki_datasource(logging.namespace),)})
    return GpuPlatformArgs(
        gpu_operator=gpu_operator_args(spec.onprem, spec.gpu_operator, capacity, spec.monitoring.namespace),
        tenancy=onprem_tenancy_args(spec, capacity),
        serving=serving_args(spec, capacity, decision_log_url),
        monitoring=monitoring.model_copy(update={"receive_remote_write": hub}),
        queues=queues,
        logging=logging,
        backup=onprem_backup_args(spec, queues is not None),
    )
