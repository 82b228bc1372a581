"""Credentials from a secret store: external-secrets (pinned) and a ClusterSecretStore per store the
cluster reads, and the one helper every component uses to get the Secrets it reads created.

A component reads a credential as "a Secret name + key in my namespace". `credential_secrets()`
creates that Secret in that namespace from its source (`secrets.sources` of the stack):

- an ExternalSecret reading the store's remote secret (each key a property of it): the value goes
  from the store to the cluster, never through the stack file, the plan or Pulumi's state;
- or, without a store, a Secret whose every value is a Pulumi secret (`pulumi config set --secret`):
  encrypted in the state, `[secret…]` in every plan artifact.

docs/security.md.
"""
from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import ConfigDict

from hybridai.config.base import EXTERNAL_SECRETS_NAMESPACE
from hybridai.config.security import AwsSecretsManagerStore, SecretSource, SecretStoreSettings
from hybridai.modules.base import MANAGED_BY, Args, Module, child, from_namespace, on_port, options, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.iam import trust
from hybridai.modules.target import AwsScope, Target
from hybridai.recorded import component_type

NAMESPACE = EXTERNAL_SECRETS_NAMESPACE
SERVICE_ACCOUNT = "external-secrets"
"""The controller's service account (the chart's default name): Vault's Kubernetes auth role and EKS
Pod Identity are bound to it."""
WEBHOOK_PORT = 10250
METRICS_PORT = 8080
REFRESH = "1h"
"""How often an ExternalSecret re-reads the store: a rotated credential reaches the cluster within it."""
SECRET_STORE_KIND = "ClusterSecretStore"


class StoreArgs(Args):
    name: str
    """Name of the ClusterSecretStore (the stack's store name), which ExternalSecrets reference."""
    kind: Literal["vault", "aws"]
    """HashiCorp Vault or AWS Secrets Manager."""
    server: str | None = None
    """Vault: its https address."""
    path: str = "secret"
    """Vault: mount path of the KV engine (default: Vault's own default mount)."""
    version: str = "v2"
    """Vault: KV engine version (default: v2, Vault's current engine)."""
    role: str = "hybridai-external-secrets"
    """Vault: role of the Kubernetes auth method bound to the controller's service account."""
    auth_mount_path: str = "kubernetes"
    """Vault: mount path of the Kubernetes auth method (default: Vault's own default mount)."""
    region: str | None = None
    """AWS: region of the secrets."""
    credentials: str | None = None
    """AWS off EKS: Secret (keys `access-key-id`, `secret-access-key`) in external-secrets' namespace;
    None on EKS: the controller's Pod Identity."""

    @classmethod
    def of(cls, store: SecretStoreSettings, on_eks: bool) -> StoreArgs:
        """A store of the stack as a cluster reads it; `on_eks`: through the controller's Pod
        Identity, so an AWS store's access key is not used there."""
        if store.vault is not None:
            v = store.vault
            return cls(name=store.name, kind="vault", server=v.server, path=v.path, version=v.version, role=v.role, auth_mount_path=v.auth_mount_path)
        a = store.aws_secrets_manager
        return cls(name=store.name, kind="aws", region=a.region, credentials=None if on_eks else a.credentials)


class CredentialSecretArgs(Args):
    """One Secret a component reads, and where its keys come from."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    """The Secret's name, as the reading component's credential references name it."""
    namespace: str
    """The reading component's namespace: the Secret is created there."""
    keys: tuple[str, ...]
    """The keys readers need: only these are written (an ExternalSecret's data, a Secret's values)."""
    store: str | None = None
    """ClusterSecretStore the keys are read from; None: Pulumi secret `values`."""
    remote_key: str | None = None
    """With `store`: the remote secret's key (path) in the store."""
    properties: dict[str, str] = {}
    """Secret key → property of the remote secret; default: the key's own name."""
    values: dict[str, Any] = {}
    """Without a store: Secret key → the stack's `CredentialValue` (handed over only as a Pulumi secret)."""

    @classmethod
    def of(cls, source: SecretSource, namespace: str, keys: tuple[str, ...]) -> CredentialSecretArgs:
        """The Secret `source` describes, in `namespace`, with the `keys` its readers there need. A
        remote key's `{namespace}` is that namespace: one remote secret per reading namespace (each
        team's own login)."""
        return cls(
            name=source.name,
            namespace=namespace,
            keys=keys,
            store=source.store,
            remote_key=source.remote_key.replace("{namespace}", namespace) if source.remote_key else None,
            properties=dict(source.properties),
            values={v.key: v.value for v in source.values},
        )


