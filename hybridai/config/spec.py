"""The stack spec every blueprint's spec extends, and the cross-field checks they share."""
from __future__ import annotations

from typing import ClassVar, NamedTuple

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog, cidr
from hybridai.config.base import ARGOCD_NAMESPACE, CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE, KARPENTER_NAMESPACE, KSERVE_NAMESPACE, KUEUE_NAMESPACE, NO_VALUE, DnsLabel, Environment, Model, Problem
from hybridai.config.base import LabelValue
from hybridai.config.backup import BackupSettings
from hybridai.recorded import cloud_store_host
from hybridai.config.cloud import CloudPool
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team, check_teams, is_system_namespace
from hybridai.config.edge import EdgeSite
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, CHECKPOINT_STORE_KEYS, JOBSET_NAMESPACE, MLFLOW_LOGIN_KEYS, MLFLOW_NAMESPACE, MlopsSettings, check_mlops
from hybridai.config.operations import AuditArchive, CostSettings, SecretKeyRef, LoggingSettings, MonitoringSettings, PolicySettings, ServingSettings
from hybridai.config.security import SecretsSettings, TlsSettings
from hybridai.config.workloads import ServedModel, TrainingJob

class StackSpec(Model):
    """Keys every stack file has, whatever its blueprint."""

    blueprint: str = Field(description="Blueprint that builds this stack (`hybridai blueprints` lists them).")
    environment: Environment = Field(examples=["dev"], description="Environment of the stack: `prod`, `staging` or `dev`.")
    prefix: DnsLabel | None = Field(
        default=None,
        description="Prefix of every resource name, so two stacks never collide; default: the stack name. "
        "Changing it renames (replaces) every resource.",
    )
    cost_center: LabelValue = Field(
        min_length=1,
        examples=["cc-0000"],
        description="Cost center charged for the stack; labelled on every namespace for showback, so it is a Kubernetes label value: "
        "at most 63 characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit.",
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings, description="Monitoring, GPU alerts and OpenCost on every cluster.", json_schema_extra={"suggest": True}
    )
    cost: CostSettings = Field(default_factory=CostSettings, description="Assumptions of the cost estimate, and an optional monthly ceiling.")
    policy: PolicySettings = Field(default_factory=PolicySettings, description="Policy-as-code checks of the stack.")
    serving: ServingSettings = Field(default_factory=ServingSettings, description="How served models are reached (Gateway API ingress for canaries).")
    logging: LoggingSettings | None = Field(
        default=None,
        description="Logs: a collector (Fluent Bit) on every cluster, the store (Loki) on the on-prem cluster and its object store (required in prod); unset: no logging. See [logging](logging.md).",
        json_schema_extra={"suggest": True},
    )
    mlops: MlopsSettings | None = Field(
        default=None,
        description="MLOps: MLflow (tracking, model registry) on the training hub, Argo Workflows and JobSet where teams train; needed by catalog "
        "jobs with an `image` and models named by `registry` version. See [MLOps](mlops.md).",
    )
    tls: TlsSettings | None = Field(
        default=None,
        description="cert-manager and the stack's certificate issuer (required when the stack serves models or is `prod`). See [security](security.md).",
        json_schema_extra={"suggest": True},
    )
    secrets: SecretsSettings = Field(
        default_factory=SecretsSettings,
        description="Secret stores and where each credential Secret comes from, so none is created by hand. See [security](security.md).",
    )
    backups: BackupSettings | None = Field(
        default=None,
        description="Backups: Velero on the on-prem and EKS clusters (and the edge sites listed), scheduled within the compliance profiles' "
        "recovery point objective, kept as long as they require (required in prod); unset: no backups. See [backups](backups.md).",
        json_schema_extra={"suggest": True},
    )

    # Every blueprint runs an on-prem (or plant) cluster with tenants and a workload catalog; each
    # blueprint's spec restates these with its own description.
    onprem: OnpremCluster = Field(description="The on-prem Kubernetes cluster.")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings.")
    teams: list[Team] = Field(min_length=1, description="Tenants of the on-prem cluster.")
    models: list[ServedModel] = Field(default_factory=list, description="Inference catalog: models served with KServe on the on-prem cluster, sized from their load.")
    training: list[TrainingJob] = Field(default_factory=list, description="Training catalog: weekly runs, placed on the cluster's whole GPUs left after inference.")

    summary: ClassVar[str] = ""
    default_profiles: ClassVar[tuple[str, ...]] = ()
    """Compliance profiles checked unless the stack lists its own."""

    def all_teams(self) -> list[Team]:
        """Every team of the stack: the on-prem cluster's and the cloud burst pool's."""
        pool = self.burst_pool()
        return [*self.teams, *(pool.teams if pool else [])]

    def implied_profiles(self) -> tuple[str, ...]:
        """Profiles the stack gets unless it waives them: its blueprint's, and HIPAA wherever a team
        (on-prem or in the cloud pool) handles PHI."""
        phi = ("hipaa",) if any(t.data_classification == "phi" for t in self.all_teams()) else ()
        return tuple(dict.fromkeys([*self.default_profiles, *phi]))

    def compliance_profiles(self) -> tuple[str, ...]:
        """Profiles checked: the implied ones not waived, and those the stack adds."""
        implied = [p for p in self.implied_profiles() if p not in self.policy.waive]
        return tuple(dict.fromkeys([*implied, *self.policy.profiles]))

    def log_retention(self) -> catalog.LogRetention:
        """Days the log store keeps application logs and the audit stream: what the stack sets,
        else what its compliance profiles require (check_logging refuses less)."""
        required = catalog.log_retention(self.compliance_profiles())
        settings = self.logging
        if settings is None:
            return required
        return required.model_copy(update={"log_days": settings.log_retention_days or required.log_days, "audit_days": settings.audit_retention_days or required.audit_days})

    def backup_policy(self) -> catalog.BackupPolicy:
        """How often every schedule backs up and how long backups are kept: what the stack sets, else
        what its compliance profiles require (check_backups refuses a longer interval or a shorter retention)."""
        required = catalog.backup_policy(self.compliance_profiles())
        settings = self.backups
        if settings is None:
            return required
        return catalog.BackupPolicy(rpo_hours=settings.every_hours or required.rpo_hours, retention_days=settings.retention_days or required.retention_days)

    def backed_up_clusters(self) -> list[str]:
        """Names of the clusters Velero runs on: the on-prem cluster, the EKS cluster, the listed edge sites."""
        if self.backups is None:
            return []
        pool = self.burst_pool()
        listed = set(self.backups.sites)
        return [self.onprem.name, *([pool.cluster.name] if pool else []), *(s.name for s in self.edge_sites() if s.name in listed)]

    def backup_file_system(self) -> bool:
        """Whether any backed-up cluster copies its volumes by file system (Velero's node agent)."""
        volumes = self.backups.volumes if self.backups else {}
        return any(volumes.get(c, "file-system") == "file-system" for c in self.backed_up_clusters())

    def allowed_regions(self) -> tuple[str, ...]:
        """Cloud regions the stack's data may live in (none: the stack may not use the cloud)."""
        return ()

    def platform_namespaces(self) -> dict[str, str]:
        """Namespaces the platform runs in, with the Pod Security level each may run at: the GPU
        Operator's (privileged: drivers), monitoring, GitOps, queues and serving (baseline). No
        team may take one; policy checks each against its level."""
        operator = self.gpu_operator.namespace
        baseline = (self.monitoring.namespace, ARGOCD_NAMESPACE, KUEUE_NAMESPACE, KSERVE_NAMESPACE)
        # Karpenter, cert-manager and external-secrets run restricted: they need the API server (and
        # AWS or the secret store), nothing of the host.
        namespaces = {operator: "privileged", **{ns: "baseline" for ns in baseline}, **{ns: "restricted" for ns in (KARPENTER_NAMESPACE, CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE)}}
        if self.logging is not None:
            # The log store (Loki) needs nothing of the host: restricted.
            namespaces[self.logging.namespace] = "restricted"
            # Privileged, like the GPU Operator's: the log collector (Fluent Bit, a DaemonSet on every
            # node) reads the node's logs through read-only hostPath mounts of /var/log and keeps its
            # positions and edge buffer under /var/lib/fluent-bit, and Pod Security's baseline and
            # restricted levels forbid hostPath volumes. Its containers stay unprivileged, without
            # capabilities or host namespaces (k8s-privileged-only-in-operator-namespace still applies),
            # and it has a namespace of its own so the store's stays restricted.
            namespaces[self.logging.collector_namespace] = "privileged"
        if self.mlops is not None:
            # MLflow, the Argo Workflows controller and the JobSet controller need nothing of the
            # host: restricted, like the log store.
            namespaces.update({MLFLOW_NAMESPACE: "restricted", ARGO_WORKFLOWS_NAMESPACE: "restricted", JOBSET_NAMESPACE: "restricted"})
        if self.backups is not None:
            # Velero's server needs nothing of the host: restricted. Privileged, like the log
            # collector's, where a cluster backs its volumes up by file system: Velero's node agent
            # (a DaemonSet on every node) reads pod volumes through a hostPath mount of
            # /var/lib/kubelet/pods, which baseline and restricted forbid, and it must run in
            # Velero's own namespace (Velero hands it work there). One level for the stack, so
            # every cluster's namespace is checked against the same one.
            namespaces[self.backups.namespace] = "privileged" if self.backup_file_system() else "restricted"
        return namespaces

    def burst_pool(self) -> CloudPool | None:
        """The stack's cloud burst training pool, if it has one."""
        return None

    def edge_sites(self) -> list[EdgeSite]:
        """The stack's edge sites, each its own cluster."""
        return []

    def has_remote_clusters(self) -> bool:
        """Whether clusters beyond the on-prem one (the EKS burst pool, edge sites) report to it as their hub."""
        return self.burst_pool() is not None or bool(self.edge_sites())

    @field_validator("prefix", mode="before")
    @classmethod
    def _default_prefix(cls, value: object, info: ValidationInfo) -> object:
        # Derived default: the stack name, which the loader passes in the validation context. Set
        # before validation so a stack name that is no valid prefix is reported like a bad value.
        if value is None and info.context:
            return info.context.get("stack")
        return value

    @field_validator("prefix")
    @classmethod
    def _short_prefix(cls, value: str | None) -> str | None:
        # Cloud names built from the prefix have hard limits (IAM roles 64, S3 buckets 63 characters).
        if value is not None and len(value) > 24:
            raise PydanticCustomError("prefix_too_long", "prefix has {n} characters, at most 24 fit in derived cloud names; set a shorter `prefix`", {"n": len(value)})
        return value

    def check(self) -> list[Problem]:
        """Cross-field problems pydantic's per-field validation cannot see, each at its own key path."""
        return []


