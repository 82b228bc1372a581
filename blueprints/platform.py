"""What every blueprint puts on a cluster: its GPU platform's parts and how they are wired, shared by
every blueprint.

Each part's args are built by its module from the config model and the capacity plan's decisions
(`<Args>.of`, beside each args class); the config models derive their own defaults. What is left
here is composition: which parts a cluster gets, what is wired to what, and `secured()`. Nothing is
decided here (hybridai/capacity decides) and nothing is created (the blueprints compose modules).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pulumi

from hybridai.capacity import CapacityPlan, ClusterCapacity, resource_name
from hybridai.config.base import CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE, KEDA_NAMESPACE, WVA_NAMESPACE
from hybridai.config.components import Team
from hybridai.config.credentials import CredentialNeed, credential_needs, phi_endpoint_needs, stores_read
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, MLFLOW_NAMESPACE
from hybridai.config.sites import site_view
from hybridai.config.spec import StackSpec
from hybridai.config.workloads import ServedModel
from hybridai.modules.backup import BackupArgs, BackupStoreArgs
from hybridai.modules.certificates import ACME_ISSUER, CertManagerArgs, TlsArgs
from hybridai.modules.gpu_burn_in import GpuBurnInArgs
from hybridai.modules.gpu_operator import GpuOperatorArgs
from hybridai.modules.keda import KedaArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.decision_log import DecisionSinkArgs, ServedDecisions
from hybridai.modules.drift_monitor import DriftMonitorArgs
from hybridai.modules.logging import LoggingArgs, loki_datasource, loki_url
from hybridai.modules.mlflow import MlflowArgs
from hybridai.modules.nvsentinel import NvSentinelArgs
from hybridai.modules.monitoring import MonitoringArgs, OpenCostPricing
from hybridai.modules.observability import AlertArgs, DriftWatch
from hybridai.modules.queues import LOCAL_QUEUE, QueuesArgs
from hybridai.modules.secret_store import CredentialSecretArgs, ExternalSecretsArgs, StoreArgs
from hybridai.modules.inference_gateway import PROXIES_NAMESPACE, GatewayDecisionTrailArgs, GatewayRouteArgs, GatewayTeamArgs, InferenceGatewayArgs
from hybridai.modules.llm_serving import LlmServiceArgs, LlmServingArgs, inference_pool
from hybridai.modules.serving import ServedModelArgs, ServingArgs
from hybridai.modules.tenancy import TenancyArgs
from hybridai.recorded import decision_sink_traces_url, decision_sink_url
from hybridai.modules.training_runtime import TrainingJobArgs, TrainingRuntimeArgs

ONPREM_BACKLOG = "The team's on-prem training quota is in use: the job starts when running jobs finish or lent quota is reclaimed; a lasting backlog means the training catalog needs more on-prem GPUs."
OVERFLOW_BACKLOG = (
    "The team's on-prem training quota is in use. Its namespace and LocalQueue `training` exist on the cloud burst pool too: "
    "submit the same job there to overflow, or add the run to the training catalog so the planner sizes the pool for it."
)
CLOUD_BACKLOG = "The burst pool can't take it now: the team's cloud quota is used up, or its NodePools are at their GPU limits (see the node autoscaling alerts)."


def export_cluster(name: str, placement: str, platform: GpuPlatform, **more: Any) -> None:
    """A cluster's stack output (`pulumi stack output <name>`): where it is, each team's namespace,
    where training is submitted, its Prometheus and Grafana (in-cluster URLs), and whatever `more`
    the cluster adds (its endpoint, kubeconfig)."""
    namespaces = {team: ns.metadata.name for team, ns in platform.tenancy.namespaces.items()}
    queues = {team: ns.metadata.name.apply(lambda n: f"{n}/{LOCAL_QUEUE}") for team, ns in platform.tenancy.namespaces.items()} if platform.queues else {}
    monitoring = {"prometheus": platform.monitoring.prometheus_url, **({"grafana": platform.monitoring.grafana_url} if platform.monitoring.grafana_url else {})}
    pulumi.export(name, {"placement": placement, "namespaces": namespaces, **({"trainingQueues": queues} if queues else {}), "monitoring": monitoring, **more})


# --- What every cluster's platform has -----------------------------------------------------------


def tenancy(spec: StackSpec, teams: Iterable[Team], gpu_quotas: Mapping[str, dict[str, int]]) -> TenancyArgs:
    """A cluster's tenants with their GPU quotas there (team → the capacity plan's quota), labelled
    with the stack's environment and cost center."""
    return TenancyArgs.of(teams, gpu_quotas, spec.monitoring.namespace, spec.environment, spec.cost_center)


