"""The MLOps layer of a stack, as values: the model registry and tracking server (MLflow) on the
training hub, and the pieces of the training catalog that run a job (image, shape, schedule,
evaluation) or promote a model (a registry version). What runs where comes from the capacity plan;
the modules are hybridai/modules/mlflow.py and hybridai/modules/training_runtime.py
(docs/mlops.md)."""
from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import PLACEHOLDER, NO_VALUE, DnsLabel, HttpsUrl, Model, Problem
from hybridai.config.operations import ObjectStore, SecretKeyRef, store_example

MLFLOW_NAMESPACE = "mlflow"
ARGO_WORKFLOWS_NAMESPACE = "argo"
JOBSET_NAMESPACE = "jobset-system"
MLFLOW_LOGIN_KEYS = ("password", "username")
"""Keys of a team's MLflow login Secret (`mlops.teamCredentialsSecret`), read by its runs."""
CHECKPOINT_STORE_KEYS = ("access-key-id", "secret-access-key")
"""Keys of a team's checkpoint-store Secret (`mlops.teamStoreSecret`), read by its on-prem runs."""

DigestImage = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$")]
"""An image pinned by digest: the lineage recorded with a model names exactly what trained it."""


class Schedule(Model):
    """When a job retrains: a CronWorkflow starts it at these times."""

    cron: str = Field(examples=["0 2 * * 6"], description="Five-field cron expression (minute hour day-of-month month day-of-week).")
    time_zone: str = Field(default="UTC", examples=["Europe/Frankfurt"], description="IANA time zone the cron expression is read in.")

    @field_validator("cron")
    @classmethod
    def _is_cron(cls, value: str) -> str:
        # croniter parses the same five-field syntax Argo's cron library accepts; seconds or
        # year fields (six or seven) are refused so the schedule means one thing everywhere.
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise PydanticCustomError("cron", "not a five-field cron expression such as '0 2 * * 6' (minute hour day-of-month month day-of-week)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _is_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError("time_zone", "not an IANA time zone such as 'UTC' or 'Europe/Berlin'") from None
        return value


class Evaluation(Model):
    """A check between training and registration: the image reads the trained run and prints the
    metric; the model is registered only when the metric passes the threshold."""

    image: DigestImage = Field(examples=["registry.bank.example/fraud/eval@sha256:" + "0" * 64], json_schema_extra=PLACEHOLDER, description="Evaluation image, pinned by digest.")
    command: list[str] = Field(
        default_factory=list,
        description="Entrypoint override; it gets `MLFLOW_RUN_ID` and must write the metric's value to `/tmp/metric` (default: the image's entrypoint).",
    )
    metric: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = Field(examples=["auc"], description="Name of the metric (recorded on the run).")
    threshold: float = Field(examples=[0.92], description="Value the metric must reach for the model to be registered.")
    higher_is_better: bool = Field(default=True, description="Whether the metric must be at least (`true`) or at most (`false`) the threshold.")


class RegistryRef(Model):
    """A registered model version in the stack's MLflow registry."""

    model: DnsLabel = Field(examples=["fraud-score"], description="Registered model name.")
    version: int = Field(ge=1, examples=[13], description="Registered version, an integer: pinned, never `latest`.")

    @field_validator("version", mode="before")
    @classmethod
    def _integer(cls, value: object) -> object:
        # "latest", "13", 13.5: a version is the registry's integer, written as one.
        if isinstance(value, bool) or not isinstance(value, int):
            raise PydanticCustomError("version_not_integer", "a registry version is the registry's integer (e.g. 13); aliases such as `latest` are not pinned")
        return value


class MlflowSecretKeyRef(SecretKeyRef):
    """A key of a Secret MLflow reads, in its namespace on the training hub."""

    name: DnsLabel = Field(description=f"Secret in MLflow's namespace (`{MLFLOW_NAMESPACE}`).")


class ArgoSecretKeyRef(SecretKeyRef):
    """A key of a Secret the Argo Workflows server reads, in its namespace on the training hub."""

    name: DnsLabel = Field(description=f"Secret in Argo Workflows' namespace (`{ARGO_WORKFLOWS_NAMESPACE}`).")


class Database(Model):
    """An existing PostgreSQL database for MLflow's runs, registry and users."""

    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}$")] = Field(examples=["pg.dc1.example.com"], json_schema_extra=PLACEHOLDER, description="Host name of the PostgreSQL server.")
    port: int = Field(default=5432, ge=1, le=65535, description="Port.")
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")] = Field(examples=["mlflow"], description="Database name.")
    username: MlflowSecretKeyRef = Field(examples=[{"name": "mlflow-database", "key": "username"}], description="Secret key holding the database user.")
    password: MlflowSecretKeyRef = Field(examples=[{"name": "mlflow-database", "key": "password"}], description="Secret key (in the same Secret) holding its password.")

    @model_validator(mode="after")
    def _one_secret(self) -> Database:
        # MLflow's chart reads the user and password from one Secret (existingDatabaseSecret).
        if self.username.name != self.password.name:
            raise PydanticCustomError("one_secret", "the user and the password are read from one Secret: name the same Secret in `username` and `password`")
        return self