def check_cluster(spec: StackSpec) -> list[Problem]:
    """The on-prem cluster's tenants are unique and clear of platform namespaces, canaries have a
    Gateway to split traffic, and the stack-wide checks hold (whether the catalog fits the GPUs is
    hybridai/capacity's to say)."""
    problems = check_teams(spec.teams, reserved=set(spec.platform_namespaces()))
    for i, model in enumerate(spec.models):
        if model.canary and not spec.serving.gateway:
            problems.append(
                Problem(
                    ("models", i, "canary"),
                    "canary_needs_gateway",
                    "in KServe's Standard mode a canary gets its traffic share through Gateway API route weights; name the cluster's Gateway in `serving.gateway`",
                    model.canary.model_dump(by_alias=True),
                )
            )
    return problems + check_platform_namespaces(spec) + check_waivers(spec) + check_allow_lists(spec) + check_alerting(spec) + check_logging(spec) + check_mlops(spec) + check_security(spec) + check_backups(spec) + check_eks_log_retention(spec)


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
    unknown = "no receiver of that name in `monitoring.alerting.receivers`; add it or name one of: " + (", ".join(sorted(names)) or "none yet")
    for key in ("critical", "default"):
        if (name := getattr(alerting, key)) is not None and name not in names:
            problems.append(Problem((*at, key), "unknown_receiver", unknown, name))
    teams = {t.name for t in spec.all_teams()}
    for team, name in alerting.teams.items():
        if team not in teams:
            problems.append(Problem((*at, "teams", team), "unknown_team", f"no team of that name; teams: {', '.join(sorted(teams))}", name))
        elif name not in names:
            problems.append(Problem((*at, "teams", team), "unknown_receiver", unknown, name))
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
    """A prod stack keeps its logs (the on-prem log store needs its object store), and no stack keeps
    them shorter than its compliance profiles require."""
    required = catalog.log_retention(spec.compliance_profiles())
    profiles = ", ".join(spec.compliance_profiles()) or "none: the default"
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


