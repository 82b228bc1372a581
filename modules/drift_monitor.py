"""DriftMonitor: drift and latency of each served model version, read back from the decision trail —
an Argo Workflows CronWorkflow in the decision sink's namespace per schedule and window of the
catalog (`models[].drift`), running modules/scripts/decision_drift.py in MLflow's image.

Each run samples a window of every watched version's decisions from the write-once archive
(`decision/<cluster>/…`), compares their input features with the baseline the training workflow
recorded for that registry version (the population stability index of each feature, computed with
numpy) and takes the p95 of their latency. The numbers are the step's output parameters, which the
template's `metrics.prometheus` turn into gauges of the Argo controller (`argo_workflows_<name>`),
scraped by Prometheus; the alerts are modules/observability.py's.

Why Argo Workflows, not a CronJob: it is in the stack already (the training runtime), and its custom
metrics export a run's results with nothing else — no Pushgateway, no port on the job — while the
CronWorkflow keeps the history of runs. Why the archive, not Loki's query API: docs/design/drift-from-the-trail.md.
"""
from __future__ import annotations

import json
from typing import Iterable
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.credentials import ARCHIVE_READER_KEYS
from hybridai.config.decisions import MIN_DECISIONS, DecisionSinkSettings
from hybridai.config.drift import CHECK_LAG_SECONDS, PSI_EPSILON, ModelDrift
from hybridai.config.mlops import MLFLOW_NAMESPACE, mlflow_image
from hybridai.config.operations import AuditArchive, SecretKeyRef
from hybridai.config.workloads import ServedModel
from hybridai.modules.base import AWS_KEY_FILES, MANAGED_BY, READ_ONLY_ROOT_FILESYSTEM, RESTRICTED_POD, Args, Module, aws_key_files, child, placed
from hybridai.modules.decision_log import ARCHIVE_PREFIX
from hybridai.modules.mlflow import PORT as MLFLOW_PORT, tracking_uri
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.modules.training_runtime import DRIFT_PROGRAM, LOGIN_FILES, RUN_CONTAINER, TASK_RESULTS_RULE, login_files, scheduled
from hybridai.recorded import component_type

SERVICE_ACCOUNT = "decision-drift"
"""Runs the checks' pods: its only right is to report a step's outputs (Argo's executor), and the
check's own container gets no token at all."""
CHECK_LABEL = "hybrid-ai.io/drift-check"
"""On every pod of a check (its name): what the egress NetworkPolicy selects."""
OUTPUT_DIR = "/tmp/drift"
"""Where the check writes one file per output parameter."""
ARCHIVE_KEY_DIR = "/etc/drift/archive"
"""The archive reader's key as two files (`AWS_KEY_FILES`: `access_key_id`, `secret_access_key`)."""
MLFLOW_LOGIN_DIR = "/etc/drift/mlflow"
"""The MLflow login as two files (`LOGIN_FILES`: `username`, `password`)."""
RUN_DEADLINE_SECONDS = 3600
"""A check still running after an hour is stopped (it reads `maxReadMib` at most); with `Forbid`
the next one then starts on time."""
RUN_USER = 1000
"""The checks' user and group (MLflow's image has a user of its own, 1001; any non-root user reads
its virtualenv, and the mounted files are world-readable)."""

PROMETHEUS_PREFIX = "argo_workflows_"
"""What the Argo controller puts before every custom metric's name (docs/metrics.md, v4.0.6)."""
DRIFT_METRIC = "model_drift_psi"
LATENCY_METRIC = "model_decision_latency_p95_seconds"
BASELINE_METRIC = "model_drift_baseline"
FEATURES_METRIC = "model_drift_features"
DECISIONS_METRIC = "model_drift_decisions"
CHECKED_METRIC = "model_drift_checked_timestamp_seconds"
HELP = {
    DRIFT_METRIC: "Largest population stability index of a model version's input features in the check's window, against its training baseline",
    LATENCY_METRIC: "p95 latency (response time minus request time) of a model version's decisions in the check's window",
    BASELINE_METRIC: "A model version's training baseline: 1 compared with, 0 none recorded, -1 not readable",
    FEATURES_METRIC: "Input features of a model version compared with its baseline in the last check",
    DECISIONS_METRIC: "Decisions of a model version the last check sampled from its window",
    CHECKED_METRIC: "When the drift check of a model version last ran (Unix time)",
}
"""Each metric's help: one text per name, as Argo requires of every template emitting it."""
OUTPUTS = ("drift", "compared", "baseline", "features", "decisions", "timed", "p95", "checked")
"""The check's output parameters of each model version (`<key>-<name>`)."""
MAX_MODELS_PER_CHECK = 100 // len(HELP)
"""Argo's CRD allows 100 metrics per template (`metrics.prometheus` maxItems): a check with more
watched versions is split in two."""


