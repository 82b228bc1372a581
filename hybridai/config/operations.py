"""Stack config every blueprint shares for running the platform: monitoring and the cost estimate."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.decisions import DecisionSinkSettings
from hybridai.config.base import PLACEHOLDER, NO_VALUE, DnsLabel, HttpsUrl, Model, Problem, Quantity


class SecretKeyRef(Model):
    """A key of a Secret in the namespace of the component that reads it. The stack creates the
    Secret from its source in `secrets.sources` (a secret store or Pulumi secrets; without one it
    must exist, which only dev and staging allow). The component reads the credential from the
    Secret, so it is never in the stack file, the plan, the chart values or Pulumi's state. Each use
    names its namespace in a subclass (`AlertSecretKeyRef`, `StoreSecretKeyRef`, MLflow's and Argo's
    in hybridai/config/mlops.py) and its example Secret and key in its field's `examples`."""

    name: DnsLabel = Field(description="Secret in the namespace of the component that reads it.")
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]{1,253}$")] = Field(description="Key of the Secret holding the credential.")

    @model_validator(mode="wrap")
    @classmethod
    def _never_plaintext(cls, value: object, handler):  # noqa: ANN206 - pydantic's wrap signature
        # A string here is the credential itself written into the stack file: refuse it, without
        # echoing it (the loader redacts `plaintext_credential`).
        if isinstance(value, str):
            raise PydanticCustomError(
                "plaintext_credential",
                "a credential is never written in the stack file: name a Secret and its key here (`name`, `key`) and say where the Secret "
                "comes from in `secrets.sources` (a secret store or a Pulumi secret; docs/security.md)",
            )
        return handler(value)


class AlertSecretKeyRef(SecretKeyRef):
    """A key of a Secret Alertmanager reads, in the monitoring namespace of each cluster running it."""

    name: DnsLabel = Field(examples=["alertmanager-receivers"], description="Secret in the monitoring namespace (`monitoring.namespace`).")


_EMAIL = r"^[^@\s,<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
EmailAddress = Annotated[str, StringConstraints(pattern=_EMAIL)]


class SlackReceiver(Model):
    channel: Annotated[str, StringConstraints(pattern=r"^#[a-z0-9._-]{1,80}$")] = Field(description="Channel, `#name`.")
    webhook_url: AlertSecretKeyRef = Field(examples=[{"key": "slack-webhook-url"}], description="Secret key holding the channel's incoming-webhook URL (the URL is the credential).")


class PagerDutyReceiver(Model):
    routing_key: AlertSecretKeyRef = Field(examples=[{"key": "pagerduty-routing-key"}], description="Secret key holding the Events API v2 integration (routing) key.")


class EmailReceiver(Model):
    to: list[EmailAddress] = Field(min_length=1, examples=[["ml-platform@example.com"]], json_schema_extra=PLACEHOLDER, description="Recipients.")
    sender: EmailAddress = Field(examples=["alertmanager@example.com"], json_schema_extra=PLACEHOLDER, description="From address.")
    smarthost: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")] = Field(
        examples=["smtp.example.com:587"], json_schema_extra=PLACEHOLDER, description="SMTP server, `host:port`; TLS is required (Alertmanager's default)."
    )
    username: str | None = Field(default=None, description="SMTP login, if the server asks for one.")
    password: AlertSecretKeyRef | None = Field(default=None, examples=[{"key": "smtp-password"}], description="Secret key holding the SMTP password.")


class WebhookReceiver(Model):
    url: AlertSecretKeyRef = Field(examples=[{"key": "webhook-url"}], description="Secret key holding the webhook URL (such URLs usually carry a token).")


