"""The stack spec every blueprint's spec extends: the keys of a stack, as the table of contents of
its stack file, with the values derived from them.

Each key's model lives in a file of its own subject (components, workloads, operations, security,
backup, mlops, cloud, edge); the cross-field rules a spec runs are hybridai/config/rules.py's.
"""
from __future__ import annotations

from typing import Annotated, Any, Callable, ClassVar

from pydantic import Field, PrivateAttr, TypeAdapter, ValidationInfo, ValidatorFunctionWrapHandler, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.backup import BackupSettings
from hybridai.config.base import PLACEHOLDER, example_values, AI_GATEWAY_NAMESPACE, ENVOY_GATEWAY_NAMESPACE, INFERENCE_GATEWAY_NAMESPACE, LWS_NAMESPACE, WVA_NAMESPACE, ARGOCD_NAMESPACE, CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE, KARPENTER_NAMESPACE, KEDA_NAMESPACE, KSERVE_NAMESPACE, KUEUE_NAMESPACE, DnsLabel, Environment, LabelValue, Model, Problem
from hybridai.config.cloud import CloudPool
from hybridai.config.decisions import DecisionSinkSettings
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, OnpremSite, Team
from hybridai.config.edge import EdgeSite
from hybridai.config.gpu_health import GpuHealthSettings
from hybridai.config.interop import PhiEndpoint
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, JOBSET_NAMESPACE, MLFLOW_NAMESPACE, MlopsSettings
from hybridai.config.operations import CostSettings, LoggingSettings, MonitoringSettings, PolicySettings
from hybridai.config.serving import ServingSettings
from hybridai.config.sites import as_cluster
from hybridai.config.security import SecretsSettings, TlsSettings
from hybridai.config.workloads import ServedModel, TrainingJob

Rule = Callable[["StackSpec"], list[Problem]]