class WatchedModel(Args):
    """One served model version whose decisions a check samples."""

    key: str
    """Its output parameters' prefix in the check (`m0`, `m1`, …): model names hold dashes, which
    Argo's `when` expressions would read as minus signs."""
    namespace: str
    """Its team's namespace (the records' `namespace`)."""
    name: str
    """The InferenceService (the records' `inference_service`, the metrics' `model` label)."""
    registry_model: str
    """The registered model its baseline belongs to."""
    version: int
    """The registered version it serves (the records' `model_version`)."""


class DriftCheckArgs(Args):
    """One CronWorkflow: the models sharing a schedule and a window."""

    name: str
    """Its WorkflowTemplate's and CronWorkflow's name."""
    cron: str
    """Five-field cron expression."""
    time_zone: str = "UTC"
    """IANA time zone `cron` is read in (default: UTC, as a catalog schedule's)."""
    window_minutes: int
    """Minutes of decisions each run reads."""
    models: tuple[WatchedModel, ...]
    """The model versions it checks (MAX_MODELS_PER_CHECK at most)."""


class DriftMonitorArgs(Args):
    cluster: str
    """The cluster whose decisions are read (`decision/<cluster>/` of the archive)."""
    namespace: str = "decisions"
    """The decision sink's namespace, where the checks run (default: the stack's default)."""
    checks: tuple[DriftCheckArgs, ...]
    """The CronWorkflows."""
    archive: AuditArchive
    """The archive the sink writes (endpoint, bucket, region; its writer key isn't used)."""
    archive_reader_secret: str
    """Secret of the namespace with a key that may only list and read the archive's decisions."""
    mlflow_secret: str
    """Secret of the namespace with the MLflow login the baselines are read with."""
    tracking_uri: str
    """MLflow as the cluster's pods reach it."""
    tracking_namespace: str = MLFLOW_NAMESPACE
    """MLflow's namespace (the checks' egress goes there); default: the stack's."""
    image: str
    """MLflow's image (python with MLflow, numpy and boto3), at the pinned version."""
    max_decisions: int = 20000
    """Decisions of each version a run samples (default: the stack's default)."""
    max_read_bytes: int = 4096 * 1024 * 1024
    """Archive bytes a run reads at most (default: the stack's default)."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the namespace the program creates (the reader key, the MLflow login)."""

    @classmethod
    def of(cls, settings: DecisionSinkSettings, cluster: str, models: Iterable[tuple[ServedModel, str]], archive: AuditArchive) -> DriftMonitorArgs:
        """The checks of the watched `models` (each with its team's namespace), grouped by schedule
        and window in catalog order: one CronWorkflow for the usual case, where they share the defaults."""
        groups: dict[tuple[str, str, int], list[tuple[ServedModel, str]]] = {}
        for model, namespace in models:
            drift: ModelDrift = model.drift
            groups.setdefault((drift.schedule.cron, drift.schedule.time_zone, drift.window_minutes), []).append((model, namespace))
        chunks = [(key, group[i : i + MAX_MODELS_PER_CHECK]) for key, group in groups.items() for i in range(0, len(group), MAX_MODELS_PER_CHECK)]
        checks = tuple(
            DriftCheckArgs(
                name="decision-drift" if len(chunks) == 1 else f"decision-drift-{n}",
                cron=cron,
                time_zone=zone,
                window_minutes=window,
                models=tuple(
                    WatchedModel(key=f"m{i}", namespace=namespace, name=m.name, registry_model=m.registry.model, version=m.registry.version) for i, (m, namespace) in enumerate(chunk)
                ),
            )
            for n, ((cron, zone, window), chunk) in enumerate(chunks, 1)
        )
        check = settings.drift
        return cls(
            cluster=cluster,
            namespace=settings.namespace,
            checks=checks,
            archive=archive,
            archive_reader_secret=check.archive_reader_secret,
            mlflow_secret=check.mlflow_secret,
            tracking_uri=tracking_uri(),
            image=mlflow_image(),
            max_decisions=check.max_decisions,
            max_read_bytes=check.max_read_bytes,
        )