def check_audit_archive(archive: AuditArchive | None, required: catalog.LogRetention, profiles: str) -> list[Problem]:
    """A profile that asks for the write-once archive gets one, locked in COMPLIANCE mode for at
    least its audit retention."""
    at = ("logging", "auditArchive")
    if archive is None:
        if not required.archive:
            return []
        return [
            Problem(
                at,
                "audit_archive_required",
                f"the stack's compliance profiles ({profiles}) keep the audit trail write-once: name an on-prem bucket created with Object Lock "
                f"(`endpoint`, `bucket`, `accessKeyId`, `secretAccessKey`, `objectLock: {{mode: COMPLIANCE, retentionDays: {required.audit_days}}}`)",
                NO_VALUE,
            )
        ]
    problems = []
    lock = archive.object_lock
    if required.archive and lock.mode != "COMPLIANCE":
        problems.append(
            Problem(
                (*at, "objectLock", "mode"),
                "lock_not_compliance",
                f"the stack's compliance profiles ({profiles}) need records no one can delete early; GOVERNANCE locks can be bypassed — use a bucket locked in COMPLIANCE mode",
                lock.mode,
            )
        )
    if lock.retention_days < required.audit_days:
        problems.append(
            Problem(
                (*at, "objectLock", "retentionDays"),
                "retention_below_profile",
                f"the stack's compliance profiles ({profiles}) keep audit records {required.audit_days} days; lock them at least that long",
                lock.retention_days,
            )
        )
    return problems