class AlertReceiver(Model):
    """Where a route's alerts go: one or more of Slack, PagerDuty, email, a webhook."""

    name: DnsLabel = Field(examples=["platform"], description="Name routes refer to.")
    slack: SlackReceiver | None = Field(default=None, description="A Slack channel.")
    pagerduty: PagerDutyReceiver | None = Field(default=None, description="A PagerDuty service (Events API v2).")
    email: EmailReceiver | None = Field(default=None, description="Email through an SMTP server.", json_schema_extra={"suggest": True})
    webhook: WebhookReceiver | None = Field(default=None, description="A generic webhook (JSON POST).")

    @model_validator(mode="after")
    def _somewhere(self) -> AlertReceiver:
        if not (self.slack or self.pagerduty or self.email or self.webhook):
            raise PydanticCustomError("receiver_empty", "a receiver sends somewhere: set `slack`, `pagerduty`, `email` or `webhook`")
        return self


class AlertingSettings(Model):
    """Alertmanager routing on every cluster that runs one (not edge agents: their series, and so
    their alerts, are evaluated at the hub)."""

    receivers: list[AlertReceiver] = Field(default_factory=list, description="Receivers routes send to.", json_schema_extra={"suggest": True})
    critical: DnsLabel | None = Field(
        default=None,
        examples=["platform"],
        description="Receiver of every `severity: critical` alert (required in prod, and by the HIPAA and SOX profiles); team receivers get them too.",
        json_schema_extra={"suggest": True},
    )
    default: DnsLabel | None = Field(default=None, description="Receiver of every other alert no team route takes; none: they stay in Alertmanager's UI only.")
    teams: dict[DnsLabel, DnsLabel] = Field(default_factory=dict, description="Team name → receiver of the alerts from the team's namespace.")
    dead_mans_switch: AlertSecretKeyRef | None = Field(
        default=None,
        examples=[{"key": "dead-mans-switch-url"}],
        description="Secret key holding the URL of an external dead man's switch (e.g. a heartbeat check): the always-firing Watchdog alert is posted "
        "there every minute, so a silent Alertmanager pages someone.",
    )


class MonitoringSettings(Model):
    """Prometheus, Grafana, GPU alerts and OpenCost on every cluster of the stack."""

    namespace: DnsLabel = Field(default="monitoring", description="Namespace of the monitoring stack and OpenCost; team NetworkPolicies admit scrapes from it.")
    retention: str = Field(default="15d", pattern=r"^[0-9]+(h|d|w|y)$", description="How long Prometheus keeps samples.")
    storage_size: Quantity = Field(default="100Gi", description="Persistent volume of each Prometheus.")
    storage_class: str | None = Field(default=None, description="StorageClass of that volume; default: the cluster's default class.")
    grafana_admin_secret: DnsLabel = Field(
        default="grafana-admin",
        description="Secret (keys `admin-user`, `admin-password`) in the monitoring namespace holding Grafana's admin login, created from its "
        "source in `secrets.sources`; never the chart's well-known default password.",
    )
    latency_objective_ms: int = Field(default=100, ge=1, le=60000, description="p99 inference latency objective; alert when a namespace exceeds it for 10 minutes.")
    idle_gpu_percent: int = Field(default=10, ge=1, le=100, description="An allocated GPU below this utilization for `idleGpuMinutes` is idle waste.")
    idle_gpu_minutes: int = Field(default=30, ge=5, le=1440, description="How long an allocated GPU must stay idle before the alert fires.")
    quota_alert_percent: int = Field(default=90, ge=50, le=100, description="Alert when a team has used this share of a GPU quota.")
    pending_training_minutes: int = Field(default=60, ge=5, le=10080, description="Alert when a training pod stays Pending longer.")
    alerting: AlertingSettings = Field(
        default_factory=AlertingSettings, description="Who gets the alerts: receivers and routes by severity and team.", json_schema_extra={"suggest": True}
    )


class StoreSecretKeyRef(SecretKeyRef):
    """A key of a Secret in the namespace of the component using an object store (created from its
    source in `secrets.sources`): the component reads it into an environment variable or a mounted file, so it is never in the stack
    file, the values or the state."""

    name: DnsLabel = Field(description="Secret in the namespace of the component that uses the store (the store's description names it).")


def store_example(bucket: str, secret: str) -> dict:
    """The example of one component's object store: its own bucket and its own Secret (`hybridai new`
    writes it), so no two components of a new stack share a key or a bucket."""
    return {"bucket": bucket, "accessKeyId": {"name": secret}, "secretAccessKey": {"name": secret}}