ONPREM_SITES = TypeAdapter(Annotated[list[OnpremSite], Field(min_length=1)])
"""`onprem` as a list: one cluster per data center (docs/multi-site.md)."""
"""A cross-field rule: the problems it finds in a spec, each at its own key path (hybridai/config/rules.py)."""


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
        examples=["cc-0000"], json_schema_extra=PLACEHOLDER,
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
    onprem: OnpremCluster = Field(description="The on-prem Kubernetes cluster; or a list of clusters, one per data center, each with a `role` (`primary`, `dr`, `active`): see [multi-site](multi-site.md).")
    gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings, description="NVIDIA GPU Operator settings.")
    gpu_health: GpuHealthSettings = Field(default_factory=GpuHealthSettings, description="GPU fault quarantine and drain on the on-prem cluster (NVSentinel), and the burn-in of new GPU nodes.")
    teams: list[Team] = Field(min_length=1, description="Tenants of the on-prem cluster.")
    models: list[ServedModel] = Field(default_factory=list, description="Inference catalog: models served with KServe on the on-prem cluster, sized from their load.")
    training: list[TrainingJob] = Field(default_factory=list, description="Training catalog: weekly runs, placed on the cluster's whole GPUs left after inference.")

    _sites: tuple[OnpremSite, ...] = PrivateAttr(default=())
    """The clusters `onprem` lists, in the stack file's order; empty where it is one mapping."""

    summary: ClassVar[str] = ""
    default_profiles: ClassVar[tuple[str, ...]] = ()
    """Compliance profiles checked unless the stack lists its own."""
    rules: ClassVar[tuple[Rule, ...]] = ()
    """The cross-field rules `check()` runs, in order: hybridai/config/rules.py's STACK_RULES, then
    the blueprint's own."""

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
        what its compliance profiles require (check_backup_policy refuses a longer interval or a shorter retention)."""
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

    def data_jurisdiction(self) -> str | None:
        """Where the stack's data must stay (its `jurisdiction`); None: the stack declares none."""
        return None

    def placeholders(self) -> list[Problem]:
        """Every key still holding an example `hybridai new` wrote, each at its key path (the
        clusters `onprem` lists at their own index)."""
        found = example_values(self)
        if not self._sites:
            return found
        return [*(p for p in found if p.loc[0] != "onprem"), *(p for i, site in enumerate(self._sites) for p in example_values(site, ("onprem", i)))]

    def platform_namespaces(self) -> dict[str, str]:
        """Namespaces the platform runs in, with the Pod Security level each may run at: the GPU
        Operator's (privileged: drivers), monitoring, GitOps, queues and serving (baseline). No
        team may take one; policy checks each against its level."""
        operator = self.gpu_operator.namespace
        baseline = (self.monitoring.namespace, ARGOCD_NAMESPACE, KUEUE_NAMESPACE, KSERVE_NAMESPACE)
        # Karpenter, cert-manager and external-secrets run restricted: they need the API server (and
        # AWS or the secret store), nothing of the host.
        namespaces = {operator: "privileged", **{ns: "baseline" for ns in baseline}, **{ns: "restricted" for ns in (KARPENTER_NAMESPACE, CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE)}}
        if self.models:
            # KEDA, where models are served (it scales their predictors), reads Prometheus and the
            # API server, nothing of the host: restricted.
            namespaces[KEDA_NAMESPACE] = "restricted"
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
            if self.decision_sink() is not None:
                # The decision sink (Vector) receives, buffers on its volume and sends: restricted.
                namespaces[self.logging.decisions.namespace] = "restricted"
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
        if self.gpu_health.runs(self.tls is not None):
            # Privileged, like the log collector's: NVSentinel's syslog health monitor (a DaemonSet on
            # the GPU nodes) reads the host's journal through a hostPath mount of /var/log, and its
            # monitors reach the platform connector over a host socket (/var/run/nvsentinel.sock);
            # baseline and restricted forbid hostPath. Its own namespace, so the exemption is its alone.
            namespaces[self.gpu_health.namespace] = "privileged"
        if self.gpu_health.burn_in.enabled:
            # Privileged, in its own namespace: the burn-in Job's DCGM diagnostic runs as root with
            # SYS_ADMIN (modules/gpu_burn_in.py says why), which baseline and restricted forbid; its
            # NCCL test and the controller run restricted there.
            namespaces[self.gpu_health.burn_in.namespace] = "privileged"
        if self.llm_d():
            # The AI Gateway's controller and the inference Gateway's objects need nothing of the
            # host: restricted. Envoy Gateway's namespace holds the gateway's proxies too, whose
            # pods (Envoy, its shutdown manager, the AI Gateway's external processor) Envoy Gateway
            # writes itself, not the chart: baseline, auditing and warning at restricted.
            namespaces.update({ENVOY_GATEWAY_NAMESPACE: "baseline", AI_GATEWAY_NAMESPACE: "restricted", INFERENCE_GATEWAY_NAMESPACE: "restricted"})
            # The workload-variant-autoscaler's controller: the API server and Prometheus only.
            namespaces[WVA_NAMESPACE] = "restricted"
            if any(m.llm is not None and m.llm.multi_node for m in self.models):
                # The LeaderWorkerSet controller: API server and webhooks only.
                namespaces[LWS_NAMESPACE] = "restricted"
        return namespaces

    def llm_d(self) -> bool:
        """Whether the on-prem cluster serves its LLMs with llm-d (LLMInferenceService behind the
        inference gateway): a data-center cluster (kubeadm, RKE2) with an LLM in the catalog. A k3s
        cluster — a lab or edge-class cluster, without the Gateway API, Envoy Gateway and scheduler
        stack llm-d needs — serves them as vLLM InferenceServices (docs/design/llm-serving.md)."""
        return self.onprem.distribution != "k3s" and any(m.llm is not None for m in self.models)

    def burst_pool(self) -> CloudPool | None:
        """The stack's cloud burst training pool, if it has one."""
        return None

    def edge_sites(self) -> list[EdgeSite]:
        """The stack's edge sites, each its own cluster."""
        return []

    def phi_endpoints(self) -> list[tuple[tuple[str | int, ...], PhiEndpoint]]:
        """The hospital systems holding PHI the on-prem teams reach (healthcare `interop`), each with its key path."""
        return []

    def external_decision_log(self) -> str | None:
        """An https address outside the stack the models' decisions go to instead of the provisioned
        sink (finance's `audit.decisionLogUrl`); None: the stack's own sink, if it has one."""
        return None

    def decision_sink(self) -> DecisionSinkSettings | None:
        """The decision sink the stack provisions: where it serves models that log their decisions,
        keeps an audit archive to write them to, and names no external sink."""
        logging = self.logging
        if logging is None or logging.audit_archive is None or self.external_decision_log() or not any(m.decision_log for m in self.models):
            return None
        return logging.decisions

    def drift_watched(self) -> list[ServedModel]:
        """The models whose decisions the drift check compares with their training baseline: with
        the stack's own decision sink and MLflow (the baselines' registry), every model that logs its
        decisions and is served from a `registry` version (a baseline belongs to a version). Not an
        LLM: its inputs are text, which the check's per-feature index doesn't compare, and an
        LLMInferenceService's decisions don't reach the sink (docs/design/llm-serving.md)."""
        if self.decision_sink() is None or self.mlops is None:
            return []
        return [m for m in self.models if m.decision_log and m.registry is not None and m.llm is None]

    def has_remote_clusters(self) -> bool:
        """Whether clusters beyond the on-prem one (the EKS burst pool, edge sites) report to it as their hub."""
        return self.burst_pool() is not None or bool(self.edge_sites())

    @field_validator("onprem", mode="wrap")
    @classmethod
    def _onprem_shape(cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> object:
        # One cluster (a mapping, as every stack had) or one per data center (a list): `onprem` holds
        # the lead cluster either way — the `primary`, else the first listed — so every reader of
        # the one on-prem cluster (the training hub, its URNs) reads the same one as before.
        if isinstance(value, list):
            sites = ONPREM_SITES.validate_python(value, context=info.context)
            return as_cluster(next((s for s in sites if s.role == "primary"), sites[0]))
        if not isinstance(value, (dict, OnpremCluster)):
            raise PydanticCustomError(
                "onprem_shape",
                "`onprem` is one cluster (a mapping of its keys: `hybridai reference --key onprem`) or a list of them, one per data center "
                "(each with a `name` and a `role`: docs/multi-site.md)",
            )
        return handler(value)

    @model_validator(mode="wrap")
    @classmethod
    def _onprem_sites(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> StackSpec:
        spec = handler(data)
        listed = data.get("onprem") if isinstance(data, dict) else None
        if isinstance(listed, list):
            # (Validated once already by the field, which keeps only the lead; this keeps them all.)
            spec._sites = tuple(ONPREM_SITES.validate_python(listed, context=info.context))
        return spec

    def onprem_sites(self) -> tuple[OnpremSite, ...]:
        """Every on-prem cluster, in the stack file's order: those `onprem` lists, or the one it is
        (an `active` site of its own)."""
        return self._sites or (OnpremSite.model_validate(self.onprem.model_dump(by_alias=True)),)

    def multi_site(self) -> bool:
        """Whether `onprem` lists more than one cluster."""
        return len(self._sites) > 1

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
        """Cross-field problems pydantic's per-field validation cannot see, each at its own key path:
        those of every rule in `rules`."""
        return [problem for rule in self.rules for problem in rule(self)]


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

    def data_jurisdiction(self) -> str | None:
        return self.jurisdiction

    def burst_pool(self) -> CloudPool:
        return self.cloud

    def eks_log_retention_days(self) -> int:
        """Days the EKS control-plane log group (the audit log) keeps its events: what the stack sets,
        else the smallest CloudWatch period covering its compliance profiles' audit retention."""
        return self.cloud.cluster.log_retention_days or eks_least_log_retention(self)


def profiles_named(spec: StackSpec) -> str:
    """The stack's compliance profiles as error messages name them."""
    return ", ".join(spec.compliance_profiles()) or "none: the default"


def eks_least_log_retention(spec: StackSpec) -> int:
    """The shortest CloudWatch retention that keeps the stack's audit records as long as its
    compliance profiles require (the EKS audit log lives in the control plane's log group)."""
    required = catalog.log_retention(spec.compliance_profiles()).audit_days
    return min(d for d in catalog.aws().eks.log_retention_days if d >= required)
