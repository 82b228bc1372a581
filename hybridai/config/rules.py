"""The cross-field rules of a stack: what pydantic's per-field validation can't see, each rule a
function of the whole spec returning its problems, each at its own key path.

STACK_RULES is the list every blueprint's spec runs (its `rules`, through `StackSpec.check()`);
a blueprint adds its own after them. The rules of serving — canaries, the decision trail, the
gateways, LLMs — are in hybridai/config/serving_rules.py; the rules that every Secret read has a
source able to give it live beside the list of those Secrets (hybridai/config/credentials.py). Checks of one block
that only need a few values from elsewhere stay beside its model (check_teams, check_cloud,
check_sites, check_audit_archive) and a rule here hands them those values. Whether the catalog
fits the GPUs is hybridai/capacity's to say.
"""
from __future__ import annotations

from hybridai import catalog, cidr
from hybridai.config.base import AI_GATEWAY_NAMESPACE, ENVOY_GATEWAY_NAMESPACE, INFERENCE_GATEWAY_NAMESPACE, LWS_NAMESPACE, ARGOCD_NAMESPACE, CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE, KARPENTER_NAMESPACE, KEDA_NAMESPACE, KSERVE_NAMESPACE, KUEUE_NAMESPACE, NO_VALUE, Problem, choose_from
from hybridai.config.cloud import check_cloud
from hybridai.config.components import check_teams, is_system_namespace
from hybridai.config.credentials import check_aws_stores, check_one_reader_per_secret, check_remote_keys, check_secret_names, check_source_values, check_sources_present
from hybridai.config.edge import check_sites
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, JOBSET_NAMESPACE, MLFLOW_NAMESPACE
from hybridai.config.operations import check_audit_archive
from hybridai.config.sites import check_onprem_sites
from hybridai.config.serving_rules import check_canaries, check_decision_logging, check_gateway_hosts, check_llms
from hybridai.config.spec import CloudBurstSpec, Rule, StackSpec, eks_least_log_retention, profiles_named
from hybridai.recorded import cloud_store_host


# --- Tenants and platform namespaces -------------------------------------------------------------


def check_tenants(spec: StackSpec) -> list[Problem]:
    """The on-prem cluster's tenants are unique and clear of system and platform namespaces."""
    return check_teams(spec.teams, reserved=set(spec.platform_namespaces()))


def check_platform_namespaces(spec: StackSpec) -> list[Problem]:
    """The namespaces a stack file may choose for the platform are neither Kubernetes' own (Pulumi
    would manage kube-system, and the platform's NetworkPolicy there would cut CoreDNS off) nor
    shared with another platform component (each gets its own Pod Security level and policy)."""
    chosen = {("monitoring", "namespace"): spec.monitoring.namespace, ("gpuOperator", "namespace"): spec.gpu_operator.namespace}
    if spec.logging is not None:
        chosen[("logging", "namespace")] = spec.logging.namespace
        chosen[("logging", "collectorNamespace")] = spec.logging.collector_namespace
    if spec.backups is not None:
        chosen[("backups", "namespace")] = spec.backups.namespace
    if spec.gpu_health.runs(spec.tls is not None):
        chosen[("gpuHealth", "namespace")] = spec.gpu_health.namespace
    fixed = {
        ARGOCD_NAMESPACE: "Argo CD", KUEUE_NAMESPACE: "Kueue", KSERVE_NAMESPACE: "KServe", KARPENTER_NAMESPACE: "Karpenter",
        CERT_MANAGER_NAMESPACE: "cert-manager", EXTERNAL_SECRETS_NAMESPACE: "external-secrets", KEDA_NAMESPACE: "KEDA",
    }
    if spec.mlops is not None:
        fixed.update({MLFLOW_NAMESPACE: "MLflow", ARGO_WORKFLOWS_NAMESPACE: "Argo Workflows", JOBSET_NAMESPACE: "JobSet"})
    if spec.llm_d():
        fixed.update({ENVOY_GATEWAY_NAMESPACE: "Envoy Gateway", AI_GATEWAY_NAMESPACE: "Envoy AI Gateway", INFERENCE_GATEWAY_NAMESPACE: "the inference gateway", LWS_NAMESPACE: "LeaderWorkerSet"})
    problems = []
    for loc, namespace in chosen.items():
        others = {ns for key, ns in chosen.items() if key != loc}
        if is_system_namespace(namespace):
            problems.append(Problem(loc, "namespace_reserved", "Kubernetes' own namespaces (default, kube-*) are not for the platform; choose another", namespace))
        elif namespace in fixed:
            problems.append(Problem(loc, "namespace_taken", f"{fixed[namespace]} runs in this namespace; choose another", namespace))
        elif namespace in others:
            problems.append(Problem(loc, "namespace_taken", "another platform component is set to this namespace; give each its own", namespace))
    return problems