def _labels(model: WatchedModel) -> list[dict]:
    """A version's metric labels: its namespace, InferenceService and registry version (as the
    latency objective's alert names them), kept as the metric's own (the ServiceMonitor honours them)."""
    return [{"key": "namespace", "value": model.namespace}, {"key": "model", "value": model.name}, {"key": "version", "value": str(model.version)}]


def _metric(name: str, model: WatchedModel, output: str, when: str = "") -> dict:
    """A gauge of one version, set from its output parameter once the check succeeded (`when`: and then only if)."""
    condition = "{{status}} == Succeeded" + (f" && {when}" if when else "")
    return {"name": name, "help": HELP[name], "labels": _labels(model), "when": condition, "gauge": {"realtime": False, "value": f"{{{{outputs.parameters.{model.key}-{output}}}}}"}}


def metrics(check: DriftCheckArgs) -> list[dict]:
    """Each version's gauges: drift only when it was compared with a baseline, latency only when
    decisions had one; the baseline's state, features compared, decisions sampled and the time always."""
    out = []
    for m in check.models:
        out += [
            _metric(DRIFT_METRIC, m, "drift", f"{{{{outputs.parameters.{m.key}-compared}}}} == 1"),
            _metric(LATENCY_METRIC, m, "p95", f"{{{{outputs.parameters.{m.key}-timed}}}} > 0"),
            _metric(BASELINE_METRIC, m, "baseline"),
            _metric(FEATURES_METRIC, m, "features"),
            _metric(DECISIONS_METRIC, m, "decisions"),
            _metric(CHECKED_METRIC, m, "checked"),
        ]
    return out


def _env(check: DriftCheckArgs, args: DriftMonitorArgs) -> list[dict]:
    """The check's configuration: values only (the credentials are the mounted files)."""
    archive = args.archive
    models = [{"key": m.key, "namespace": m.namespace, "name": m.name, "registry_model": m.registry_model, "version": m.version} for m in check.models]
    values = {
        "DRIFT_STEP": "check",
        "MODELS": json.dumps(models, separators=(",", ":")),
        "WINDOW_SECONDS": str(check.window_minutes * 60),
        "LAG_SECONDS": str(CHECK_LAG_SECONDS),
        "DRIFT_MIN_VALUES": str(MIN_DECISIONS),
        "DRIFT_EPSILON": repr(PSI_EPSILON),
        "MAX_DECISIONS": str(args.max_decisions),
        "MAX_READ_BYTES": str(args.max_read_bytes),
        "ARCHIVE_ENDPOINT": archive.endpoint,
        "ARCHIVE_BUCKET": archive.bucket,
        # SigV4 signs with a region even for an S3-compatible store (as the sink does).
        "ARCHIVE_REGION": archive.region or "us-east-1",
        "ARCHIVE_PREFIX": f"{ARCHIVE_PREFIX}/{args.cluster}/",
        # Where the credentials' files are (their values never reach the environment).
        "ARCHIVE_KEY_ID_FILE": f"{ARCHIVE_KEY_DIR}/{AWS_KEY_FILES[0]}",
        "ARCHIVE_SECRET_KEY_FILE": f"{ARCHIVE_KEY_DIR}/{AWS_KEY_FILES[1]}",
        "MLFLOW_TRACKING_URI": args.tracking_uri,
        "MLFLOW_USERNAME_FILE": f"{MLFLOW_LOGIN_DIR}/{LOGIN_FILES[0]}",
        "MLFLOW_PASSWORD_FILE": f"{MLFLOW_LOGIN_DIR}/{LOGIN_FILES[1]}",
        "OUTPUT_DIR": OUTPUT_DIR,
        # MLflow and boto3 write caches under the home directory: the writable /tmp.
        "HOME": "/tmp",
    }
    return [{"name": k, "value": v} for k, v in values.items()]


