"""KEDA on a cluster that serves models: the autoscaler KServe hands each predictor's request-metric
triggers to (modules/autoscaling.py), reading the cluster's Prometheus over https with the stack's CA.

Not at edge sites: their Prometheus is an agent with no query API for a scaler to read, and a
site's Triton holds every GPU of the site from the start (its one tenant's quota), so there is
nothing to scale into. docs/design/scaling-on-requests.md.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.base import KEDA_NAMESPACE
from hybridai.modules.base import (
    MANAGED_BY,
    READ_ONLY_ROOT_FILESYSTEM,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    Args,
    Module,
    child,
    from_namespace,
    on_port,
    pinned_release,
    placed,
    platform_namespace,
    pod_security,
)
from hybridai.modules.certificates import TlsArgs, certificate
from hybridai.modules.monitoring import CA_VOLUME, ca_volume
from hybridai.modules.target import Target
from hybridai.recorded import component_type

NAMESPACE = KEDA_NAMESPACE
RELEASE = "keda"
OPERATOR = "keda-operator"
"""The chart's operator (`operator.name`): its Deployment and Service, which serves its metrics."""
METRICS_PORT = 8080
"""The operator's Prometheus metrics port (`prometheus.operator.port`)."""
METRICS_API_PORT = 6443
"""The metrics API server's pod port (`service.portHttpsTarget`): the API server calls it for the HPAs' external metrics."""
WEBHOOK_PORT = 9443
"""The admission webhooks' pod port (the chart's default for `webhooks.port`): the API server calls it."""
CA_SECRET = "keda-prometheus-client-tls"
"""The Secret of the operator's certificate as a client of Prometheus: its `ca.crt`, the stack
issuer's CA, is what the operator verifies Prometheus with."""
CA_DIR = "/custom/ca"
"""Where the operator reads extra trusted CAs (KEDA's `--ca-dir`, its default): every certificate
file there joins the system roots for every scaler's https calls (pkg/util/certificates.go at v2.20.2)."""
COMPONENTS = ("operator", "metricServer", "webhooks")
"""The chart's three workloads, each with its own security contexts in the values."""


class KedaArgs(Args):
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus the scalers read and which scrapes the operator's metrics (default: the
    stack's default monitoring namespace)."""
    tls: TlsArgs | None = None
    """The cluster's issuer: Prometheus serves https with its certificate, and the operator trusts
    the issuer's CA (`CA_DIR`). None: Prometheus serves plain http inside the cluster."""

    @classmethod
    def of(cls, monitoring_namespace: str) -> KedaArgs:
        """KEDA reading the Prometheus of `monitoring_namespace` (its TLS: `secured()`)."""
        return cls(monitoring_namespace=monitoring_namespace)


class Keda(Module):
    """KEDA (chart pinned, its CRDs with it) in its own restricted namespace: operator, metrics API
    server and admission webhooks, with the certificates KEDA generates and rotates for its own
    traffic (API server ↔ metrics API server ↔ operator), no access to any Secret outside its
    namespace, its metrics scraped, and, where the cluster has the stack's issuer, that issuer's CA
    trusted for the scalers' calls to Prometheus."""

    def __init__(self, target: Target, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-keda"
        super().__init__(component_type("keda", "Keda"), name, None, placed(target, opts))
        provider = target.provider
        # The API server calls the metrics API server and the webhooks; Prometheus scrapes the
        # operator; the metrics API server asks the operator (gRPC) from inside the namespace.
        ingress = [on_port(METRICS_API_PORT), on_port(WEBHOOK_PORT), {**from_namespace(args.monitoring_namespace), **on_port(METRICS_PORT)}]
        namespace = platform_namespace(f"{name}-ns", NAMESPACE, pod_security("restricted"), ingress, self, provider)
        ready: list[pulumi.Resource] = [namespace]
        if args.tls is not None:
            # Before the release: the operator's pod mounts the Secret's `ca.crt`.
            ready.append(
                certificate(
                    f"{name}-client-cert",
                    CA_SECRET,
                    NAMESPACE,
                    (f"{OPERATOR}.{NAMESPACE}.svc",),
                    args.tls.issuer,
                    child(self, provider, depends_on=[namespace]),
                    usages=("digital signature", "key encipherment", "client auth"),
                )
            )
        self.release = pinned_release(f"{name}-release", RELEASE, NAMESPACE, keda_values(args), child(self, provider, depends_on=ready), gitops=target.gitops)
        # The monitoring CRDs come with the monitoring stack (the platform creates this module after it).
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": OPERATOR, "namespace": args.monitoring_namespace, "labels": MANAGED_BY},
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": OPERATOR}},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                # honorLabels keeps the `namespace` KEDA labels its metrics with (the ScaledObject's,
                # which the autoscaling alerts group by) instead of the operator's own.
                "endpoints": [{"port": "metrics", "interval": "30s", "honorLabels": True}],
            },
            opts=child(self, provider, depends_on=[self.release]),
        )
        self.register_outputs({"namespace": NAMESPACE})


def keda_values(args: KedaArgs) -> dict:
    """The keda chart's values: every pod Pod Security `restricted` with a read-only root
    filesystem, Secrets of its own namespace only, the operator's metrics on, and with the stack's
    issuer its CA trusted by the operator's scalers."""
    values: dict = {
        # The CRDs (ScaledObject, TriggerAuthentication, …) come with the release, written out:
        # KServe's controller manages ScaledObjects only if their CRD exists when it starts.
        "crds": {"install": True},
        # The chart's defaults are close (non-root, no capabilities, seccomp per container); these
        # are the platform's own definitions, so Pod Security restricted holds whatever a chart
        # upgrade changes.
        "podSecurityContext": {c: RESTRICTED_POD for c in COMPONENTS},
        "securityContext": {c: {**RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM} for c in COMPONENTS},
        # By default the operator and the metrics API server may list and watch every Secret of the
        # cluster (for TriggerAuthentications). Their triggers here read Prometheus without
        # credentials, so they read only the Secret of KEDA's own certificates, in its namespace.
        "permissions": {"operator": {"restrict": {"secret": True}}, "metricServer": {"restrict": {"secret": True}}},
        # Scalers' errors and their metrics' values, which the autoscaling alerts read; scraped by
        # the ServiceMonitor above (port `metrics` of the operator's Service).
        "prometheus": {"operator": {"enabled": True}},
        # No legacy environment variables of every Service in the namespace in KEDA's pods.
        "enableServiceLinks": False,
    }
    if args.tls is not None:
        # Only `ca.crt` of the operator's client certificate, never its key, at the folder KEDA
        # adds to its trusted roots (named explicitly, so a change of KEDA's default can't drop it).
        # KEDA reads the folder at start: a new CA (not a renewed certificate) needs a restart.
        values["certificates"] = {"operator": {"caDirs": [CA_DIR]}}
        values["volumes"] = {"keda": {"extraVolumes": [ca_volume(CA_SECRET)], "extraVolumeMounts": [{"name": CA_VOLUME, "mountPath": CA_DIR, "readOnly": True}]}}
    return values