def check_gpu_health(spec: StackSpec) -> list[Problem]:
    """NVSentinel, where the stack turns it on, has cert-manager for its MongoDB store's certificates."""
    if spec.gpu_health.enabled and spec.tls is None:
        return [Problem(("gpuHealth", "enabled"), "gpu_health_needs_tls", "NVSentinel's MongoDB store takes its certificates from cert-manager, which the stack installs with `tls`: add `tls`, or set gpuHealth.enabled to false", True)]
    return []


# --- Policy --------------------------------------------------------------------------------------


def check_waivers(spec: StackSpec) -> list[Problem]:
    """Only a profile the stack implies can be waived."""
    implied = spec.implied_profiles()
    return [
        Problem(("policy", "waive", name), "waiver_not_needed", f"the stack doesn't imply {name} (it implies {', '.join(implied) or 'none'}); remove the waiver", reason)
        for name, reason in spec.policy.waive.items()
        if name not in implied
    ]


def check_allow_lists(spec: StackSpec) -> list[Problem]:
    """Every network allow-list, held to hybridai/cidr.py's width rule unless the stack says why."""
    if spec.policy.wide_networks_reason:
        return []
    lists: list[tuple[tuple, list[str]]] = []
    pool = spec.burst_pool()
    if pool is not None:
        lists.append((("cloud", "cluster", "publicAccessCidrs"), pool.cluster.public_access_cidrs))
    lists += [(("sites", i, "clientCidrs"), site.client_cidrs) for i, site in enumerate(spec.edge_sites())]
    problems = []
    for loc, entries in lists:
        for why in cidr.check_allow_list(entries)[1]:
            problems.append(Problem(loc, "allow_list_too_wide", f"{why}; list only the networks that need access, or set `policy.wideNetworksReason`", entries))
    return problems


# --- Alerts and logs -----------------------------------------------------------------------------


def check_alerting(spec: StackSpec) -> list[Problem]:
    """Receiver names are unique and every route names one; team routes name teams of the stack;
    a prod stack sends critical alerts somewhere."""
    alerting = spec.monitoring.alerting
    at = ("monitoring", "alerting")
    problems = []
    names: set[str] = set()
    for i, receiver in enumerate(alerting.receivers):
        if receiver.name in names:
            problems.append(Problem((*at, "receivers", i, "name"), "duplicate_receiver", "another receiver has this name; names are what routes refer to", receiver.name))
        names.add(receiver.name)
    def unknown(name: str) -> str:
        return f"no receiver {name!r} in `monitoring.alerting.receivers`: add it{choose_from(name, names, 'receivers')}"

    for key in ("critical", "default"):
        if (name := getattr(alerting, key)) is not None and name not in names:
            problems.append(Problem((*at, key), "unknown_receiver", unknown(name), name))
    teams = {t.name for t in spec.all_teams()}
    for team, name in alerting.teams.items():
        if team not in teams:
            problems.append(Problem((*at, "teams", team), "team_unknown", f"no team {team!r} in the stack{choose_from(team, teams, 'teams')}", name))
        elif name not in names:
            problems.append(Problem((*at, "teams", team), "unknown_receiver", unknown(name), name))
    if spec.environment == "prod" and alerting.critical is None:
        problems.append(
            Problem(
                (*at, "critical"),
                "critical_receiver_required",
                "a prod stack sends critical alerts (GPU faults, latency objectives, nodes the burst pool can't launch) to someone: "
                "add a receiver (PagerDuty, Slack, email or webhook) and name it here",
                NO_VALUE,
            )
        )
    return problems