def check_backups(spec: StackSpec) -> list[Problem]:
    """A prod stack backs up; the schedules run within the compliance profiles' recovery point
    objective and keep backups as long as they require; on-prem and edge backups stay on the
    premises, cloud backups in the stack's jurisdiction; listed sites and clusters exist."""
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
    profiles = ", ".join(spec.compliance_profiles()) or "none: the default"
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
    if cloud_store_host(settings.object_store.endpoint):
        problems.append(
            Problem(
                ("backups", "objectStore", "endpoint"),
                "backup_location_outside_jurisdiction",
                "the on-prem cluster's and edge sites' backups stay on the premises (data residency): name the on-prem S3-compatible store, not AWS S3",
                settings.object_store.endpoint,
            )
        )
    pool = spec.burst_pool()
    if settings.cloud.region is not None:
        allowed = spec.allowed_regions()
        if pool is None:
            problems.append(Problem(("backups", "cloud", "region"), "no_cloud_pool", "the stack has no cloud burst pool whose backups this region would hold; remove `backups.cloud`", settings.cloud.region))
        elif settings.cloud.region not in allowed:
            problems.append(
                Problem(
                    ("backups", "cloud", "region"),
                    "backup_location_outside_jurisdiction",
                    f"the stack's data stays in its jurisdiction: choose one of its regions ({', '.join(allowed)}), or leave it unset for the pool's region",
                    settings.cloud.region,
                )
            )
    sites = {s.name for s in spec.edge_sites()}
    for i, site in enumerate(settings.sites):
        if site not in sites:
            problems.append(Problem(("backups", "sites", i), "unknown_site", f"no edge site of that name; sites: {', '.join(sorted(sites)) or 'none'}", site))
    clusters = {spec.onprem.name, *([pool.cluster.name] if pool else []), *settings.sites}
    for cluster, method in settings.volumes.items():
        if cluster not in clusters:
            problems.append(
                Problem(("backups", "volumes", cluster), "unknown_cluster", f"no backed-up cluster of that name; backed up: {', '.join(sorted(clusters))}", method)
            )
    return problems


