"""Spec and capacity plan → the args of a cluster's GPU platform, shared by every blueprint.

Each function maps config values and the capacity plan's decisions onto module args; nothing is
decided here (hybridai/capacity decides) and nothing is created (the blueprints compose modules).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import pulumi

from hybridai import catalog
from hybridai.capacity import CapacityPlan, ClusterCapacity, resource_name
from hybridai.config.base import CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE, KSERVE_NAMESPACE, KUEUE_NAMESPACE
from hybridai.config.cloud import bucket_name
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, MLFLOW_NAMESPACE, checkpoint_bucket, mlflow_image, registry_uri
from hybridai.config.credentials import CredentialNeed, credential_needs, stores_read
from hybridai.config.spec import StackSpec
from hybridai.config.workloads import ServedModel
from hybridai.config.operations import ObjectStore
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd, onprem_prices
from hybridai.recorded import COST_CENTER_LABEL, ENVIRONMENT_LABEL, GPU_POOL_LABEL
from hybridai.modules.certificates import ACME_ISSUER, CA_ISSUER, AcmeArgs, CertManagerArgs, TlsArgs
from hybridai.modules.backup import PLATFORM_SCHEDULE, BackupArgs, BackupStoreArgs, ScheduleArgs, team_schedule
from hybridai.modules.gpu_operator import GpuNodeArgs, GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.mlflow import MlflowArgs, SecretKeys, public_host, tracking_uri
from hybridai.modules.logging import ArchiveArgs, CollectorArgs, LoggingArgs, LogStoreArgs, loki_datasource, loki_url
from hybridai.modules.monitoring import MonitoringArgs, OpenCostPricing
from hybridai.modules.observability import AlertArgs, ModelObjective
from hybridai.modules.queues import LOCAL_QUEUE, FlavorArgs, QueuesArgs, QueueTeamArgs
from hybridai.modules.secret_store import CredentialSecretArgs, ExternalSecretsArgs, StoreArgs
from hybridai.modules.serving import ServedModelArgs, ServingArgs
from hybridai.modules.target import TargetArgs
from hybridai.modules.tenancy import TenancyArgs, TenantArgs
from hybridai.modules.training_runtime import ArgoSsoArgs, EvaluationArgs, TrainingJobArgs, TrainingRuntimeArgs
from hybridai.modules.training_storage import TRAINER_SERVICE_ACCOUNT


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
            log_collectors=spec.logging is not None,
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
                storage_uri=m.storage_uri or registry_uri(spec.mlops, m.registry),
                registry_model=m.registry.model if m.registry else None,
                model_version=m.registry.version if m.registry else None,
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


def bucket_of(store: ObjectStore) -> dict[str, Any]:
    """Where a component keeps its data on the on-prem object store, as every module's args name it:
    endpoint, bucket, region and the two keys of its access key."""
    return {
        "endpoint": store.endpoint,
        "bucket": store.bucket,
        "region": store.region,
        "access_key_id": store.access_key_id,
        "secret_access_key": store.secret_access_key,
    }


def archive_args(spec: StackSpec) -> ArchiveArgs | None:
    """The on-prem write-once audit archive, if the stack has one."""
    archive = spec.logging.audit_archive if spec.logging else None
    if archive is None:
        return None
    return ArchiveArgs(**bucket_of(archive), lock_mode=archive.object_lock.mode, lock_days=archive.object_lock.retention_days)


def collector_logging_args(spec: StackSpec, cluster: str, placement: str, site: str | None = None, distribution: str | None = None) -> LoggingArgs | None:
    """A cluster without the log store (EKS, an edge site): only the collector, pushing to the
    on-prem Loki through `logging.hubUrl`; an edge site buffers on disk while its uplink is down and
    reads its API audit log (`distribution`: the control plane is the site's own) into the on-prem
    archive. None when the stack keeps no logs."""
    settings = spec.logging
    if settings is None or settings.hub_url is None:
        return None
    labels = {"cluster": cluster, "placement": placement, **({"site": site} if site else {})}
    collector = CollectorArgs(
        loki_url=settings.hub_url,
        labels=labels,
        buffer_size=settings.edge_buffer_size if site else None,
        audit_log_path=catalog.distribution_audit(distribution).log_path if distribution else None,
        archive=archive_args(spec) if distribution else None,
        monitoring_namespace=spec.monitoring.namespace,
    )
    return LoggingArgs(namespace=settings.namespace, collector_namespace=settings.collector_namespace, collector=collector)


def onprem_logging_args(spec: StackSpec) -> LoggingArgs | None:
    """The on-prem cluster's logging: Loki on the stack's object store, kept as long as the stack's
    compliance profiles require. A hub for the stack's other clusters (EKS, edge sites), whose
    collectors push to it from outside. None when the stack keeps no logs (dev without `logging`)."""
    settings = spec.logging
    if settings is None:
        return None
    retention, archive = spec.log_retention(), archive_args(spec)
    # With the stack's issuer, Loki serves https and the cluster's collector verifies it with the issuer's CA.
    tls = tls_args(spec)
    return LoggingArgs(
        namespace=settings.namespace,
        collector_namespace=settings.collector_namespace,
        store=LogStoreArgs(
            **bucket_of(settings.object_store),
            storage_size=settings.storage_size,
            storage_class=settings.storage_class,
            log_retention_days=retention.log_days,
            audit_retention_days=retention.audit_days,
            monitoring_namespace=spec.monitoring.namespace,
            remote_collectors=spec.has_remote_clusters(),
            archive=archive,
            archive_writers=(spec.onprem.name, *(site.name for site in spec.edge_sites())),
            tls=tls,
        ),
        collector=CollectorArgs(
            loki_url=loki_url(settings.namespace, tls is not None),
            loki_ca=tls,
            labels={"cluster": spec.onprem.name, "placement": "onprem"},
            audit_log_path=catalog.distribution_audit(spec.onprem.distribution).log_path,
            archive=archive,
            monitoring_namespace=spec.monitoring.namespace,
        ),
    )


def mlflow_args(spec: StackSpec) -> MlflowArgs | None:
    """MLflow on the stack's training hub (its on-prem or plant cluster), reachable from the hub's
    teams; `secured()` adds its credentials and the cluster's issuer (with which `mlops.trackingUrl`
    gets a certificate and an ingress; without one MLflow stays inside the cluster)."""
    settings = spec.mlops
    if settings is None:
        return None
    db, admin = settings.database, settings.admin
    # Artifacts in the cloud bucket (AWS S3 in its region: no endpoint) or on the on-prem store.
    store = settings.cloud_artifacts or settings.object_store
    endpoint = None if settings.cloud_artifacts else store.endpoint
    return MlflowArgs(
        database_host=db.host,
        database_port=db.port,
        database_name=db.name,
        database_secret=SecretKeys(name=db.username.name, first=db.username.key, second=db.password.key),
        admin_secret=SecretKeys(name=admin.username.name, first=admin.username.key, second=admin.password.key),
        artifact_bucket=store.bucket,
        artifact_endpoint=endpoint,
        artifact_region=store.region,
        # The chart reads both keys from one Secret: the access key id's.
        artifact_secret=SecretKeys(name=store.access_key_id.name, first=store.access_key_id.key, second=store.secret_access_key.key),
        client_namespaces=tuple(sorted(t.namespace for t in spec.teams)),
        monitoring_namespace=spec.monitoring.namespace,
        public_host=public_host(settings.tracking_url),
        ingress_class=settings.ingress_class,
        ingress_namespace=settings.ingress_namespace,
        replicas=2 if spec.environment == "prod" else 1,
    )


def training_runtime_args(spec: StackSpec, plan: CapacityPlan, placement: str) -> TrainingRuntimeArgs | None:
    """The catalog jobs with an image that the capacity plan placed on `placement` (`onprem` or
    `cloud`), each on the pool and with the GPUs it was given; None when no such job runs there."""
    settings = spec.mlops
    if settings is None:
        return None
    pool = spec.burst_pool()
    teams = {t.name: t for t in (spec.teams if placement == "onprem" else (pool.teams if pool else []))}
    jobs = []
    for i, job in enumerate(spec.training):
        where = plan.job_placement(i)
        if job.image is None or where is None or where.placement != placement:
            continue
        team = teams[job.team]
        nodes = job.nodes
        gpus_per_node = job.gpus_per_node or max(where.gpus // nodes, 1)
        if placement == "onprem":
            endpoint = settings.checkpoint_endpoint or settings.object_store.endpoint
            checkpoints = dict(checkpoint_uri=f"s3://{checkpoint_bucket(spec.prefix, job.team)}/checkpoints/{job.name}", store_endpoint=endpoint, store_secret=settings.team_store_secret)
        else:
            # The team's training bucket, through its `trainer` service account's Pod Identity.
            checkpoints = dict(checkpoint_uri=f"s3://{bucket_name(spec.prefix, job.team, pool.account_id)}/checkpoints/{job.name}", service_account=TRAINER_SERVICE_ACCOUNT)
        ev = job.evaluation
        jobs.append(
            TrainingJobArgs(
                name=job.name,
                team=job.team,
                namespace=team.namespace,
                image=job.image,
                command=tuple(job.command),
                nodes=nodes,
                gpus_per_node=gpus_per_node,
                cpu=job.cpu_per_node,
                memory=job.memory_per_node,
                pool=where.pool,
                experiment=f"{job.team}/{job.name}",
                registered_model=job.registered_model or job.name,
                data_version=job.data_version,
                schedule=job.schedule.cron if job.schedule else None,
                time_zone=job.schedule.time_zone if job.schedule else "UTC",
                evaluation=EvaluationArgs(image=ev.image, command=tuple(ev.command), metric=ev.metric, threshold=ev.threshold, higher_is_better=ev.higher_is_better) if ev else None,
                **checkpoints,
            )
        )
    if not jobs:
        return None
    # The Argo UI (behind SSO) runs on the hub only, where `argoSso.redirectUrl` points; elsewhere no server.
    sso = settings.argo_sso if placement == "onprem" else None
    return TrainingRuntimeArgs(
        tracking_uri=tracking_uri() if placement == "onprem" else settings.tracking_url,
        tracking_namespace=MLFLOW_NAMESPACE if placement == "onprem" else None,
        mlflow_credentials_secret=settings.team_credentials_secret,
        register_image=mlflow_image(),
        namespaces=tuple(sorted({j.namespace for j in jobs})),
        jobs=tuple(jobs),
        sso=ArgoSsoArgs(
            issuer=sso.issuer,
            redirect_url=sso.redirect_url,
            client_id=(sso.client_id.name, sso.client_id.key),
            client_secret=(sso.client_secret.name, sso.client_secret.key),
            ingress_class=settings.ingress_class,
            ingress_namespace=settings.ingress_namespace,
        )
        if sso
        else None,
        monitoring_namespace=spec.monitoring.namespace,
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
    return BackupStoreArgs(**bucket_of(spec.backups.object_store), prefix=cluster)


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


def onprem_platform(
    spec: StackSpec, capacity: ClusterCapacity, backlog: str, decision_log_url: str | None = None, hub: bool = False, runtime: TrainingRuntimeArgs | None = None
) -> GpuPlatformArgs:
    """The on-prem (or plant) cluster's platform: every part sized by its capacity plan. `backlog`:
    what the queue backlog alert tells on-prem teams to do; `hub`: its Prometheus receives what
    edge sites forward; `runtime`: the catalog jobs placed here (`training_runtime_args`). It is
    the stack's training hub: MLflow runs here."""
    queues = onprem_queues_args(spec, capacity)
    if queues is not None and runtime is not None:
        queues = queues.model_copy(update={"jobset": True})
    monitoring = monitoring_args(spec, spec.teams, spec.gpu_operator.namespace, onprem_pricing(spec, spec.onprem), spec.models, backlog if queues else None)
    logging = onprem_logging_args(spec)
    if logging is not None:
        alerts = monitoring.alerts.model_copy(update={"audit_archive_check": logging.namespace if logging.store.archive else None})
        monitoring = monitoring.model_copy(update={"extra_datasources": (loki_datasource(logging.namespace, logging.store.tls is not None),), "alerts": alerts})
    platform = GpuPlatformArgs(
        gpu_operator=gpu_operator_args(spec.onprem, spec.gpu_operator, capacity, spec.monitoring.namespace),
        tenancy=onprem_tenancy_args(spec, capacity),
        serving=serving_args(spec, capacity, decision_log_url),
        monitoring=monitoring.model_copy(update={"receive_remote_write": hub}),
        queues=queues,
        logging=logging,
        mlflow=mlflow_args(spec),
        training_runtime=runtime,
        backup=onprem_backup_args(spec, queues is not None),
    )
    return secured(spec, "onprem", platform)


