"""TLS inside the platform: cert-manager (pinned, its CRDs with it) and the stack's ClusterIssuer on
one cluster, and the one helper every component uses for "a certificate for my service".

The issuer is the stack's (`tls.issuer`): an internal CA whose key pair is a Secret the program
creates from the secret store or Pulumi secrets, or an existing ClusterIssuer by name. With
`tls.acme`, a second ClusterIssuer answers ACME HTTP-01 challenges through the serving Gateway for
its public host names. docs/security.md.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.base import CERT_MANAGER_NAMESPACE
from hybridai.config.security import TlsSettings
from hybridai.modules.base import MANAGED_BY, Args, Module, child, from_namespace, on_port, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.recorded import component_type

NAMESPACE = CERT_MANAGER_NAMESPACE
CA_ISSUER = "hybridai-ca"
"""Name of the ClusterIssuer of an internal CA the stack supplies."""
ACME_ISSUER = "hybridai-acme"
WEBHOOK_PORT = 10250
METRICS_PORT = 9402
DURATION = "2160h"
RENEW_BEFORE = "720h"
"""Certificates live 90 days and renew 30 days before they expire (cert-manager's own default is
the same 90 days, renewing at two thirds): a failed renewal has a month to be noticed."""


class TlsArgs(Args):
    """What a component needs to get a certificate: the ClusterIssuer to ask."""

    issuer: str
    """The ClusterIssuer: CA_ISSUER for the stack's internal CA, or an existing one by name."""

    @classmethod
    def of(cls, tls: TlsSettings) -> TlsArgs:
        """The stack's issuer: its internal CA's ClusterIssuer, or the existing one it names."""
        return cls(issuer=CA_ISSUER if tls.issuer.ca is not None else tls.issuer.existing)


class AcmeArgs(Args):
    email: str
    """The ACME account's contact: the CA mails expiry warnings there."""
    server: str
    """The ACME directory URL."""
    gateway: str
    """`namespace/name` of the Gateway HTTP-01 challenges are answered through."""


class CertManagerArgs(Args):
    issuer: str
    """The ClusterIssuer in-cluster certificates come from: CA_ISSUER, or an existing one by name."""
    ca_secret: str | None = None
    """With an internal CA: its Secret (`tls.crt`, `tls.key`) in cert-manager's namespace; default:
    None, an existing issuer that needs none."""
    acme: AcmeArgs | None = None
    """A second ClusterIssuer for the serving Gateway's public host names; default: None, every
    certificate from `issuer`."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of cert-manager's namespace the program creates (the CA's)."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes cert-manager's metrics (default: the stack's default monitoring namespace)."""

    @classmethod
    def of(cls, tls: TlsSettings, gateway: str | None, credentials: tuple[CredentialSecretArgs, ...], monitoring_namespace: str) -> CertManagerArgs:
        """cert-manager with the stack's issuer; `gateway`: the serving Gateway on this cluster, through
        which an ACME issuer answers its challenges (None: no ACME issuer here)."""
        ca, acme = tls.issuer.ca, tls.acme
        return cls(
            issuer=TlsArgs.of(tls).issuer,
            ca_secret=ca.secret if ca is not None else None,
            acme=AcmeArgs(email=acme.email, server=acme.server, gateway=gateway) if acme is not None and gateway else None,
            credentials=credentials,
            monitoring_namespace=monitoring_namespace,
        )


def service_certificate(
    name: str, service: str, namespace: str, tls: TlsArgs, opts: pulumi.ResourceOptions, dns_names: tuple[str, ...] = (), secret_name: str | None = None
) -> k8s.apiextensions.CustomResource:
    """A Certificate for the Service `service` in `namespace`, from the stack's issuer: its
    in-cluster names (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`) and any
    `dns_names`, kept in the Secret `secret_name` (default `<service>-tls`, keys `tls.crt`,
    `tls.key`, `ca.crt`) in the same namespace, which the service mounts. `name`: the Pulumi
    resource name; `opts`: the component's child options, depending on the cluster's CertManager."""
    local = (service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local")
    return certificate(name, secret_name or f"{service}-tls", namespace, (*local, *dns_names), tls.issuer, opts)


SERVER_USAGES = ("digital signature", "key encipherment", "server auth")


def certificate(
    name: str, secret_name: str, namespace: str, dns_names: tuple[str, ...], issuer: str, opts: pulumi.ResourceOptions, usages: tuple[str, ...] = SERVER_USAGES
) -> k8s.apiextensions.CustomResource:
    """A cert-manager Certificate of `dns_names` from the ClusterIssuer `issuer`, kept in `secret_name`
    (whose `ca.crt` is the issuer's CA: a client in another namespace verifies servers with it)."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata={"name": secret_name, "namespace": namespace, "labels": MANAGED_BY},
        spec={
            "secretName": secret_name,
            "dnsNames": list(dict.fromkeys(dns_names)),
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
            "duration": DURATION,
            "renewBefore": RENEW_BEFORE,
            # A fresh key at every renewal: a leaked key is only good until the next one.
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": list(usages),
        },
        opts=opts,
    )


class CertManager(Module):
    """cert-manager in its own restricted namespace and the stack's ClusterIssuers."""

    def __init__(self, target: Target, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None, depends_on_secrets: list[pulumi.Resource] | None = None):
        """`depends_on_secrets`: the cluster's ExternalSecrets component, where the CA comes from a store."""
        name = f"{target.prefix}-cert-manager"
        super().__init__(component_type("certificates", "CertManager"), name, None, placed(target, opts))
        provider = target.provider
        # The API server calls cert-manager's webhook; Prometheus scrapes the controller.
        namespace = platform_namespace(
            f"{name}-ns", NAMESPACE, pod_security("restricted"), [on_port(WEBHOOK_PORT), {**from_namespace(args.monitoring_namespace), **on_port(METRICS_PORT)}], self, provider
        )
        values: dict = {
            # The CRDs come with the release and stay if it is ever uninstalled (their objects with them).
            "crds": {"enabled": True, "keep": True},
        }
        if args.acme is not None:
            # HTTP-01 challenges answered through the Gateway (Gateway API HTTPRoutes).
            values["config"] = {"apiVersion": "controller.config.cert-manager.io/v1alpha1", "kind": "ControllerConfiguration", "enableGatewayAPI": True}
        self.release = pinned_release(f"{name}-release", "cert-manager", NAMESPACE, values, child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        secrets = credential_secrets(name, args.credentials, self, provider, [namespace, *(depends_on_secrets or [])])
        after = child(self, provider, depends_on=[self.release, *secrets])
        if args.ca_secret is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-ca-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata={"name": CA_ISSUER, "labels": MANAGED_BY},
                spec={"ca": {"secretName": args.ca_secret}},
                opts=after,
            )
        if args.acme is not None:
            gateway_namespace, gateway = args.acme.gateway.split("/", 1)
            k8s.apiextensions.CustomResource(
                f"{name}-acme-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata={"name": ACME_ISSUER, "labels": MANAGED_BY},
                spec={
                    "acme": {
                        "email": args.acme.email,
                        "server": args.acme.server,
                        # cert-manager generates the account key into this Secret.
                        "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account"},
                        "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": gateway, "namespace": gateway_namespace, "kind": "Gateway"}]}}}],
                    }
                },
                opts=after,
            )
        self.register_outputs({"namespace": NAMESPACE, "issuer": args.issuer})
