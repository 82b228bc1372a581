"""Stack config of the platform's TLS (cert-manager and the stack's issuer) and of where its
in-cluster credentials come from (a secret store through external-secrets, or Pulumi secrets).

Components keep reading credentials as "a Secret name + key in my namespace" (`SecretKeyRef`,
`StoreSecretKeyRef`, `grafanaAdminSecret`, `modelSourceSecret`); `secrets.sources` says, per
Secret name, where its keys come from, and the program creates that Secret — an ExternalSecret
reading the store, or a Secret of Pulumi secrets — in every namespace a component reads it from.
docs/security.md.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from hybridai.config.base import PLACEHOLDER, Credential, DnsLabel, HttpsUrl, Model

SecretKey = Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]{1,253}$")]
"""A key of a Kubernetes Secret."""
Hostname = Annotated[str, StringConstraints(pattern=r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$", max_length=253)]
"""A DNS name a certificate is issued for (a leading `*.` for a wildcard)."""
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s,<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")]


class CaIssuer(Model):
    """An internal certificate authority: cert-manager signs every certificate with its key."""

    secret: DnsLabel = Field(
        default="hybridai-ca",
        examples=["hybridai-ca"],
        description="Secret in cert-manager's namespace holding the CA (`tls.crt`, `tls.key`); list it in `secrets.sources` so the program "
        "creates it from the secret store or from Pulumi secrets (`pulumi config set --secret`), never from plain text.",
        json_schema_extra={"suggest": True},
    )


class AcmeIssuer(Model):
    """An ACME CA (Let's Encrypt or the organization's own) for the public serving Gateway's host
    names, answering HTTP-01 challenges through that Gateway (Gateway API)."""

    email: EmailAddress = Field(examples=["ml-platform@example.com"], json_schema_extra=PLACEHOLDER, description="Account contact; the CA mails expiry warnings here.")
    server: HttpsUrl = Field(default="https://acme-v02.api.letsencrypt.org/directory", description="ACME directory URL.")


class IssuerSettings(Model):
    """The ClusterIssuer every platform certificate comes from: exactly one of `ca` or `existing`."""

    ca: CaIssuer | None = Field(
        default=None, description="An internal CA whose key the stack supplies (from the secret store or a Pulumi secret).", json_schema_extra={"suggest": True}
    )
    existing: DnsLabel | None = Field(default=None, examples=["corp-pki"], description="Name of a ClusterIssuer that already exists on every cluster (e.g. the organization's PKI through Vault).")

    @model_validator(mode="after")
    def _one(self) -> IssuerSettings:
        if (self.ca is None) == (self.existing is None):
            raise PydanticCustomError("issuer_one_of", "name exactly one issuer: `ca` (an internal CA) or `existing` (a ClusterIssuer by name)")
        return self


class TlsSettings(Model):
    """cert-manager (pinned) on every cluster that serves models or hosts platform endpoints (the
    on-prem cluster, the EKS burst pool), with the stack's ClusterIssuer; KServe's webhooks, the
    serving Gateway, Loki, Grafana and Prometheus get certificates from it."""

    issuer: IssuerSettings = Field(examples=[{"ca": {"secret": "hybridai-ca"}}], description="Where certificates of in-cluster endpoints come from.")
    acme: AcmeIssuer | None = Field(
        default=None, description="An ACME issuer for the serving Gateway's public host names (`gatewayHosts`) instead of `issuer`; in-cluster names always use `issuer`."
    )
    gateway_hosts: list[Hostname] = Field(
        default_factory=list,
        examples=[["inference.example.com"]], json_schema_extra=PLACEHOLDER,
        description="Host names of the serving Gateway's HTTPS listener (`serving.gateway`): the program issues the certificate its listener "
        "references (Secret `<gateway>-tls` in the Gateway's namespace); required with `serving.gateway`.",
    )


class VaultStore(Model):
    """HashiCorp Vault's KV engine, read with the Kubernetes auth method (each cluster's
    external-secrets service account logs in; no token is stored)."""

    server: HttpsUrl = Field(examples=["https://vault.example.com"], json_schema_extra=PLACEHOLDER, description="Vault's address (https).")
    path: str = Field(default="secret", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", description="Mount path of the KV engine.")
    version: Literal["v1", "v2"] = Field(default="v2", description="KV engine version.")
    role: str = Field(default="hybridai-external-secrets", pattern=r"^[A-Za-z0-9_.-]{1,128}$", description="Vault role of the Kubernetes auth method bound to the `external-secrets` service account.")
    auth_mount_path: str = Field(default="kubernetes", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", description="Mount path of the Kubernetes auth method the clusters log in through.")


class AwsSecretsManagerStore(Model):
    """AWS Secrets Manager. On the EKS burst pool external-secrets reads it through EKS Pod
    Identity (an IAM role allowed to read `<prefix>/*` only); elsewhere with an access key."""

    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$", examples=["eu-central-1"], description="Region of the secrets (within the stack's jurisdiction).")
    credentials: DnsLabel | None = Field(
        default=None,
        description="Off EKS: Secret in external-secrets' namespace holding an access key (`access-key-id`, `secret-access-key`) allowed to read the "
        "stack's secrets; list it in `secrets.sources` with Pulumi secret `values`. Unused on EKS (Pod Identity).",
    )


class SecretStoreSettings(Model):
    """A secret store the program connects every cluster that reads from it to (a ClusterSecretStore
    of this name); exactly one of `vault` or `awsSecretsManager`."""

    name: DnsLabel = Field(examples=["vault"], description="Name credential sources refer to (`secrets.sources[].store`).")
    vault: VaultStore | None = Field(default=None, description="HashiCorp Vault.", json_schema_extra={"suggest": True})
    aws_secrets_manager: AwsSecretsManagerStore | None = Field(default=None, description="AWS Secrets Manager.")

    @model_validator(mode="after")
    def _one(self) -> SecretStoreSettings:
        if (self.vault is None) == (self.aws_secrets_manager is None):
            raise PydanticCustomError("store_one_of", "a store is exactly one of `vault` or `awsSecretsManager`")
        return self


class SourceValue(Model):
    """One key of a Secret, as a Pulumi secret."""

    key: SecretKey = Field(examples=["password"], description="Key of the Secret.")
    value: Credential = Field(description="The value, only as a `secure:` value (`pulumi config set --secret --path '…value' <value>`).")


class SecretSource(Model):
    """Where the keys of one Secret the platform reads come from: a remote secret of a store
    (each key a property of it) or Pulumi secrets."""

    name: DnsLabel = Field(examples=["alertmanager-receivers"], description="The Secret's name, as the components' credential references name it.")
    store: DnsLabel | None = Field(default=None, examples=["vault"], description="The store (`secrets.stores[].name`) holding it.")
    remote_key: str | None = Field(
        default=None,
        pattern=r"^(?:[A-Za-z0-9/_+=.@-]|\{namespace\})+$",
        max_length=512,
        examples=["hc-prod/alertmanager"],
        description="The secret's key (path) in the store. `{namespace}` stands for the namespace reading it: one remote secret per team "
        "for a Secret every team has (`mlops.teamCredentialsSecret`: each team its own MLflow login).",
    )
    properties: dict[SecretKey, str] = Field(
        default_factory=dict, description="Secret key → property of the remote secret holding it; default: the property of the key's own name."
    )
    values: list[SourceValue] = Field(default_factory=list, description="Without a store: each key as a Pulumi secret.", json_schema_extra={"suggest": False})

    @model_validator(mode="after")
    def _one(self) -> SecretSource:
        if bool(self.store) != bool(self.remote_key):
            raise PydanticCustomError("source_store_incomplete", "a store source names both `store` and `remoteKey`")
        if bool(self.store) == bool(self.values):
            raise PydanticCustomError("source_one_of", "a source is a store's secret (`store`, `remoteKey`) or Pulumi secret `values`, not both or neither")
        return self


class SecretsSettings(Model):
    """Secret stores and where each Secret the platform reads comes from, so none is made by hand."""

    stores: list[SecretStoreSettings] = Field(default_factory=list, description="Secret stores (external-secrets is installed where a source reads one).")
    sources: list[SecretSource] = Field(default_factory=list, description="Per Secret name, where its keys come from.")

    def source(self, name: str) -> SecretSource | None:
        return next((s for s in self.sources if s.name == name), None)

    def store(self, name: str) -> SecretStoreSettings | None:
        return next((s for s in self.stores if s.name == name), None)