class AdminLogin(Model):
    """MLflow's basic-auth admin account, read from an existing Secret."""

    username: MlflowSecretKeyRef = Field(examples=[{"name": "mlflow-admin", "key": "username"}], description="Secret key holding the admin user name.")
    password: MlflowSecretKeyRef = Field(examples=[{"name": "mlflow-admin", "key": "password"}], description="Secret key (in the same Secret) holding its password.")

    @model_validator(mode="after")
    def _one_secret(self) -> AdminLogin:
        if self.username.name != self.password.name:
            raise PydanticCustomError("one_secret", "the user and the password are read from one Secret: name the same Secret in `username` and `password`")
        return self


class CloudArtifactStore(Model):
    """An existing S3 bucket in the stack's AWS account for model artifacts (only where the stack's
    jurisdiction allows; never under HIPAA)."""

    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] = Field(examples=["fin-prod-mlflow-artifacts"], description="Existing bucket.")
    region: str = Field(examples=["eu-central-1"], description="Region of the bucket; must be in the stack's jurisdiction.")
    access_key_id: MlflowSecretKeyRef = Field(
        examples=[{"name": "mlflow-cloud-artifacts", "key": "access-key-id"}], description="Secret key holding the access key id of an IAM identity scoped to this bucket."
    )
    secret_access_key: MlflowSecretKeyRef = Field(examples=[{"name": "mlflow-cloud-artifacts", "key": "secret-access-key"}], description="Secret key (same Secret) holding its secret access key.")