def monitoring(spec: StackSpec, teams: list[Team], models: Iterable[ServedModel] = (), *, coverage: Mapping[str, Any] | None = None, **wiring: Any) -> MonitoringArgs:
    """A cluster's monitoring with the stack's settings: alerts for its `teams` and the `models`
    served there, and on what else it runs (`coverage`: AlertArgs.of); `wiring`: how its Prometheus
    is connected (MonitoringArgs.of)."""
    alerts = AlertArgs.of(spec.monitoring, teams, models, log_collectors=spec.logging is not None, **(coverage or {}))
    return MonitoringArgs.of(spec.monitoring, teams, spec.gpu_operator.namespace, alerts, **wiring)


def backups(spec: StackSpec, cluster: str, teams: list[Team], store: BackupStoreArgs, alert_rules: bool = True, also_backed_up: Iterable[str] = ()) -> BackupArgs | None:
    """Velero on `cluster` into `store`: its teams' namespaces and every platform namespace there
    (the platform adds those its parts create; `also_backed_up`: those made outside it), on the
    stack's backup policy. None when the stack keeps no backups."""
    settings = spec.backups
    if settings is None:
        return None
    pod_security = spec.platform_namespaces()[settings.namespace]
    return BackupArgs.of(settings, spec.backup_policy(), pod_security, cluster, store, teams, spec.monitoring.namespace, alert_rules, also_backed_up)


# --- The on-prem (or plant) cluster: the training hub ------------------------------------------------


def serving(spec: StackSpec, capacity: ClusterCapacity) -> ServingArgs | None:
    """KServe for the catalog's models, each as the planner sized it: its replicas at peak, the
    smallest slice that holds a replica, scaled on the rate and the requests in flight each replica
    was planned for, logging its decisions to the stack's decision sink (or the external one it
    names). None when the stack serves no model."""
    if not spec.models:
        return None
    namespaces = {t.name: t.namespace for t in spec.teams}
    models = []
    for model in spec.models:
        _, profile, peak = capacity.placements[model.name]
        resource = resource_name(capacity.slice_key(profile))
        if model.llm is None:
            targets = capacity.replica_rps[model.name], capacity.replica_in_flight[model.name]
            models.append(ServedModelArgs.of(model, namespaces[model.team], spec.mlops, peak, resource, *targets))
        elif not spec.llm_d():
            # Where llm-d doesn't fit the cluster: a vLLM InferenceService.
            models.append(ServedModelArgs.of_llm(model, namespaces[model.team], spec.mlops, peak, resource, capacity.llms[model.name]))
    sink = spec.decision_sink()
    url = spec.external_decision_log() or (decision_sink_url(sink.namespace) if sink else None)
    return ServingArgs.of(spec.serving, tuple(models), spec.monitoring.namespace, url, llm_autoscaling=spec.llm_d())


def prometheus_clients(spec: StackSpec, autoscaling: bool) -> tuple[str, ...]:
    """The namespaces whose pods query the on-prem cluster's Prometheus: KEDA's scalers where models
    are autoscaled, and the workload-variant-autoscaler where LLMs are served with llm-d."""
    return (*((KEDA_NAMESPACE,) if autoscaling else ()), *((WVA_NAMESPACE,) if spec.llm_d() else ()))


