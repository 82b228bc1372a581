"""Mlflow: the stack's tracking server and model registry (MLflow, chart pinned) on the training
hub, in its own restricted namespace, on an existing PostgreSQL database, with basic auth always on
and artifacts proxied to the store residency allows."""
from __future__ import annotations

from urllib.parse import urlsplit

import pulumi

from hybridai.config.mlops import MLFLOW_NAMESPACE, MlopsSettings
from hybridai.config.operations import SecretKeyRef
from hybridai.recorded import component_type
from hybridai.modules.base import RESTRICTED_POD, Args, Module, child, from_namespace, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.certificates import TlsArgs, service_certificate
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target

PORT = 5000
"""The MLflow container's port (the chart's `service.containerPort`); NetworkPolicies admit it."""
RELEASE = "mlflow"
TLS_SECRET = f"{RELEASE}-tls"
"""The Secret the certificate of `mlops.trackingUrl`'s host lands in; the ingress serves it."""


def tracking_uri(namespace: str = MLFLOW_NAMESPACE) -> str:
    """MLflow as pods of the hub cluster reach it: the chart's Service (named after the release)."""
    return f"http://{RELEASE}.{namespace}.svc.cluster.local"


class SecretKeys(Args):
    """Two keys of one Secret in MLflow's namespace (user and password, or an access key pair)."""

    name: str
    """The Secret."""
    first: str
    """Key of the user (or the access key id)."""
    second: str
    """Key of the password (or the secret access key)."""

    @classmethod
    def of(cls, first: SecretKeyRef, second: SecretKeyRef) -> SecretKeys:
        """Two references of the stack into one Secret: the chart reads both from the first's (the
        config checks a login's two keys share a Secret)."""
        return cls(name=first.name, first=first.key, second=second.key)


class MlflowArgs(Args):
    database_host: str
    """Host name of the PostgreSQL server holding runs, registry and users."""
    database_port: int = 5432
    """Its port (default: PostgreSQL's)."""
    database_name: str
    """The database."""
    database_secret: SecretKeys
    """`first`: the user key, `second`: the password key."""
    admin_secret: SecretKeys
    """MLflow's admin login (basic auth is always on): `first` the user key, `second` the password key."""
    artifact_bucket: str
    """Bucket of the model artifacts, which MLflow proxies (no other pod holds its keys)."""
    artifact_endpoint: str | None = None
    """The on-prem S3-compatible endpoint; None: AWS S3 in `artifact_region`."""
    artifact_region: str | None = None
    """The bucket's region (AWS S3; on-prem only if the store checks one)."""
    artifact_secret: SecretKeys
    """`first`: access key id key, `second`: secret access key key."""
    client_namespaces: tuple[str, ...]
    """Namespaces whose pods may reach MLflow (training and serving teams of the hub)."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus may scrape MLflow (default: the stack's default monitoring namespace)."""
    public_host: str | None = None
    """Host of `mlops.trackingUrl` (the cloud pool reaches MLflow there); default: None, in-cluster only."""
    ingress_class: str | None = None
    """IngressClass of the ingress at `public_host`; default: None, the cluster's default class."""
    ingress_namespace: str | None = None
    """Namespace of the ingress controller, admitted by the NetworkPolicy when there is an ingress."""
    replicas: int = 2
    """Two (default, and in prod): the registry keeps answering through a node drain, all its
    state being in PostgreSQL; other environments run one."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of MLflow's namespace the program creates (database, admin, artifact store)."""
    tls: TlsArgs | None = None
    """The cluster's issuer: with `public_host`, a certificate for it (Secret `mlflow-tls`) and the
    ingress serving it. Without an issuer there is no ingress: MLflow is never exposed outside the
    cluster without TLS."""

    @property
    def served(self) -> bool:
        """MLflow is served at `public_host` through a TLS ingress."""
        return self.tls is not None and self.public_host is not None

    @classmethod
    def of(cls, settings: MlopsSettings, client_namespaces: tuple[str, ...], monitoring_namespace: str, environment: str) -> MlflowArgs:
        """MLflow as the stack's `mlops` describes it, its artifacts in the cloud bucket (AWS S3 in
        its region: no endpoint) or on the on-prem store; two replicas in prod."""
        db, admin = settings.database, settings.admin
        store = settings.cloud_artifacts or settings.object_store
        return cls(
            database_host=db.host,
            database_port=db.port,
            database_name=db.name,
            database_secret=SecretKeys.of(db.username, db.password),
            admin_secret=SecretKeys.of(admin.username, admin.password),
            artifact_bucket=store.bucket,
            artifact_endpoint=None if settings.cloud_artifacts else store.endpoint,
            artifact_region=store.region,
            artifact_secret=SecretKeys.of(store.access_key_id, store.secret_access_key),
            client_namespaces=client_namespaces,
            monitoring_namespace=monitoring_namespace,
            public_host=public_host(settings.tracking_url),
            ingress_class=settings.ingress_class,
            ingress_namespace=settings.ingress_namespace,
            replicas=2 if environment == "prod" else 1,
        )