# --- TLS and credentials (docs/security.md) ----------------------------------------------------------


def tls_args(spec: StackSpec) -> TlsArgs | None:
    """The ClusterIssuer in-cluster certificates come from; None: the stack has no `tls`."""
    if spec.tls is None:
        return None
    return TlsArgs(issuer=CA_ISSUER if spec.tls.issuer.ca is not None else spec.tls.issuer.existing)


def credential_args(spec: StackSpec, cluster: str, namespace: str, needs: list[CredentialNeed] | None = None) -> tuple[CredentialSecretArgs, ...]:
    """The Secrets the program creates in `namespace` of `cluster` (`onprem`, `cloud`, `edge:<site>`):
    each one a component there reads whose name has a source in `secrets.sources`. A component that
    reads "a Secret name + key in my namespace" passes these to `credential_secrets()`."""
    out = []
    for need in credential_needs(spec) if needs is None else needs:
        source = spec.secrets.source(need.name)
        if need.placement != cluster or need.namespace != namespace or source is None:
            continue
        out.append(
            CredentialSecretArgs(
                name=need.name,
                namespace=namespace,
                keys=need.keys,
                store=source.store,
                # `{namespace}`: one remote secret per reading namespace (each team's own login).
                remote_key=source.remote_key.replace("{namespace}", namespace) if source.remote_key else None,
                properties=dict(source.properties),
                values={v.key: v.value for v in source.values},
            )
        )
    return tuple(out)