def llm_serving(spec: StackSpec, capacity: ClusterCapacity) -> LlmServingArgs | None:
    """The catalog's LLMs as LLMInferenceServices (llm-d) on a data-center cluster, each as the
    planner sized it; None where the cluster serves none that way (`StackSpec.llm_d`)."""
    if not spec.llm_d():
        return None
    namespaces = {t.name: t.namespace for t in spec.teams}
    services = []
    for model in spec.models:
        if model.llm is None:
            continue
        _, profile, peak = capacity.placements[model.name]
        resource = resource_name(capacity.slice_key(profile))
        services.append(LlmServiceArgs.of(model, namespaces[model.team], spec.mlops, peak, resource, capacity.llms[model.name]))
    return LlmServingArgs.of(tuple(services), spec.models, PROXIES_NAMESPACE, namespaces, spec.monitoring.namespace)


def inference_gateway(spec: StackSpec) -> InferenceGatewayArgs | None:
    """The inference gateway in front of the on-prem cluster's LLMs (llm-d): a route per team with
    LLMs, the team's group and token budget; None where there is none to put it in front of, or the
    stack lacks what it needs (the stack check says so)."""
    settings, tls = spec.serving.llm_gateway, tls_of(spec)
    if not spec.llm_d() or settings is None or tls is None:
        return None
    teams = []
    for team in spec.teams:
        llms = [m for m in spec.models if m.llm is not None and m.team == team.name]
        if not llms or team.llm_tokens_per_minute is None:
            continue
        routes = tuple(GatewayRouteArgs(model=m.name, pool=inference_pool(m.name)) for m in llms)
        group = team.group.removeprefix(settings.groups_prefix)
        teams.append(GatewayTeamArgs(name=team.name, namespace=team.namespace, group=group, tokens_per_minute=team.llm_tokens_per_minute, routes=routes))
    return InferenceGatewayArgs.of(settings, tuple(teams), tls, spec.monitoring.namespace, existing_gateway=spec.serving.gateway is not None)


def decision_sink(spec: StackSpec, logging: LoggingArgs | None) -> DecisionSinkArgs | None:
    """The on-prem cluster's decision sink, next to its Loki and writing its archive, for the models
    that log their decisions; None where the stack provisions none (`StackSpec.decision_sink`)."""
    settings = spec.decision_sink()
    if settings is None or logging is None or logging.store is None or logging.store.tls is None:
        return None
    namespaces = {t.name: t.namespace for t in spec.teams}
    # An LLM served by llm-d has no KServe logger: its requests reach the sink as the inference gateway's spans.
    models = tuple(
        ServedDecisions(
            namespace=namespaces[m.team], name=m.name, team=m.team, registry_model=m.registry.model if m.registry else None,
            model_version=m.registry.version if m.registry else None, peak_rps=m.peak_rps, llm=m.llm is not None and spec.llm_d(),
        )
        for m in spec.models
        if m.decision_log
    )
    url = loki_url(logging.namespace, True)
    return DecisionSinkArgs.of(settings, spec.onprem.name, models, spec.logging.audit_archive, url, logging.store.tls, spec.monitoring.namespace, PROXIES_NAMESPACE)


def drift_monitor(spec: StackSpec, decisions: DecisionSinkArgs | None) -> DriftMonitorArgs | None:
    """The drift checks beside the cluster's decision sink, for the models the stack watches
    (`StackSpec.drift_watched`); None where there is no sink or no such model."""
    watched = spec.drift_watched()
    if decisions is None or not watched:
        return None
    namespaces = {t.name: t.namespace for t in spec.teams}
    return DriftMonitorArgs.of(spec.logging.decisions, decisions.cluster, [(m, namespaces[m.team]) for m in watched], spec.logging.audit_archive)