def eks_least_log_retention(spec: StackSpec) -> int:
    """The shortest CloudWatch retention that keeps the stack's audit records as long as its
    compliance profiles require (the EKS audit log lives in the control plane's log group)."""
    required = catalog.log_retention(spec.compliance_profiles()).audit_days
    return min(d for d in catalog.aws().eks.log_retention_days if d >= required)


def check_eks_log_retention(spec: StackSpec) -> list[Problem]:
    """The EKS control plane's log group keeps the audit log at least the profiles' audit retention."""
    pool = spec.burst_pool()
    days = pool.cluster.log_retention_days if pool is not None else None
    required = catalog.log_retention(spec.compliance_profiles()).audit_days
    if days is None or days >= required:
        return []
    profiles = ", ".join(spec.compliance_profiles()) or "none: the default"
    return [
        Problem(
            ("cloud", "cluster", "logRetentionDays"),
            "retention_below_profile",
            f"the control plane's log group holds the EKS audit log, which the stack's compliance profiles ({profiles}) keep "
            f"{required} days: set {eks_least_log_retention(spec)} or more, or leave it unset",
            days,
        )
    ]


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
    fixed = {
        ARGOCD_NAMESPACE: "Argo CD", KUEUE_NAMESPACE: "Kueue", KSERVE_NAMESPACE: "KServe", KARPENTER_NAMESPACE: "Karpenter",
        CERT_MANAGER_NAMESPACE: "cert-manager", EXTERNAL_SECRETS_NAMESPACE: "external-secrets",
    }
    if spec.mlops is not None:
        fixed.update({MLFLOW_NAMESPACE: "MLflow", ARGO_WORKFLOWS_NAMESPACE: "Argo Workflows", JOBSET_NAMESPACE: "JobSet"})
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


class CloudBurstSpec(StackSpec):
    """Keys of a stack with a cloud burst training pool, kept in a declared jurisdiction."""

    jurisdiction: str = Field(examples=["eu"], description="Where data must stay (keys of hybridai/data/aws.yaml `jurisdictions`); the cloud region must be in it.")
    cloud: CloudPool = Field(description="The AWS cloud burst training pool.")

    @field_validator("jurisdiction")
    @classmethod
    def _known_jurisdiction(cls, value: str) -> str:
        known = catalog.aws().jurisdictions
        if value not in known:
            raise PydanticCustomError("jurisdiction_unknown", "unknown jurisdiction; use one of {known}", {"known": ", ".join(known)})
        return value

    def allowed_regions(self) -> tuple[str, ...]:
        return catalog.aws().jurisdictions[self.jurisdiction]

    def burst_pool(self) -> CloudPool:
        return self.cloud

    def eks_log_retention_days(self) -> int:
        """Days the EKS control-plane log group (the audit log) keeps its events: what the stack sets,
        else the smallest CloudWatch period covering its compliance profiles' audit retention."""
        return self.cloud.cluster.log_retention_days or eks_least_log_retention(self)