def mlflow_values(args: MlflowArgs) -> dict:
    """The chart's values: PostgreSQL backend and auth store, proxied artifacts, auth on."""
    db, admin, store = args.database_secret, args.admin_secret, args.artifact_secret
    postgres = {"enabled": True, "host": args.database_host, "port": args.database_port, "database": args.database_name}
    env = {"MLFLOW_S3_ENDPOINT_URL": args.artifact_endpoint} if args.artifact_endpoint else {"AWS_DEFAULT_REGION": args.artifact_region}
    values: dict = {
        # Two replicas: the registry keeps answering through a node drain (all state is in PostgreSQL).
        "replicaCount": args.replicas,
        "backendStore": {
            "databaseMigration": True,
            "databaseConnectionCheck": True,
            "postgres": postgres,
            "existingDatabaseSecret": {"name": db.name, "usernameKey": db.first, "passwordKey": db.second},
        },
        # Proxied: clients upload and download through MLflow with their MLflow login, so no
        # training or serving pod holds the artifact store's keys; only MLflow's namespace does.
        "artifactRoot": {
            "proxiedArtifactStorage": True,
            "s3": {"enabled": True, "bucket": args.artifact_bucket, "existingSecret": {"name": store.name, "keyOfAccessKeyId": store.first, "keyOfSecretAccessKey": store.second}},
        },
        "extraEnvVars": env,
        # Basic auth always on; a user sees nothing until granted (teams own what they create).
        "auth": {
            "enabled": True,
            "existingAdminSecret": {"name": admin.name, "usernameKey": admin.first, "passwordKey": admin.second},
            "defaultPermission": "NO_PERMISSIONS",
            # Users and permissions in the same PostgreSQL database, so replicas agree.
            "postgres": {**postgres, "existingSecret": {"name": db.name, "usernameKey": db.first, "passwordKey": db.second}},
        },
        # Restricted, with the chart's own pod settings (fsGroup 1001, its image's group, owns the
        # volumes); the chart's container context already drops everything.
        "podSecurityContext": {**RESTRICTED_POD, "fsGroup": 1001, "fsGroupChangePolicy": "OnRootMismatch"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "telemetry": {"enabled": False},
    }
    if args.served:
        values["ingress"] = {
            "enabled": True,
            **({"className": args.ingress_class} if args.ingress_class else {}),
            "hosts": [{"host": args.public_host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": TLS_SECRET, "hosts": [args.public_host]}],
        }
        values["serverAllowedHosts"] = [args.public_host, f"{RELEASE}.{MLFLOW_NAMESPACE}.svc.cluster.local"]
    return values


class Mlflow(Module):
    """MLflow in the `mlflow` namespace (Pod Security restricted), reachable only from the
    stack's team namespaces, monitoring and, with TLS, the ingress controller."""

    def __init__(self, target: Target, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-mlflow"
        super().__init__(component_type("mlflow", "Mlflow"), name, None, placed(target, opts))
        provider = target.provider
        port = [{"protocol": "TCP", "port": PORT}]
        sources = [*args.client_namespaces, args.monitoring_namespace, *([args.ingress_namespace] if args.ingress_namespace and args.served else [])]
        ingress = [{**from_namespace(ns), "ports": port} for ns in sources]
        namespace = platform_namespace(f"{name}-ns", MLFLOW_NAMESPACE, pod_security("restricted"), ingress, self, provider)
        secrets = credential_secrets(name, args.credentials, self, provider, [namespace])
        if args.served:
            # The certificate of the address the cloud pool's runs reach MLflow at; the ingress serves it.
            secrets.append(service_certificate(f"{name}-cert", RELEASE, MLFLOW_NAMESPACE, args.tls, child(self, provider, depends_on=[namespace]), dns_names=(args.public_host,), secret_name=TLS_SECRET))
        self.release = pinned_release(f"{name}-release", "mlflow", MLFLOW_NAMESPACE, mlflow_values(args), child(self, provider, depends_on=[namespace, *secrets]), gitops=target.gitops)
        self.tracking_uri = tracking_uri()
        self.register_outputs({"trackingUri": self.tracking_uri})


def public_host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None