def training_jobs(spec: StackSpec, capacity: CapacityPlan, placement: str) -> tuple[TrainingJobArgs, ...]:
    """The catalog jobs with an image that the capacity plan placed on `placement` (`onprem` or
    `cloud`), each on the pool and with the GPUs it was given."""
    pool = spec.burst_pool()
    teams = {t.name: t for t in (spec.teams if placement == "onprem" else (pool.teams if pool else []))}
    jobs = []
    for i, job in enumerate(spec.training):
        where = capacity.job_placement(i)
        if job.image is None or where is None or where.placement != placement:
            continue
        namespace = teams[job.team].namespace
        if placement == "onprem":
            jobs.append(TrainingJobArgs.on_prem(job, namespace, where.pool, where.gpus, spec.mlops, spec.prefix))
        else:
            jobs.append(TrainingJobArgs.in_cloud(job, namespace, where.gpus, spec.prefix, pool.account_id))
    return tuple(jobs)


def training_runtime_args(spec: StackSpec, capacity: CapacityPlan, placement: str) -> TrainingRuntimeArgs | None:
    """What runs the catalog jobs placed on `placement`; on-prem is the hub, where MLflow and the
    Argo UI run. None without `mlops` or when no such job runs there."""
    jobs = training_jobs(spec, capacity, placement) if spec.mlops is not None else ()
    if not jobs:
        return None
    return TrainingRuntimeArgs.of(spec.mlops, jobs, hub=placement == "onprem", monitoring_namespace=spec.monitoring.namespace, drift_baselines=bool(spec.drift_watched()))


def onprem_backups(spec: StackSpec) -> BackupArgs | None:
    """The on-prem cluster's backups, into the on-prem store: its teams and every platform namespace
    it runs."""
    if spec.backups is None:
        return None
    cluster = spec.onprem.name
    return backups(spec, cluster, spec.teams, BackupStoreArgs.of_store(spec.backups.object_store, prefix=cluster))


def onprem_platform(
    spec: StackSpec, capacity: ClusterCapacity, backlog: str, hub: bool = False, runtime: TrainingRuntimeArgs | None = None
) -> GpuPlatformArgs:
    """The on-prem (or plant) cluster's platform: every part sized by its capacity plan. `backlog`:
    what the queue backlog alert tells on-prem teams to do; `hub`: its Prometheus receives what
    edge sites forward; `runtime`: the catalog jobs placed here (`training_runtime_args`). It is
    the stack's training hub: MLflow runs here, and Loki for the stack's other clusters."""
    cluster = spec.onprem
    whole_gpu_pools = [pool for pool, (_, whole) in capacity.pool_gpus.items() if whole]
    queues = QueuesArgs.of_pools(cluster.name, spec.teams, whole_gpu_pools, capacity.training, spec.monitoring.namespace, jobset=runtime is not None)
    logging = None
    if spec.logging is not None:
        writers = (cluster.name, *(site.name for site in spec.edge_sites()))
        logging = LoggingArgs.hub(spec.logging, cluster, spec.log_retention(), writers, spec.has_remote_clusters(), tls_of(spec), spec.monitoring.namespace)
    # Grafana reads the cluster's Loki; the hub's archive check is alerted on here.
    loki = {"extra_datasources": (loki_datasource(logging.namespace, logging.store.tls is not None),)} if logging else {}
    # The decision sink pushes to the cluster's Loki too.
    decisions = decision_sink(spec, logging)
    served = serving(spec, capacity)
    # KEDA scales the served models, reading this cluster's Prometheus.
    autoscaling = KedaArgs.of(spec.monitoring.namespace) if served else None
    # Its drift checks run on the cluster's Argo Workflows (installed for them where no job trains here).
    drift = drift_monitor(spec, decisions)
    if drift is not None:
        runtime = runtime or TrainingRuntimeArgs.of(spec.mlops, (), hub=True, monitoring_namespace=spec.monitoring.namespace)
        runtime = runtime.model_copy(update={"monitor_namespaces": (drift.namespace,)})
    namespaces = {t.name: t.namespace for t in spec.teams}
    nvsentinel = NvSentinelArgs.of(spec.gpu_health, spec.teams, spec.training, spec.gpu_operator.namespace, spec.monitoring.namespace) if spec.gpu_health.runs(spec.tls is not None) else None
    burn_in = GpuBurnInArgs.of_onprem(spec.gpu_health.burn_in, cluster.gpu_pools)
    coverage = {
        "xid_remediation": "quarantine" if nvsentinel else "page",
        "burn_in_stuck_minutes": burn_in.stuck_minutes if burn_in else None,
        "queue_backlog_hint": backlog if queues else None,
        "audit_archive_check": logging.namespace if logging and logging.store.archive else None,
        "decision_sink": decisions.namespace if decisions else None,
        "autoscaling": autoscaling is not None,
        "drift_watches": tuple(DriftWatch.of(m, namespaces[m.team], spec.monitoring) for m in spec.drift_watched()) if drift else (),
    }
    platform = GpuPlatformArgs(
        gpu_operator=GpuOperatorArgs.of(
            spec.gpu_operator, cluster, spec.monitoring.namespace, capacity.strategy, capacity.mig_configs, capacity.nodes,
            dcgm_clients=(nvsentinel.namespace,) if nvsentinel else (),
            models=spec.models,
            training_wait_minutes=spec.gpu_health.training_drain_minutes,
            burn_in=burn_in is not None,
        ),
        nvsentinel=nvsentinel,
        burn_in=burn_in,
        tenancy=tenancy(spec, spec.teams, {team.name: capacity.gpu_quota(team.name) for team in spec.teams}),
        serving=served,
        autoscaling=autoscaling,
        llm_serving=llm_serving(spec, capacity),
        inference_gateway=inference_gateway(spec),
        monitoring=monitoring(spec, spec.teams, spec.models, coverage=coverage, pricing=OpenCostPricing.of(cluster, spec.cost), receive_remote_write=hub, query_clients=prometheus_clients(spec, autoscaling is not None), **loki),
        queues=queues,
        logging=logging.model_copy(update={"store": logging.store.model_copy(update={"push_namespaces": (decisions.namespace,), "decision_streams": decisions.index_rates})}) if decisions else logging,
        decisions=decisions,
        # Its clients: the teams, and the drift checks reading the baselines.
        mlflow=MlflowArgs.of(spec.mlops, tuple(sorted({*namespaces.values(), *([drift.namespace] if drift else [])})), spec.monitoring.namespace, spec.environment) if spec.mlops else None,
        training_runtime=runtime,
        drift=drift,
        backup=onprem_backups(spec),
    )
    return secured(spec, "onprem", platform)