def external_secrets_args(spec: StackSpec, cluster: str, needs: list[CredentialNeed] | None = None) -> ExternalSecretsArgs | None:
    """external-secrets on a cluster that reads a store, with a ClusterSecretStore per store it reads;
    on EKS (`cloud`) AWS Secrets Manager through Pod Identity, elsewhere with the store's access key."""
    stores = stores_read(spec, cluster, needs)
    if not stores:
        return None
    args = []
    for store in stores:
        if store.vault is not None:
            v = store.vault
            args.append(StoreArgs(name=store.name, kind="vault", server=v.server, path=v.path, version=v.version, role=v.role, auth_mount_path=v.auth_mount_path))
        else:
            a = store.aws_secrets_manager
            args.append(StoreArgs(name=store.name, kind="aws", region=a.region, credentials=None if cluster == "cloud" else a.credentials))
    return ExternalSecretsArgs(stores=tuple(args), credentials=credential_args(spec, cluster, EXTERNAL_SECRETS_NAMESPACE), monitoring_namespace=spec.monitoring.namespace)


def cert_manager_args(spec: StackSpec, cluster: str) -> CertManagerArgs | None:
    """cert-manager and the stack's issuers on a cluster that serves or hosts platform endpoints."""
    tls = tls_args(spec)
    if tls is None:
        return None
    ca = spec.tls.issuer.ca
    acme = spec.tls.acme
    return CertManagerArgs(
        issuer=tls.issuer,
        ca_secret=ca.secret if ca is not None else None,
        acme=AcmeArgs(email=acme.email, server=acme.server, gateway=spec.serving.gateway) if acme is not None and spec.serving.gateway and cluster == "onprem" else None,
        credentials=credential_args(spec, cluster, CERT_MANAGER_NAMESPACE),
        monitoring_namespace=spec.monitoring.namespace,
    )