class ObjectStore(Model):
    """A bucket on the on-prem S3-compatible object store (MinIO, Ceph RGW, …). Each component that
    keeps data there (Loki's logs, backups, the audit archive, model artifacts) names its own bucket
    and its own access key, so one component's key can't read or delete another's data."""

    endpoint: HttpsUrl = Field(examples=["https://s3.dc1.example.com"], json_schema_extra=PLACEHOLDER, description="S3 API endpoint of the on-prem object store (https).")
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] = Field(
        description="Existing bucket (S3 naming rules) this component keeps its data in, and only this component."
    )
    region: str | None = Field(default=None, examples=["dc1"], description="Region the store expects in request signatures, if it checks one.")
    access_key_id: StoreSecretKeyRef = Field(
        examples=[{"key": "access-key-id"}], description="Key of the Secret in the component's namespace holding the store's access key id, scoped to this bucket."
    )
    secret_access_key: StoreSecretKeyRef = Field(examples=[{"key": "secret-access-key"}], description="Key of the Secret in the component's namespace holding the secret access key.")


class ObjectLock(Model):
    """The bucket's default Object Lock retention, as the storage team set it when they created the
    bucket (object lock can only be turned on at creation). The collectors add a Content-MD5 to
    every write, which a locked bucket requires."""

    mode: Literal["COMPLIANCE", "GOVERNANCE"] = Field(
        default="COMPLIANCE",
        description="`COMPLIANCE`: no one, the store's administrators included, can delete or shorten a record's lock — what HIPAA and SOX stacks need. "
        "`GOVERNANCE` can be bypassed by a privileged user.",
    )
    retention_days: int = Field(ge=1, le=36500, examples=[2557], description="Days every record is locked against deletion and change; at least the compliance profiles' audit retention.")


class AuditArchive(ObjectStore):
    """A write-once bucket on the on-prem S3-compatible store (MinIO, Ceph RGW, … with Object Lock)
    holding the audit streams of the on-prem cluster and the edge sites: Kubernetes API audit events,
    changes and model decisions. On-prem records never leave on-prem; the EKS pool's go to the
    cloud account's locked bucket. docs/audit.md."""

    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] = Field(
        description="Existing bucket created with Object Lock on; only the audit writers' key may write to it (and none may delete)."
    )
    object_lock: ObjectLock = Field(description="The bucket's Object Lock default retention; a bucket without one is no audit archive.")


class LoggingSettings(Model):
    """The log collector (Fluent Bit) on every cluster and the log store (Loki, single binary) on the
    on-prem cluster, kept in the on-prem object store, with retention from the stack's compliance
    profiles (docs/logging.md)."""

    namespace: DnsLabel = Field(default="logging", description="Namespace of Loki on the on-prem cluster (Pod Security restricted).")
    collector_namespace: DnsLabel = Field(
        default="log-collector",
        description="Namespace of the log collector (Fluent Bit) on every cluster: privileged, for its read-only hostPath mounts of the node's logs, "
        "and kept apart so the log store's namespace stays restricted.",
    )
    object_store: ObjectStore = Field(
        examples=[store_example("hybridai-logs", "loki-object-store")],
        description="Where Loki keeps the logs (chunks, index, delete requests): a bucket of the on-prem S3-compatible store; Loki's compactor deletes what is past retention, "
        "so this bucket has no object lock. Its access key is read from a Secret in Loki's namespace (`logging.namespace`).",
    )
    storage_size: Quantity = Field(default="50Gi", description="Persistent volume of Loki's write-ahead log and index cache (the logs themselves go to the object store).")
    storage_class: str | None = Field(default=None, description="StorageClass of that volume; default: the cluster's default class.")
    log_retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days application logs are kept; default, and the least allowed: the longest the stack's compliance profiles require (hybridai/data/compliance.yaml)."
    )
    audit_retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days the `stream: audit` logs are kept; default, and the least allowed: the longest the stack's compliance profiles require."
    )
    hub_url: HttpsUrl | None = Field(
        default=None,
        examples=["https://logs.dc1.example.com"],
        description="Where the collectors of the stack's other clusters (the EKS burst pool, edge sites) push to the on-prem Loki: an https address "
        "in front of its service (a load balancer or ingress with TLS); required when the stack has such clusters.",
        json_schema_extra={"suggest": True, **PLACEHOLDER},
    )
    audit_archive: AuditArchive | None = Field(
        default=None,
        examples=[store_example("hybridai-audit", "audit-archive")],
        description="Where the audit streams are kept write-once; required when a compliance profile asks for it (HIPAA, SOX). "
        "Its access key is read from Secrets in the collector namespace (every cluster writing to it), the logging namespace (its daily check) and the decision sink's namespace (`logging.decisions.namespace`).",
        json_schema_extra={"suggest": True},
    )
    decisions: DecisionSinkSettings = Field(
        default_factory=DecisionSinkSettings,
        description="The decision sink: every served model's requests and responses, paired, with the model version, into the audit archive and Loki "
        "(on the on-prem cluster, where the stack serves models and has `auditArchive`). docs/audit.md.",
    )
    edge_buffer_size: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(K|M|G)$")] = Field(
        default="5G",
        description="Disk each edge site's collector may fill with logs while the uplink is down (Fluent Bit size: `500M`, `5G`); it sends them once the link is back, dropping the oldest beyond this.",
    )