# --- The other data centers (`onprem` as a list, docs/multi-site.md) ----------------------------------


def site_platform(spec: StackSpec, site: str, capacity: ClusterCapacity) -> GpuPlatformArgs:
    """An on-prem cluster beside the lead one: the stack as it sees it (`site_view`: its teams, the
    models it serves or stands by for, each sized for its failover share), with a platform that
    stands alone — its own Prometheus and Alertmanager, KServe, KEDA, backups into its own prefix
    of the store, a decision sink of its own writing the archive under its name — and what only
    the hub has left out: training, MLflow, the drift checks and the log store (its collector and
    sink push to the hub's Loki through `logging.hubUrl`)."""
    view = site_view(spec, site)
    cluster = view.onprem
    # A cold standby reserves its capacity (the quotas and MIG layouts above hold its slices) and
    # runs nothing until the primary's backup is restored here (the restore runbook).
    role = next(s for s in spec.onprem_sites() if s.name == site)
    cold = role.role == "dr" and role.standby == "cold"
    running = view.model_copy(update={"models": []}) if cold else view
    served = serving(running, capacity)
    autoscaling = KedaArgs.of(spec.monitoring.namespace) if served else None
    logging = LoggingArgs.remote(spec.logging, site, "onprem", spec.monitoring.namespace, distribution=cluster.distribution) if spec.logging is not None else None
    decisions = remote_decision_sink(running, site)
    coverage = {"decision_sink": decisions.namespace if decisions else None, "autoscaling": autoscaling is not None}
    platform = GpuPlatformArgs(
        gpu_operator=GpuOperatorArgs.of(spec.gpu_operator, cluster, spec.monitoring.namespace, capacity.strategy, capacity.mig_configs, capacity.nodes),
        tenancy=tenancy(spec, view.teams, {team.name: capacity.gpu_quota(team.name) for team in view.teams}),
        serving=served,
        autoscaling=autoscaling,
        llm_serving=llm_serving(running, capacity),
        inference_gateway=inference_gateway(running),
        monitoring=monitoring(spec, view.teams, running.models, coverage=coverage, pricing=OpenCostPricing.of(cluster, spec.cost), query_clients=(KEDA_NAMESPACE,) if autoscaling else ()),
        logging=logging,
        decisions=decisions,
        backup=backups(spec, site, view.teams, BackupStoreArgs.of_store(spec.backups.object_store, prefix=site)) if spec.backups is not None else None,
    )
    return secured(running, "onprem", platform)