class ExternalSecretsArgs(Args):
    stores: tuple[StoreArgs, ...]
    """The stores the cluster reads, each a ClusterSecretStore."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of this namespace: an AWS store's access key off EKS."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes the controller's metrics (default: the stack's default monitoring namespace)."""
    config_maps: bool = False
    """Some ExternalSecret of the cluster writes a ConfigMap (the CA certificate KServe's logger
    reads, `certificate_config_maps`): the controller may then manage ConfigMaps (the chart's
    generic targets); default: off, Secrets only."""


def secret_store_spec(store: StoreArgs) -> dict:
    """The ClusterSecretStore's provider for a store."""
    if store.kind == "vault":
        # Kubernetes auth: the controller's service account token logs in; no Vault token is stored.
        auth = {"kubernetes": {"mountPath": store.auth_mount_path, "role": store.role, "serviceAccountRef": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE}}}
        return {"provider": {"vault": {"server": store.server, "path": store.path, "version": store.version, "auth": auth}}}
    provider: dict = {"service": "SecretsManager", "region": store.region}
    if store.credentials:
        ref = lambda key: {"name": store.credentials, "key": key, "namespace": NAMESPACE}  # noqa: E731
        provider["auth"] = {"secretRef": {"accessKeyIDSecretRef": ref("access-key-id"), "secretAccessKeySecretRef": ref("secret-access-key")}}
    # Without `auth` the AWS SDK's default chain: on EKS, the Pod Identity credentials.
    return {"provider": {"aws": provider}}