def check_logging(spec: StackSpec) -> list[Problem]:
    """A prod stack keeps its logs (the on-prem log store needs its object store), remote clusters
    can reach the hub's log store, and no stack keeps logs shorter than its compliance profiles
    require."""
    required = catalog.log_retention(spec.compliance_profiles())
    profiles = profiles_named(spec)
    if spec.logging is None:
        if spec.environment != "prod" and not required.archive:
            return []
        return [
            Problem(
                ("logging",),
                "logging_required",
                f"a {'prod stack' if spec.environment == 'prod' else f'stack with the profiles {profiles}'} keeps its logs: set `logging.objectStore` (the on-prem S3-compatible `endpoint`, `bucket`, and the Secret keys "
                "`accessKeyId` and `secretAccessKey`) so Loki on the on-prem cluster can store them",
                NO_VALUE,
            )
        ]
    problems = check_audit_archive(spec.logging.audit_archive, required, profiles)
    if spec.logging.hub_url is None and spec.has_remote_clusters():
        problems.append(
            Problem(
                ("logging", "hubUrl"),
                "hub_url_required",
                "the collectors on the EKS burst pool and edge sites push their logs to the on-prem Loki from outside its cluster: "
                "set the https address that reaches it (a load balancer or ingress with TLS in front of the `loki` service)",
                NO_VALUE,
            )
        )
    for key, days, least in (("logRetentionDays", spec.logging.log_retention_days, required.log_days), ("auditRetentionDays", spec.logging.audit_retention_days, required.audit_days)):
        if days is not None and days < least:
            problems.append(
                Problem(("logging", key), "retention_below_profile", f"the stack's compliance profiles ({profiles}) require at least {least} days; set {least} or more, or leave it unset", days)
            )
    return problems


def check_eks_log_retention(spec: StackSpec) -> list[Problem]:
    """The EKS control plane's log group keeps the audit log at least the profiles' audit retention."""
    pool = spec.burst_pool()
    days = pool.cluster.log_retention_days if pool is not None else None
    required = catalog.log_retention(spec.compliance_profiles()).audit_days
    if days is None or days >= required:
        return []
    return [
        Problem(
            ("cloud", "cluster", "logRetentionDays"),
            "retention_below_profile",
            f"the control plane's log group holds the EKS audit log, which the stack's compliance profiles ({profiles_named(spec)}) keep "
            f"{required} days: set {eks_least_log_retention(spec)} or more, or leave it unset",
            days,
        )
    ]


# --- MLOps ---------------------------------------------------------------------------------------


def check_mlops_needed(spec: StackSpec) -> list[Problem]:
    """Scheduled or evaluated jobs name their image; jobs that run on the platform and models named
    by registry version have the MLOps layer."""
    problems: list[Problem] = []
    for i, job in enumerate(spec.training):
        for key, value in (("schedule", job.schedule), ("evaluation", job.evaluation)):
            if value is not None and job.image is None:
                problems.append(Problem(("training", i, key), "image_required", "a scheduled or evaluated job runs on the platform: name its `image`", value.model_dump(by_alias=True)))
    if spec.mlops is not None:
        return problems
    for i, model in enumerate(spec.models):
        if model.registry is not None:
            problems.append(Problem(("models", i, "registry"), "registry_missing", "a model served from a registry version needs the stack's registry: add the `mlops` block", model.registry.model_dump(by_alias=True)))
    runnable = [(i, job) for i, job in enumerate(spec.training) if job.image]
    if runnable:
        i, job = runnable[0]
        problems.append(Problem(("training", i, "image"), "mlops_missing", "a job that runs on the platform tracks its runs in MLflow: add the `mlops` block", job.image))
    return problems