def remote_decision_sink(spec: StackSpec, site: str) -> DecisionSinkArgs | None:
    """The decision sink of a cluster beside the hub: the same sink, writing the archive under the
    cluster's name (`decision/<site>/…`) and pushing to the hub's Loki through `logging.hubUrl`
    (the stack check requires it where `onprem` lists clusters); None where the stack provisions none."""
    settings, tls = spec.decision_sink(), tls_of(spec)
    if settings is None or tls is None or spec.logging.hub_url is None:
        return None
    namespaces = {t.name: t.namespace for t in spec.teams}
    models = tuple(
        ServedDecisions(namespace=namespaces[m.team], name=m.name, team=m.team, registry_model=m.registry.model if m.registry else None, model_version=m.registry.version if m.registry else None, peak_rps=m.peak_rps)
        for m in spec.models
        if m.decision_log and not (m.llm is not None and spec.llm_d())
    )
    return DecisionSinkArgs.of(settings, site, models, spec.logging.audit_archive, spec.logging.hub_url, tls, spec.monitoring.namespace)


# --- TLS and credentials (docs/security.md) ----------------------------------------------------------


def tls_of(spec: StackSpec) -> TlsArgs | None:
    """The ClusterIssuer in-cluster certificates come from; None: the stack has no `tls`."""
    return TlsArgs.of(spec.tls) if spec.tls is not None else None


def credential_args(spec: StackSpec, cluster: str, namespace: str, needs: list[CredentialNeed] | None = None) -> tuple[CredentialSecretArgs, ...]:
    """The Secrets the program creates in `namespace` of `cluster` (`onprem`, `cloud`, `edge:<site>`):
    each one a component there reads whose name has a source in `secrets.sources`. A component that
    reads "a Secret name + key in my namespace" passes these to `credential_secrets()`."""
    out = []
    for need in credential_needs(spec) if needs is None else needs:
        source = spec.secrets.source(need.name)
        if need.placement == cluster and need.namespace == namespace and source is not None:
            out.append(CredentialSecretArgs.of(source, namespace, need.keys))
    return tuple(out)


def external_secrets_args(spec: StackSpec, cluster: str, needs: list[CredentialNeed] | None = None) -> ExternalSecretsArgs | None:
    """external-secrets on a cluster that reads a store, with a ClusterSecretStore per store it reads;
    on EKS (`cloud`) AWS Secrets Manager through Pod Identity, elsewhere with the store's access key."""
    stores = stores_read(spec, cluster, needs)
    if not stores:
        return None
    return ExternalSecretsArgs(
        stores=tuple(StoreArgs.of(store, on_eks=cluster == "cloud") for store in stores),
        credentials=credential_args(spec, cluster, EXTERNAL_SECRETS_NAMESPACE, needs),
        monitoring_namespace=spec.monitoring.namespace,
    )


def logger_ca(spec: StackSpec) -> CredentialSecretArgs | None:
    """The source of the stack's internal CA, whose certificate the models' loggers verify the
    decision sink with; None without an internal CA with a source (the stack check says so)."""
    ca = spec.tls.issuer.ca if spec.tls is not None else None
    source = spec.secrets.source(ca.secret) if ca is not None else None
    return CredentialSecretArgs.of(source, CERT_MANAGER_NAMESPACE, ("tls.crt",)) if source is not None else None