class MlopsSettings(Model):
    """MLflow (tracking and model registry) on the training hub, Argo Workflows and JobSet on every
    cluster that trains. See [MLOps](mlops.md)."""

    database: Database = Field(description="PostgreSQL backend of MLflow (an existing database).")
    admin: AdminLogin = Field(description="MLflow's admin login (basic auth is always on).")
    object_store: ObjectStore | None = Field(
        default=None,
        examples=[store_example("hybridai-mlflow", "mlflow-artifacts")],
        description="Model artifacts on the on-prem S3-compatible store (default choice; required unless `cloudArtifacts` is set). "
        f"Its access key is read from a Secret in MLflow's namespace (`{MLFLOW_NAMESPACE}`).",
        json_schema_extra={"suggest": True},
    )
    cloud_artifacts: CloudArtifactStore | None = Field(
        default=None, description="Model artifacts in an S3 bucket of the cloud account instead: only with a cloud pool, in the jurisdiction, never under HIPAA."
    )
    tracking_url: HttpsUrl | None = Field(
        default=None,
        examples=["https://mlflow.dc1.example.com"], json_schema_extra=PLACEHOLDER,
        description="https address of MLflow as the cloud burst pool reaches it over the stack's private connectivity (an ingress with TLS in front of "
        "the `mlflow` service); required when jobs train in the cloud pool.",
    )
    ingress_class: str | None = Field(default=None, description="IngressClass of the ingresses behind `trackingUrl` and the Argo UI; default: the cluster's default class.")
    ingress_namespace: DnsLabel | None = Field(
        default=None,
        examples=["ingress-nginx"],
        description="Namespace of the ingress controller serving `trackingUrl` and the Argo UI: MLflow's and Argo's NetworkPolicies admit it (and no other namespace beyond the teams and monitoring). Required with `trackingUrl` or `argoSso`.",
    )
    team_credentials_secret: DnsLabel = Field(
        default="mlflow-credentials",
        description="Secret (keys `username`, `password`) in each training team's namespace holding the team's MLflow login; runs use it, so a team sees only "
        "its own experiments and models (MLflow's default permission is none).",
    )
    checkpoint_endpoint: HttpsUrl | None = Field(
        default=None,
        description="S3 API endpoint of the on-prem store holding the teams' checkpoint buckets (`<prefix>-<team>-checkpoints`, created by the store's "
        "administrators); default: `objectStore.endpoint`. In the cloud pool, checkpoints go to the team's training bucket.",
    )
    team_store_secret: DnsLabel = Field(
        default="checkpoint-store",
        description="Secret (keys `access-key-id`, `secret-access-key`) in each team's on-prem namespace holding a key scoped to the team's checkpoint bucket.",
    )
    argo_sso: ArgoSso | None = Field(
        default=None,
        description="Single sign-on for the Argo Workflows UI; unset (default): no Argo server at all — workflows are driven by their schedules and the `argo`/kubectl CLI, never an unauthenticated UI.",
    )


class ArgoSso(Model):
    """OIDC login for the Argo Workflows server."""

    issuer: HttpsUrl = Field(examples=["https://login.example.com"], json_schema_extra=PLACEHOLDER, description="OIDC issuer.")
    redirect_url: HttpsUrl = Field(examples=["https://argo.dc1.example.com/oauth2/callback"], json_schema_extra=PLACEHOLDER, description="`<argo url>/oauth2/callback`.")
    client_id: ArgoSecretKeyRef = Field(examples=[{"name": "argo-sso", "key": "client-id"}], description="Secret key holding the OIDC client id.")
    client_secret: ArgoSecretKeyRef = Field(examples=[{"name": "argo-sso", "key": "client-secret"}], description="Secret key holding the OIDC client secret.")


MlopsSettings.model_rebuild()


def registry_uri(settings: MlopsSettings, ref: RegistryRef) -> str:
    """Where a registered version is served from: the register step copies each version it
    registers to `registry/<model>/<version>/` of the artifact bucket (docs/mlops.md), so a pinned
    version has a stable address KServe's storage initializer can fetch."""
    bucket = settings.cloud_artifacts.bucket if settings.cloud_artifacts else settings.object_store.bucket
    return f"s3://{bucket}/registry/{ref.model}/{ref.version}"


def checkpoint_bucket(prefix: str, team: str) -> str:
    """A team's checkpoint bucket on the on-prem store (created by the store's administrators)."""
    return f"{prefix}-{team}-checkpoints"


def check_tracking_reach(spec, cloud_jobs: list[int]) -> list[Problem]:  # noqa: ANN001
    """Jobs the capacity plan sends to the cloud pool reach MLflow at `mlops.trackingUrl`."""
    if spec.mlops is None or spec.mlops.tracking_url is not None:
        return []
    runnable = [i for i in cloud_jobs if spec.training[i].image]
    if not runnable:
        return []
    return [
        Problem(
            ("mlops", "trackingUrl"),
            "tracking_url_required",
            f"training job {spec.training[runnable[0]].name} runs in the cloud burst pool and reaches MLflow from outside its cluster: set the https address "
            "that reaches it over the stack's private connectivity",
            NO_VALUE,
        )
    ]


def mlflow_image() -> str:
    """The MLflow image the register step runs (the chart's own image, at its pinned appVersion)."""
    return catalog.versions().images["mlflow"]