class OnpremCostAssumptions(Model):
    """How an on-prem GPU's monthly cost is derived (amortization, power, operations)."""

    amortization_years: float = Field(default=3, gt=0, le=10, description="Years over which GPU hardware is written off.")
    electricity_usd_per_kwh: float | None = Field(default=None, ge=0, description="Electricity price; default: hybridai/data/prices/onprem.yaml.")
    pue: float = Field(default=1.4, ge=1, le=3, description="Power usage effectiveness of the data center (cooling overhead).")
    average_power_fraction: float = Field(default=0.7, ge=0, le=1, description="Average draw as a share of the GPU's TDP.")
    operations_percent_per_year: float = Field(default=10, ge=0, le=100, description="Yearly operations and support cost as a percentage of the purchase price.")


class CostSettings(Model):
    """Assumptions of the pre-deploy cost estimate (`cost.json`), and the ceiling it is checked against."""

    monthly_ceiling_usd: float | None = Field(default=None, gt=0, description="Monthly ceiling for the whole stack; `cost.json` reports the estimate against it.")
    training_hours_per_week: float = Field(default=48, ge=0, le=168, description="Hours per week the cloud burst pool trains.")
    training_gpus_per_run: int | None = Field(
        default=None, ge=0, description="GPUs a training run uses; default: every GPU of the pool's main (spot or on-demand) groups."
    )
    weeks_per_month: float = Field(default=4.33, gt=0, le=5, description="Weeks per month (52 / 12 ≈ 4.33).")
    storage_gb_per_team: float = Field(default=1000, ge=0, description="Data kept in each team's training bucket.")
    egress_gb_per_month: float = Field(default=500, ge=0, description="Internet egress from the cloud per month.")
    onprem: OnpremCostAssumptions = Field(default_factory=OnpremCostAssumptions, description="On-prem GPU cost assumptions.")
    price_overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Prices replacing the data files', by price list (`aws:<region>` or `onprem`) then item, "
        "for example `{aws:eu-central-1: {p4de.24xlarge: 30.5}, onprem: {A100-80GB: 14000}}`.",
    )
    commitment: Literal["none", "1y", "3y"] = Field(
        default="none",
        description="Savings-plan term the cloud burst GPU-hours are bought under: `1y` or `3y` prices them at the price list's "
        "commitment discount off on-demand (assumed fully used; a savings plan covers no spot), `none` at spot or on-demand.",
    )
    cloud_comparison_region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        examples=["us-east-1"],
        description="AWS region whose prices the on-prem pools' break-even is computed against; default: the stack's cloud region, "
        "else the first region of its jurisdiction with a price list, else us-east-1.",
    )
    showback_rate_usd_per_gpu_hour: float | None = Field(
        default=None,
        gt=0,
        description="Internal GPU-hour rate of the showback table in `cost.json` and summary.md; default: the amortized cost of an "
        "on-prem GPU-hour (the on-prem GPUs' monthly cost ÷ their hours).",
    )


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=15, max_length=500)]
"""A written reason for an exception to policy: shown to every reviewer in summary.md."""