def workflow_template(check: DriftCheckArgs, args: DriftMonitorArgs) -> dict:
    """A check's WorkflowTemplate: one script step, restricted, read-only root filesystem, the two
    credentials as files, its numbers as output parameters and gauges."""
    access, secret = ARCHIVE_READER_KEYS
    outputs = [{"name": f"{m.key}-{o}", "valueFrom": {"path": f"{OUTPUT_DIR}/{m.key}-{o}"}} for m in check.models for o in OUTPUTS]
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        # The check reads no Kubernetes API: only Argo's executor gets a token, of the same account.
        "automountServiceAccountToken": False,
        "executor": {"serviceAccountName": SERVICE_ACCOUNT},
        "entrypoint": "check",
        "securityContext": {**RESTRICTED_POD, "runAsUser": RUN_USER, "runAsGroup": RUN_USER},
        "podMetadata": {"labels": {**MANAGED_BY, CHECK_LABEL: check.name}},
        "activeDeadlineSeconds": RUN_DEADLINE_SECONDS,
        "volumes": [
            aws_key_files("archive-key", SecretKeyRef(name=args.archive_reader_secret, key=access), SecretKeyRef(name=args.archive_reader_secret, key=secret)),
            login_files("mlflow-login", args.mlflow_secret),
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
        "templates": [
            {
                "name": "check",
                "metadata": {"labels": {CHECK_LABEL: check.name}},
                "outputs": {"parameters": outputs},
                "metrics": {"prometheus": metrics(check)},
                "script": {
                    "image": args.image,
                    "command": ["python"],
                    "source": DRIFT_PROGRAM,
                    "env": _env(check, args),
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
                    "securityContext": {**RUN_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
                    "volumeMounts": [
                        {"name": "archive-key", "mountPath": ARCHIVE_KEY_DIR, "readOnly": True},
                        {"name": "mlflow-login", "mountPath": MLFLOW_LOGIN_DIR, "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                },
            }
        ],
    }


def cron_workflow(check: DriftCheckArgs) -> dict:
    """A check's schedule: never two runs at once, a missed run skipped rather than run late."""
    return scheduled(check.name, check.cron, check.time_zone)


def egress(args: DriftMonitorArgs) -> dict:
    """What the checks' pods may reach: the cluster's DNS, MLflow, the archive's port (a store
    outside the cluster, named by DNS: no selector can name it) and the API server's ports (Argo's
    executor reports the outputs). Nothing may connect to them (the namespace admits only the
    serving teams, on the sink's port)."""
    port = urlsplit(args.archive.endpoint).port or 443
    to_namespace = lambda ns: {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}  # noqa: E731
    return {
        "podSelector": {"matchExpressions": [{"key": CHECK_LABEL, "operator": "Exists"}]},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{**to_namespace("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            {"to": [to_namespace(args.tracking_namespace)], "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]},
            {"ports": [{"protocol": "TCP", "port": p} for p in sorted({port, 443, 6443})]},
        ],
    }


class DriftMonitor(Module):
    """The drift checks in the decision sink's namespace (created by the sink): their identity,
    egress, credentials, and a WorkflowTemplate with its CronWorkflow per check. Needs Argo
    Workflows' CRDs and controller (the training runtime, which watches this namespace and exports
    the metrics)."""

    def __init__(self, target: Target, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-drift"
        super().__init__(component_type("drift_monitor", "DriftMonitor"), name, None, placed(target, opts))
        provider = target.provider
        ready = credential_secrets(name, args.credentials, self, provider, [])
        meta = {"name": SERVICE_ACCOUNT, "namespace": args.namespace, "labels": MANAGED_BY}
        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta, automount_service_account_token=False, opts=child(self, provider))
        role = k8s.rbac.v1.Role(f"{name}-role", metadata=meta, rules=[TASK_RESULTS_RULE], opts=child(self, provider))
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-rolebinding",
            metadata=meta,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT},
            subjects=[{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": args.namespace}],
            opts=child(self, provider, depends_on=[role]),
        )
        policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-egress", metadata={"name": "decision-drift-egress", "namespace": args.namespace, "labels": MANAGED_BY}, spec=egress(args), opts=child(self, provider)
        )
        after = [*ready, account, binding, policy]
        for check in args.checks:
            labels = {**MANAGED_BY, CHECK_LABEL: check.name}
            template = k8s.apiextensions.CustomResource(
                f"{name}-{check.name}-template",
                api_version="argoproj.io/v1alpha1",
                kind="WorkflowTemplate",
                metadata={"name": check.name, "namespace": args.namespace, "labels": labels},
                spec=workflow_template(check, args),
                opts=child(self, provider, depends_on=after),
            )
            k8s.apiextensions.CustomResource(
                f"{name}-{check.name}-schedule",
                api_version="argoproj.io/v1alpha1",
                kind="CronWorkflow",
                metadata={"name": check.name, "namespace": args.namespace, "labels": labels},
                spec=cron_workflow(check),
                opts=child(self, provider, depends_on=[template]),
            )
        self.register_outputs({"checks": [c.name for c in args.checks]})