def secured(spec: StackSpec, cluster: str, platform: GpuPlatformArgs) -> GpuPlatformArgs:
    """A cluster's platform with its TLS and credentials: cert-manager and certificates where it
    serves or hosts platform endpoints (not edge sites: their agents serve nothing), external-secrets
    where it reads a store, and in each part's namespace the Secrets the program creates."""
    edge = cluster.startswith("edge:")
    tls = None if edge else tls_of(spec)
    needs = credential_needs(spec)

    def credentials(namespace: str) -> tuple[CredentialSecretArgs, ...]:
        return credential_args(spec, cluster, namespace, needs)

    # The ACME issuer answers its challenges through the serving Gateway, which is on-prem.
    gateway = spec.serving.gateway if cluster == "onprem" else None
    update: dict[str, Any] = {
        "external_secrets": external_secrets_args(spec, cluster, needs),
        "cert_manager": None if edge or spec.tls is None else CertManagerArgs.of(spec.tls, gateway, credentials(CERT_MANAGER_NAMESPACE), spec.monitoring.namespace),
        "monitoring": platform.monitoring.model_copy(update={"tls": tls, "credentials": () if edge else credentials(spec.monitoring.namespace)}),
    }
    logging = platform.logging
    if logging is not None and logging.store is not None:
        # (Loki's TLS comes with its args, LoggingArgs.hub: its URL and its collector's CA follow from it.)
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
        # The teams' PHI endpoint credentials in those namespaces are PhiEgress's to create.
        phi = {(n.namespace, n.name) for n in phi_endpoint_needs(spec)}
        own = tuple(c for ns in namespaces for c in credentials(ns) if (c.namespace, c.name) not in phi)
        update["training_runtime"] = runtime.model_copy(update={"credentials": own, "tls": tls})
    drift_secrets = {platform.drift.archive_reader_secret, platform.drift.mlflow_secret} if platform.drift is not None else set()
    if platform.decisions is not None:
        # The sink's namespace holds the drift checks' Secrets too: each part creates its own.
        sink_secrets = tuple(c for c in credentials(platform.decisions.namespace) if c.name not in drift_secrets)
        update["decisions"] = platform.decisions.model_copy(update={"credentials": sink_secrets})
    if platform.drift is not None:
        update["drift"] = platform.drift.model_copy(update={"credentials": tuple(c for c in credentials(platform.drift.namespace) if c.name in drift_secrets)})
    if platform.autoscaling is not None and tls is not None:
        # KEDA's scalers verify the cluster's Prometheus, which serves https, against the issuer's CA.
        update["autoscaling"] = platform.autoscaling.model_copy(update={"tls": tls})
    # The decision sink's senders (the models' loggers, the AI Gateway) verify it with the stack CA's
    # certificate, from its source: a ConfigMap of it in each of their namespaces.
    sink_ca = logger_ca(spec) if platform.decisions is not None else None
    ca_copied = False
    if platform.serving is not None and tls is not None:
        gateway_issuer = ACME_ISSUER if spec.tls.acme is not None else None
        serving = {"tls": tls, "gateway_hosts": tuple(spec.tls.gateway_hosts), "gateway_issuer": gateway_issuer}
        if sink_ca is not None:
            serving["logger_ca"], ca_copied = sink_ca, True
        update["serving"] = platform.serving.model_copy(update=serving)
    if platform.inference_gateway is not None and sink_ca is not None and platform.decisions.llms:
        # The AI Gateway exports every LLM request to the sink.
        trail = GatewayDecisionTrailArgs(url=decision_sink_traces_url(platform.decisions.namespace), ca=sink_ca)
        update["inference_gateway"] = platform.inference_gateway.model_copy(update={"decision_trail": trail})
        ca_copied = True
    if ca_copied and sink_ca.store and update["external_secrets"] is not None:
        update["external_secrets"] = update["external_secrets"].model_copy(update={"config_maps": True})
    return platform.model_copy(update=update)