class CredentialNeed(NamedTuple):
    """A Secret some component of one cluster reads: which cluster, namespace, name and keys."""

    cluster: str
    """`onprem`, `cloud` or `edge:<site>`."""
    namespace: str
    name: str
    keys: tuple[str, ...]
    gitops: bool = False
    """The cluster's objects are rendered into a Git folder its Argo CD pulls (edge sites)."""


GRAFANA_ADMIN_KEYS = ("admin-user", "admin-password")
"""Keys of the Secret `monitoring.grafanaAdminSecret` (the Grafana chart's `admin.userKey`/`passwordKey`)."""
CA_KEYS = ("tls.crt", "tls.key")
"""Keys of the internal CA's Secret (cert-manager's CA issuer)."""
AWS_STORE_KEYS = ("access-key-id", "secret-access-key")
"""Keys of the access key an AWS Secrets Manager store uses off EKS."""


def _refs_of(value: object) -> list:
    """Every credential reference (`SecretKeyRef`) inside a config value."""
    if isinstance(value, SecretKeyRef):
        return [value]
    if isinstance(value, Model):
        return [ref for name in type(value).model_fields for ref in _refs_of(getattr(value, name))]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _refs_of(item)]
    return []


def _grouped(cluster: str, namespace: str, refs: list, gitops: bool = False) -> list[CredentialNeed]:
    keys: dict[str, set[str]] = {}
    for ref in refs:
        keys.setdefault(ref.name, set()).add(ref.key)
    return [CredentialNeed(cluster, namespace, name, tuple(sorted(k)), gitops) for name, k in sorted(keys.items())]


def credential_needs(spec: StackSpec) -> list[CredentialNeed]:
    """Every Secret the platform reads, per cluster: Alertmanager's receivers and Grafana's admin
    login (every cluster with a full monitoring stack: on-prem, EKS), Loki's object store (on-prem),
    the model sync's rclone config (edge sites), the internal CA (where cert-manager runs) and an
    AWS store's access key (clusters off EKS reading it). The program creates each one whose name
    has a source in `secrets.sources`; others must exist (docs/security.md)."""
    monitoring = spec.monitoring
    clusters = ["onprem", *(["cloud"] if spec.burst_pool() is not None else [])]
    needs: list[CredentialNeed] = []
    for cluster in clusters:
        needs += _grouped(cluster, monitoring.namespace, _refs_of(monitoring.alerting))
        needs.append(CredentialNeed(cluster, monitoring.namespace, monitoring.grafana_admin_secret, GRAFANA_ADMIN_KEYS))
        if spec.tls is not None and spec.tls.issuer.ca is not None:
            needs.append(CredentialNeed(cluster, CERT_MANAGER_NAMESPACE, spec.tls.issuer.ca.secret, CA_KEYS))
    if spec.logging is not None:
        needs += _grouped("onprem", spec.logging.namespace, _refs_of(spec.logging.object_store))
    for site in spec.edge_sites():
        needs.append(CredentialNeed(f"edge:{site.name}", site.owner().namespace, site.model_source_secret, ("rclone.conf",), site.delivery == "gitops"))
    gitops = {f"edge:{site.name}": site.delivery == "gitops" for site in spec.edge_sites()}
    archive = spec.logging.audit_archive if spec.logging is not None else None
    if archive is not None:
        # The collectors of the clusters with an API server of their own write it; the hub's check reads it.
        for cluster in ["onprem", *gitops]:
            needs += _grouped(cluster, spec.logging.collector_namespace, _refs_of(archive), gitops.get(cluster, False))
        needs += _grouped("onprem", spec.logging.namespace, _refs_of(archive))
    if spec.backups is not None:
        for cluster in ["onprem", *(f"edge:{site}" for site in spec.backups.sites)]:
            needs += _grouped(cluster, spec.backups.namespace, _refs_of(spec.backups.object_store), gitops.get(cluster, False))
    needs += mlops_credential_needs(spec)
    # Off EKS, an AWS Secrets Manager store reads with an access key of its own.
    for cluster in dict.fromkeys(n.cluster for n in needs if n.cluster != "cloud"):
        for store in stores_read(spec, cluster, needs):
            if store.aws_secrets_manager is not None and store.aws_secrets_manager.credentials:
                gitops = any(n.gitops for n in needs if n.cluster == cluster)
                needs.append(CredentialNeed(cluster, EXTERNAL_SECRETS_NAMESPACE, store.aws_secrets_manager.credentials, AWS_STORE_KEYS, gitops))
    return needs