def credential_secrets(prefix: str, secrets: tuple[CredentialSecretArgs, ...], parent: pulumi.Resource, provider: k8s.Provider, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
    """The Secrets a component reads, each created in its namespace from its source: an
    ExternalSecret of the store (which writes the Secret and keeps it current), or a Secret of
    Pulumi secrets. `prefix`: the component's name; `depends_on`: its namespace (and, for a store,
    the cluster's ExternalSecrets component, whose CRDs and store it needs)."""
    created: list[pulumi.Resource] = []
    for secret in secrets:
        name = f"{prefix}-secret-{secret.namespace}-{secret.name}"
        metadata = {"name": secret.name, "namespace": secret.namespace, "labels": MANAGED_BY}
        if secret.store:
            data = [{"secretKey": key, "remoteRef": {"key": secret.remote_key, "property": secret.properties.get(key, key)}} for key in secret.keys]
            created.append(
                k8s.apiextensions.CustomResource(
                    name,
                    api_version="external-secrets.io/v1",
                    kind="ExternalSecret",
                    metadata=metadata,
                    spec={
                        "refreshInterval": REFRESH,
                        "secretStoreRef": {"name": secret.store, "kind": SECRET_STORE_KIND},
                        # Owner: the Secret goes with the ExternalSecret; Retain: a store outage
                        # never deletes a Secret a running component reads.
                        "target": {"name": secret.name, "creationPolicy": "Owner", "deletionPolicy": "Retain"},
                        "data": data,
                    },
                    opts=child(parent, provider, depends_on=depends_on),
                )
            )
        else:
            # Only the keys readers need, each a Pulumi secret: encrypted in state, redacted in plans.
            string_data = {key: secret.values[key].output() for key in secret.keys}
            created.append(
                k8s.core.v1.Secret(
                    name,
                    metadata=metadata,
                    type="Opaque",
                    string_data=string_data,
                    opts=child(parent, provider, depends_on=depends_on, additional_secret_outputs=["data", "stringData"]),
                )
            )
    return created


CA_CERTIFICATE_KEY = "ca.crt"
"""The key of a CA certificate ConfigMap (`certificate_config_maps`)."""


def certificate_config_maps(
    prefix: str, config_map: str, source: CredentialSecretArgs, namespaces: tuple[str, ...], parent: pulumi.Resource, provider: k8s.Provider, depends_on: list[pulumi.Resource]
) -> list[pulumi.Resource]:
    """A ConfigMap `config_map` with the CA's certificate (`ca.crt`: the `tls.crt` of the CA's
    source, never its key) in each of `namespaces`, for readers that take a CA only from a
    ConfigMap: an ExternalSecret writing it from the store, or the certificate from the Pulumi secret."""
    created: list[pulumi.Resource] = []
    for namespace in namespaces:
        name = f"{prefix}-ca-{namespace}"
        metadata = {"name": config_map, "namespace": namespace, "labels": MANAGED_BY}
        if source.store:
            spec = {
                "refreshInterval": REFRESH,
                "secretStoreRef": {"name": source.store, "kind": SECRET_STORE_KIND},
                "target": {
                    "name": config_map,
                    "creationPolicy": "Owner",
                    "deletionPolicy": "Retain",
                    "manifest": {"apiVersion": "v1", "kind": "ConfigMap"},
                    # Only the certificate goes into the ConfigMap; the key stays in the store.
                    "template": {"engineVersion": "v2", "data": {CA_CERTIFICATE_KEY: '{{ index . "tls.crt" }}'}},
                },
                "data": [{"secretKey": "tls.crt", "remoteRef": {"key": source.remote_key, "property": source.properties.get("tls.crt", "tls.crt")}}],
            }
            created.append(
                k8s.apiextensions.CustomResource(name, api_version="external-secrets.io/v1", kind="ExternalSecret", metadata=metadata, spec=spec, opts=child(parent, provider, depends_on=depends_on))
            )
        else:
            data = {CA_CERTIFICATE_KEY: source.values["tls.crt"].output()}
            created.append(k8s.core.v1.ConfigMap(name, metadata=metadata, data=data, opts=child(parent, provider, depends_on=depends_on)))
    return created


class ExternalSecrets(Module):
    """external-secrets (chart pinned, its CRDs with it) in its own restricted namespace, and a
    ClusterSecretStore per store the cluster reads."""

    def __init__(self, target: Target, args: ExternalSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-external-secrets"
        super().__init__(component_type("secret_store", "ExternalSecrets"), name, None, placed(target, opts))
        provider = target.provider
        # The API server calls the webhook; Prometheus scrapes the controller.
        namespace = platform_namespace(
            f"{name}-ns", NAMESPACE, pod_security("restricted"), [on_port(WEBHOOK_PORT), {**from_namespace(args.monitoring_namespace), **on_port(METRICS_PORT)}], self, provider
        )
        values = {
            "installCRDs": True,
            "serviceAccount": {"name": SERVICE_ACCOUNT},
            # Only the kinds the platform uses: no generators, no pushing to stores.
            "crds": {"createClusterExternalSecret": False, "createClusterGenerator": False, "createClusterPushSecret": False, "createPushSecret": False},
            "processClusterExternalSecret": False,
            "processPushSecret": False,
        }
        if args.config_maps:
            # A store's CA certificate lands in a ConfigMap (what KServe's logger mounts); this
            # lets the controller write ConfigMaps too, nothing beyond them.
            values["genericTargets"] = {"enabled": True}
        self.release = pinned_release(f"{name}-release", "external-secrets", NAMESPACE, values, child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        own = credential_secrets(name, args.credentials, self, provider, [namespace])
        self.stores = [
            k8s.apiextensions.CustomResource(
                f"{name}-store-{store.name}",
                api_version="external-secrets.io/v1",
                kind=SECRET_STORE_KIND,
                metadata={"name": store.name, "labels": MANAGED_BY},
                spec=secret_store_spec(store),
                opts=child(self, provider, depends_on=[self.release, *own]),
            )
            for store in args.stores
        ]
        self.register_outputs({"namespace": NAMESPACE})


class StoreIdentityArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: the role is `<prefix>-<cluster>-external-secrets` and
    may read only the stack's own secrets, `<prefix>/*`."""
    store_region: str
    """Region of the AWS Secrets Manager store the cluster reads."""

    @classmethod
    def of(cls, scope: AwsScope, store: AwsSecretsManagerStore) -> StoreIdentityArgs:
        """The identity reading `store` from the stack's EKS cluster."""
        return cls(scope=scope, store_region=store.region)


class StoreIdentity(Module):
    """EKS Pod Identity for external-secrets on the burst pool: an IAM role that may read only the
    stack's secrets (`<prefix>/*`) in AWS Secrets Manager, associated with the controller's
    service account."""

    def __init__(self, aws_target: Target, args: StoreIdentityArgs, cluster: Any, opts: pulumi.ResourceOptions | None = None):
        """`cluster`: the EksCluster (its cluster and Pod Identity agent add-on)."""
        scope = args.scope
        name = f"{aws_target.prefix}-{scope.cluster}-secrets-identity"
        super().__init__(component_type("secret_store", "StoreIdentity"), name, None, placed(aws_target, opts))
        provider = aws_target.provider
        physical = scope.cluster_name
        role = aws.iam.Role(f"{name}-role", name=f"{physical}-external-secrets", assume_role_policy=trust("pods.eks.amazonaws.com", tag_session=True), opts=options(self, provider=provider))
        # Read only, only the stack's own secrets (their names start with the stack prefix).
        secrets = f"arn:aws:secretsmanager:{args.store_region}:{scope.account_id}:secret:{scope.prefix}/*"
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [{"Sid": "ReadStackSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": secrets}]}
            ),
            opts=options(self, provider=provider),
        )
        self.association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=cluster.cluster.name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=options(self, provider=provider, depends_on=[cluster.addons["eks-pod-identity-agent"]]),
        )
        self.register_outputs({"role": role.name})