def check_mlops_ingress(spec: StackSpec) -> list[Problem]:
    """MLflow and the Argo UI, served through an ingress, admit its namespace."""
    settings = spec.mlops
    if settings is None or (settings.tracking_url is None and settings.argo_sso is None) or settings.ingress_namespace is not None:
        return []
    served = "`trackingUrl`" if settings.tracking_url is not None else "the Argo UI (`argoSso.redirectUrl`)"
    return [
        Problem(
            ("mlops", "ingressNamespace"),
            "ingress_namespace_required",
            f"MLflow's and Argo's NetworkPolicies admit only the teams and monitoring: name the namespace of the ingress controller that serves {served}",
            NO_VALUE,
        )
    ]


def check_artifact_store(spec: StackSpec) -> list[Problem]:
    """One artifact store, where residency allows, and a checkpoint store for jobs training on-prem."""
    settings = spec.mlops
    if settings is None:
        return []
    at = ("mlops",)
    problems = []
    if (settings.object_store is None) == (settings.cloud_artifacts is None):
        problems.append(Problem(at, "artifact_store", "name exactly one artifact store: `objectStore` (on-prem, the default choice) or `cloudArtifacts`", NO_VALUE))
    if any(job.image for job in spec.training) and settings.checkpoint_endpoint is None and settings.object_store is None:
        problems.append(Problem((*at, "checkpointEndpoint"), "missing", "jobs training on-prem checkpoint to the on-prem store: name its endpoint (or set `objectStore`)", NO_VALUE))
    store = settings.cloud_artifacts
    if store is None:
        return problems
    allowed = spec.allowed_regions()
    if "hipaa" in spec.compliance_profiles():
        problems.append(Problem((*at, "cloudArtifacts"), "artifacts_leave_premises", "HIPAA: model artifacts (trained on PHI) never go to the cloud; use `objectStore`, the on-prem store", store.bucket))
    elif not allowed:
        problems.append(Problem((*at, "cloudArtifacts"), "no_cloud", "this stack has no cloud account; use `objectStore`, the on-prem store", store.bucket))
    elif store.region not in allowed:
        problems.append(Problem((*at, "cloudArtifacts", "region"), "region_outside_jurisdiction", f"the artifact bucket must be in the stack's jurisdiction; use one of {', '.join(allowed)}", store.region))
    return problems


# --- TLS and credentials -------------------------------------------------------------------------


def check_issuer(spec: StackSpec) -> list[Problem]:
    """A stack that serves models, or any prod stack, names its certificate issuer (KServe's webhooks
    need cert-manager; platform endpoints get certificates)."""
    if spec.tls is not None or not (spec.models or spec.environment == "prod"):
        return []
    why = "the stack serves models, and KServe's webhooks need cert-manager" if spec.models else "a prod stack's platform endpoints (Grafana, Prometheus, Loki) are served over TLS"
    return [Problem(("tls",), "issuer_required", f"{why}: set `tls.issuer` (`ca: {{secret: …}}` for an internal CA, or `existing: <ClusterIssuer>`)", NO_VALUE)]


# --- Backups -------------------------------------------------------------------------------------


def check_backup_policy(spec: StackSpec) -> list[Problem]:
    """A prod stack backs up; the schedules run within the compliance profiles' recovery point
    objective and keep backups as long as they require."""
    settings = spec.backups
    if settings is None:
        if spec.environment != "prod":
            return []
        return [
            Problem(
                ("backups",),
                "backups_required",
                "a prod stack backs up its clusters: set `backups.objectStore` (the on-prem S3-compatible `endpoint`, `bucket`, and the Secret "
                "keys `accessKeyId` and `secretAccessKey` in Velero's namespace) so Velero can keep the on-prem cluster's backups there",
                NO_VALUE,
            )
        ]
    required = catalog.backup_policy(spec.compliance_profiles())
    profiles = profiles_named(spec)
    problems = []
    if settings.every_hours is not None and settings.every_hours > required.rpo_hours:
        problems.append(
            Problem(
                ("backups", "everyHours"),
                "schedule_beyond_rpo",
                f"the stack's compliance profiles ({profiles}) allow losing at most {required.rpo_hours} hours of data; back up every {required.rpo_hours} hours or more often, or leave it unset",
                settings.every_hours,
            )
        )
    if settings.retention_days is not None and settings.retention_days < required.retention_days:
        problems.append(
            Problem(
                ("backups", "retentionDays"),
                "retention_below_profile",
                f"the stack's compliance profiles ({profiles}) require keeping backups at least {required.retention_days} days; set {required.retention_days} or more, or leave it unset",
                settings.retention_days,
            )
        )
    return problems