def mlops_credential_needs(spec: StackSpec) -> list[CredentialNeed]:
    """MLflow's database, admin and artifact-store keys and Argo's SSO client (the hub); each
    training team's MLflow login, in its namespace on every cluster where it has one (the capacity
    plan may move a job between them from one week to the next), and its on-prem checkpoint-store key."""
    settings = spec.mlops
    if settings is None:
        return []
    needs = _grouped("onprem", MLFLOW_NAMESPACE, _refs_of([settings.database, settings.admin, settings.object_store, settings.cloud_artifacts]))
    needs += _grouped("onprem", ARGO_WORKFLOWS_NAMESPACE, _refs_of(settings.argo_sso))
    training = {job.team for job in spec.training if job.image is not None}
    pool = spec.burst_pool()
    for cluster, teams in (("onprem", spec.teams), ("cloud", pool.teams if pool else [])):
        for team in teams:
            if team.name in training:
                needs.append(CredentialNeed(cluster, team.namespace, settings.team_credentials_secret, MLFLOW_LOGIN_KEYS))
                if cluster == "onprem":
                    needs.append(CredentialNeed(cluster, team.namespace, settings.team_store_secret, CHECKPOINT_STORE_KEYS))
    return needs


def stores_read(spec: StackSpec, cluster: str, needs: list[CredentialNeed] | None = None) -> list:
    """The secret stores a cluster reads (its Secrets' sources name them), in the stack's order."""
    needs = credential_needs(spec) if needs is None else needs
    names = {s.store for n in needs if n.cluster == cluster if (s := spec.secrets.source(n.name)) is not None and s.store}
    return [store for store in spec.secrets.stores if store.name in names]