def secured(spec: StackSpec, cluster: str, platform: GpuPlatformArgs) -> GpuPlatformArgs:
    """A cluster's platform with its TLS and credentials: cert-manager and certificates where it
    serves or hosts platform endpoints (not edge sites: their agents serve nothing), external-secrets
    where it reads a store, and in each part's namespace the Secrets the program creates."""
    edge = cluster.startswith("edge:")
    tls = None if edge else tls_args(spec)
    needs = credential_needs(spec)

    def credentials(namespace: str) -> tuple[CredentialSecretArgs, ...]:
        return credential_args(spec, cluster, namespace, needs)

    update: dict[str, Any] = {
        "external_secrets": external_secrets_args(spec, cluster, needs),
        "cert_manager": None if edge else cert_manager_args(spec, cluster),
        "monitoring": platform.monitoring.model_copy(update={"tls": tls, "credentials": () if edge else credentials(spec.monitoring.namespace)}),
    }
    logging = platform.logging
    if logging is not None and logging.store is not None:
        # (Loki's TLS comes with its args, onprem_logging_args: its URL and its collector's CA follow from it.)
        store = logging.store.model_copy(update={"credentials": credentials(logging.namespace)})
        update["logging"] = logging.model_copy(update={"store": store})
    if logging is not None and logging.collector is not None:
        collector = logging.collector.model_copy(update={"credentials": credentials(logging.collector_namespace)})
        update["logging"] = update.get("logging", logging).model_copy(update={"collector": collector})
    if platform.backup is not None:
        update["backup"] = platform.backup.model_copy(update={"credentials": credentials(platform.backup.namespace)})
    if platform.mlflow is not None:
        update["mlflow"] = platform.mlflow.model_copy(update={"credentials": credentials(MLFLOW_NAMESPACE), "tls": tls})
    runtime = platform.training_runtime
    if runtime is not None:
        namespaces = (ARGO_WORKFLOWS_NAMESPACE, *runtime.namespaces)
        update["training_runtime"] = runtime.model_copy(update={"credentials": tuple(c for ns in namespaces for c in credentials(ns)), "tls": tls})
    if platform.serving is not None and tls is not None:
        gateway_issuer = ACME_ISSUER if spec.tls.acme is not None else None
        update["serving"] = platform.serving.model_copy(update={"tls": tls, "gateway_hosts": tuple(spec.tls.gateway_hosts), "gateway_issuer": gateway_issuer})
    return platform.model_copy(update=update)