def check_backup_locations(spec: StackSpec) -> list[Problem]:
    """On-prem and edge backups stay on the premises, cloud backups in the stack's jurisdiction."""
    settings = spec.backups
    if settings is None:
        return []
    problems = []
    if cloud_store_host(settings.object_store.endpoint):
        problems.append(
            Problem(
                ("backups", "objectStore", "endpoint"),
                "backup_location_outside_jurisdiction",
                "the on-prem cluster's and edge sites' backups stay on the premises (data residency): name the on-prem S3-compatible store, not AWS S3",
                settings.object_store.endpoint,
            )
        )
    region = settings.cloud.region
    if region is None:
        return problems
    allowed = spec.allowed_regions()
    if spec.burst_pool() is None:
        problems.append(Problem(("backups", "cloud", "region"), "no_cloud_pool", "the stack has no cloud burst pool whose backups this region would hold; remove `backups.cloud`", region))
    elif region not in allowed:
        problems.append(
            Problem(
                ("backups", "cloud", "region"),
                "backup_location_outside_jurisdiction",
                f"the stack's data stays in its jurisdiction: choose one of its regions ({', '.join(allowed)}), or leave it unset for the pool's region",
                region,
            )
        )
    return problems


def check_backed_up_clusters(spec: StackSpec) -> list[Problem]:
    """The sites and clusters `backups` names exist."""
    settings = spec.backups
    if settings is None:
        return []
    sites = {s.name for s in spec.edge_sites()}
    problems = [
        Problem(("backups", "sites", i), "unknown_site", f"no edge site {site!r} in `sites`{choose_from(site, sites, 'sites')}", site)
        for i, site in enumerate(settings.sites)
        if site not in sites
    ]
    pool = spec.burst_pool()
    clusters = {spec.onprem.name, *([pool.cluster.name] if pool else []), *settings.sites}
    for cluster, method in settings.volumes.items():
        if cluster not in clusters:
            problems.append(Problem(("backups", "volumes", cluster), "unknown_cluster", f"no backed-up cluster {cluster!r}{choose_from(cluster, clusters, 'backed up')}", method))
    return problems


# --- Cloud pool and edge sites -------------------------------------------------------------------


def check_cloud_pool(spec: CloudBurstSpec) -> list[Problem]:
    """The cloud burst pool's teams, region, node AMI and derived names (hybridai/config/cloud.py)."""
    return check_cloud(spec.cloud, spec.prefix, spec.jurisdiction, set(spec.platform_namespaces()), spec.environment)


def check_edge_sites(spec: StackSpec) -> list[Problem]:
    """Edge site names are unique and their image digests complete (hybridai/config/edge.py)."""
    return check_sites(spec.edge_sites(), spec.environment)


def check_example_values(spec: StackSpec) -> list[Problem]:
    """A prod stack holds none of the example values `hybridai new` wrote (hosts, accounts, nodes,
    images, teams: the PLACEHOLDER fields); other environments are warned instead (hybridai.program)."""
    if spec.environment != "prod":
        return []
    return [p._replace(message=f"{p.message}; a prod stack can't keep one") for p in spec.placeholders()]


STACK_RULES: tuple[Rule, ...] = (
    check_example_values,
    check_tenants, check_canaries, check_platform_namespaces, check_gpu_health,
    check_waivers, check_allow_lists,
    check_alerting, check_logging,
    check_mlops_needed, check_mlops_ingress, check_artifact_store,
    check_issuer, check_gateway_hosts, check_decision_logging,
    check_secret_names, check_one_reader_per_secret, check_source_values, check_sources_present, check_remote_keys, check_aws_stores,
    check_backup_policy, check_backup_locations, check_backed_up_clusters,
    check_eks_log_retention, check_llms,
    check_onprem_sites,
)
"""The rules every stack runs, in the order their problems are listed. A blueprint's spec runs
these, then its own (`StackSpec.rules`)."""