def check_security(spec: StackSpec) -> list[Problem]:
    """A stack that serves models, or any prod stack, names its certificate issuer (KServe's webhooks
    need cert-manager; platform endpoints get certificates); the serving Gateway's host names are
    known; every source names a store of the stack and holds the keys its readers need; a prod stack
    makes every credential Secret it reads (none by hand); a GitOps site's credentials come from a
    store (a Pulumi secret would be written into its rendered manifests)."""
    problems: list[Problem] = []
    tls = spec.tls
    if tls is None and (spec.models or spec.environment == "prod"):
        why = "the stack serves models, and KServe's webhooks need cert-manager" if spec.models else "a prod stack's platform endpoints (Grafana, Prometheus, Loki) are served over TLS"
        problems.append(Problem(("tls",), "issuer_required", f"{why}: set `tls.issuer` (`ca: {{secret: …}}` for an internal CA, or `existing: <ClusterIssuer>`)", NO_VALUE))
    if tls is not None:
        if spec.serving.gateway and not tls.gateway_hosts:
            problems.append(Problem(("tls", "gatewayHosts"), "gateway_hosts_required", f"the serving Gateway {spec.serving.gateway} serves over HTTPS: list the host names its certificate is for", NO_VALUE))
        if tls.gateway_hosts and not spec.serving.gateway:
            problems.append(Problem(("tls", "gatewayHosts"), "gateway_required", "there is no serving Gateway to put a certificate on: set `serving.gateway` or remove these", tls.gateway_hosts))
    secrets = spec.secrets
    stores = [s.name for s in secrets.stores]
    for i, name in enumerate(stores):
        if stores.index(name) != i:
            problems.append(Problem(("secrets", "stores", i, "name"), "duplicate", "another store has this name", name))
    names = [s.name for s in secrets.sources]
    for i, source in enumerate(secrets.sources):
        if names.index(source.name) != i:
            problems.append(Problem(("secrets", "sources", i, "name"), "duplicate", "another source is for this Secret; one source per Secret name", source.name))
        if source.store and source.store not in stores:
            problems.append(Problem(("secrets", "sources", i, "store"), "unknown_store", f"no store of that name in `secrets.stores`; stores: {', '.join(stores) or 'none yet'}", source.store))
    needs = credential_needs(spec)
    missing: dict[str, set[str]] = {}
    for need in needs:
        source = secrets.source(need.name)
        if source is None:
            if spec.environment == "prod":
                missing.setdefault(need.name, set()).add(need.namespace)
            continue
        i = names.index(need.name)
        if source.values:
            absent = [k for k in need.keys if k not in {v.key for v in source.values}]
            if absent:
                problems.append(Problem(("secrets", "sources", i, "values"), "source_keys_missing", f"{need.namespace} reads keys {', '.join(absent)} of this Secret: add them", [v.key for v in source.values]))
            if need.gitops:
                problems.append(
                    Problem(
                        ("secrets", "sources", i),
                        "gitops_needs_store",
                        f"{need.cluster} is delivered through GitOps, and a Secret made from Pulumi secrets would be written into its rendered manifests: read it from a store",
                        need.name,
                    )
                )
        elif need.namespace == EXTERNAL_SECRETS_NAMESPACE:
            problems.append(Problem(("secrets", "sources", i), "store_credentials_from_store", "a store's own access key can't come from a store: give it as Pulumi secret `values`", need.name))
    for name, namespaces in sorted(missing.items()):
        problems.append(
            Problem(
                ("secrets", "sources"),
                "credential_source_required",
                f"a prod stack creates every credential Secret it reads (none by hand): add a source for {name!r} (read in {', '.join(sorted(namespaces))}) "
                "from a store (`store`, `remoteKey`) or as Pulumi secret `values`",
                NO_VALUE,
            )
        )
    # On EKS the store's Pod Identity role may read only the stack's own secrets, `<prefix>/…`.
    read_on_eks = {s.name for s in stores_read(spec, "cloud", needs) if s.aws_secrets_manager is not None}
    for i, source in enumerate(secrets.sources):
        if source.store in read_on_eks and source.remote_key and not source.remote_key.startswith(f"{spec.prefix}/"):
            problems.append(
                Problem(
                    ("secrets", "sources", i, "remoteKey"),
                    "remote_key_outside_prefix",
                    f"the EKS cluster reads AWS Secrets Manager with a role allowed only the stack's own secrets: name it `{spec.prefix}/…`",
                    source.remote_key,
                )
            )
    for j, store in enumerate(secrets.stores):
        aws = store.aws_secrets_manager
        off_eks = [c for c in dict.fromkeys(n.cluster for n in needs) if c != "cloud" and store in stores_read(spec, c, needs)]
        if aws is not None and off_eks and not aws.credentials:
            problems.append(
                Problem(
                    ("secrets", "stores", j, "awsSecretsManager", "credentials"),
                    "store_credentials_required",
                    f"{', '.join(off_eks)} read this store from outside EKS (no Pod Identity there): name the Secret holding its access key",
                    NO_VALUE,
                )
            )
        if aws is not None and spec.allowed_regions() and aws.region not in spec.allowed_regions():
            problems.append(Problem(("secrets", "stores", j, "awsSecretsManager", "region"), "region_outside_jurisdiction", f"the stack's data stays in {', '.join(spec.allowed_regions())}", aws.region))
    return problems