class RuleOverride(Model):
    """A rule's enforcement for this stack, and why."""

    level: Literal["mandatory", "advisory", "disabled"] = Field(description="Enforcement level of the rule for this stack.")
    reason: Reason | None = Field(default=None, description="Why; required when the level is below the rule's default (summary.md lists it).")

    @model_validator(mode="before")
    @classmethod
    def _level_alone(cls, value: object) -> object:
        # A level alone (`k8s-probes: mandatory`) is the short form: one shape to validate, so a
        # mistake is reported once, at its key.
        return {"level": value} if isinstance(value, str) else value


class PolicySettings(Model):
    """Policy-as-code for this stack: compliance profiles, enforcement levels, allowed registries.

    A stack file can tighten policy freely, never loosen it silently: the profiles its blueprint
    and its teams' data imply always apply unless waived with a reason, and a rule enforced below
    its default needs a reason too. summary.md lists every such exception."""

    profiles: list[str] = Field(
        default_factory=list,
        description="Compliance profiles checked besides those the stack implies (hybridai/data/compliance.yaml: `hipaa`, `sox`, `residency`). "
        "Implied: the blueprint's (healthcare-onprem: hipaa; finance-hybrid: sox and residency; manufacturing-edge: residency), "
        "and hipaa wherever a team's `dataClassification` is `phi`.",
    )
    waive: dict[str, Reason] = Field(
        default_factory=dict,
        examples=[{"sox": "dev stack: governance-mode object lock so test data can be deleted"}],
        description="Implied compliance profiles not applied, each with the reason (summary.md lists them).",
    )
    enforcement: dict[str, RuleOverride] = Field(
        default_factory=dict,
        description="Enforcement level by rule id (`hybridai rules` lists them; docs/policy.md), as a level or `{level, reason}`; "
        "a level below the rule's default needs the reason.",
    )
    allowed_registries: list[str] = Field(
        # The publishers' own registries: NVIDIA's, Kubernetes', Red Hat's and GitHub's, and AWS's
        # public gallery (the AWS CLI, Karpenter). Docker Hub isn't one: anyone may publish there.
        default_factory=lambda: ["nvcr.io", "registry.k8s.io", "quay.io", "ghcr.io", "public.ecr.aws"],
        description="Registries whose images may be used by tag; images from anywhere else must be pinned by digest.",
    )
    wide_networks_reason: Reason | None = Field(
        default=None,
        description="Why an allow-list (`cloud.cluster.publicAccessCidrs`, a site's `clientCidrs`) may together open more public addresses "
        "than a /8 holds; without it such a list is refused. summary.md lists it.",
    )

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, value: list[str]) -> list[str]:
        known = catalog.compliance_profiles()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise PydanticCustomError("profile_unknown", "unknown compliance profiles {unknown}; use {known}", {"unknown": ", ".join(unknown), "known": ", ".join(known)})
        return value

    def levels(self) -> dict[str, str]:
        """rule id → enforcement level the stack sets."""
        return {rule: o.level for rule, o in self.enforcement.items()}

    def reasons(self) -> dict[str, str]:
        """rule id → the reason given for its level."""
        return {rule: o.reason for rule, o in self.enforcement.items() if o.reason}


def check_audit_archive(archive: AuditArchive | None, required: catalog.LogRetention, profiles: str) -> list[Problem]:
    """A profile that asks for the write-once archive gets one, locked in COMPLIANCE mode for at
    least its audit retention (the `logging.auditArchive` part of hybridai/config/rules.py's check_logging)."""
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
