"""Monitoring: kube-prometheus-stack, DCGM scraping, GPU alerts, dashboards and OpenCost on one target."""
from __future__ import annotations

import json
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import model_validator

from hybridai.recorded import component_type
from hybridai.modules.base import MANAGED_BY, Args, Module, child, on_port, pinned_release, placed, platform_namespace, pod_security
from hybridai.config.operations import AlertingSettings
from hybridai.modules.alerting import alertmanager_config, mounted_secrets
from hybridai.modules.certificates import TlsArgs, service_certificate
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.observability import AlertArgs, alert_groups, dashboards
from hybridai.modules.target import Target

PROMETHEUS_SERVICE = "kps-prometheus"
"""Prometheus service of the release (`fullnameOverride: kps`), where OpenCost queries."""
GRAFANA_SERVICE = "kube-prometheus-stack-grafana"
"""Grafana's service, port 80: the grafana subchart names it `<release>-grafana` (the parent's
`fullnameOverride` doesn't reach it) and the release is named after the chart."""


class OpenCostPricing(Args):
    """OpenCost custom pricing (hourly USD) for clusters without a cloud price API: on-prem, edge."""

    cpu_core_hour: float
    ram_gb_hour: float
    gpu_hour: float
    storage_gb_month: float


class MonitoringArgs(Args):
    namespace: str = "monitoring"
    retention: str = "15d"
    storage_size: str = "100Gi"
    storage_class: str | None = None
    grafana_admin_secret: str = "grafana-admin"
    gpu_operator_namespace: str = "gpu-operator"
    alerts: AlertArgs = AlertArgs()
    alerting: AlertingSettings = AlertingSettings()
    """Alertmanager's receivers and routes (modules/alerting.py)."""
    team_namespaces: dict[str, str] = {}
    """Team name → namespace on this cluster: where a team route matches."""
    pricing: OpenCostPricing | None = None
    """None: OpenCost prices nodes from the cloud provider's pricing API."""
    mode: Literal["server", "agent"] = "server"
    """`agent` (edge sites): Prometheus only scrapes and forwards to `remote_write_url`, buffering
    in its write-ahead log while the link is down; no local rules, Alertmanager or Grafana."""
    remote_write_url: str | None = None
    receive_remote_write: bool = False
    """Accept remote-write from agents (a hub that edge sites forward to)."""
    external_labels: dict[str, str] = {}
    """Labels on every series this Prometheus sends or stores (for example the edge site)."""
    extra_datasources: tuple[dict, ...] = ()
    """Grafana data sources besides Prometheus (the cluster's Loki: modules/logging.py)."""
    tls: TlsArgs | None = None
    """The cluster's issuer: Prometheus and Grafana get certificates (Secrets `<service>-tls`)."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the monitoring namespace the program creates (Grafana's admin login, the receivers')."""

    @model_validator(mode="after")
    def _agent_forwards(self) -> MonitoringArgs:
        if self.mode == "agent" and not self.remote_write_url:
            raise ValueError("agent mode forwards everything it scrapes: set remote_write_url")
        return self


class Monitoring(Module):
    """Prometheus, Alertmanager and Grafana (kube-prometheus-stack, pinned) in their own namespace;
    a ServiceMonitor for the DCGM exporter; the GPU alert rules; Grafana dashboards provisioned
    from ConfigMaps; OpenCost for per-namespace cost showback, with custom pricing off the cloud."""

    def __init__(self, target: Target, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-monitoring"
        super().__init__(component_type("monitoring", "Monitoring"), name, None, placed(target, opts))
        provider = target.provider
        ns = args.namespace
        # The API server calls the Prometheus Operator's admission webhook (pod port 10250); edge
        # agents remote-write to a hub's Prometheus (9090) from outside the cluster.
        extra = [on_port(10250)] + ([on_port(9090)] if args.receive_remote_write else [])
        # Baseline enforced (no privileged pods, no host namespaces: node-exporter is off, DCGM
        # covers the GPU nodes); restricted audited and warned, so drift shows. Prometheus keeps
        # its samples on volumes here: the namespace is protected.
        namespace = platform_namespace(
            f"{name}-ns", ns, pod_security("baseline", "restricted"), extra, self, provider, protect=True, retain_on_delete=True
        )

        # The Secrets Grafana and Alertmanager read exist before the release starts them.
        secrets = credential_secrets(name, args.credentials, self, provider, [namespace])
        storage = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": args.storage_size}}}
        if args.storage_class:
            storage["storageClassName"] = args.storage_class
        agent = args.mode == "agent"
        prometheus_spec: dict = {
            "retention": args.retention,
            "storageSpec": {"volumeClaimTemplate": {"spec": storage}},
            # Select every ServiceMonitor, PodMonitor and rule in the cluster, not only those
            # labelled for this release.
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "externalLabels": {"cluster": target.target, "placement": target.placement, **args.external_labels},
        }
        if args.remote_write_url:
            prometheus_spec["remoteWrite"] = [{"url": args.remote_write_url}]
        if args.receive_remote_write:
            prometheus_spec["enableRemoteWriteReceiver"] = True
        values: dict = {
            "fullnameOverride": "kps",
            # Host namespaces are allowed only in the GPU Operator's namespace.
            "nodeExporter": {"enabled": False},
            "prometheus": {"prometheusSpec": prometheus_spec},
            # Grafana's admin login comes from an existing Secret, never the chart's default.
            "grafana": {
                "admin": {"existingSecret": args.grafana_admin_secret},
                "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
                **({"additionalDataSources": list(args.extra_datasources)} if args.extra_datasources else {}),
            },
            "alertmanager": {
                "config": alertmanager_config(args.alerting, args.team_namespaces),
                # Receivers read their credentials from these Secrets' files, never from the config.
                "alertmanagerSpec": {"secrets": mounted_secrets(args.alerting)},
            },
        }
        if agent:
            values["prometheus"]["agentMode"] = True
            values["alertmanager"] = {"enabled": False}
            values["grafana"] = {"enabled": False}
            values["defaultRules"] = {"create": False}
        self.stack = pinned_release(f"{name}-kube-prometheus-stack", "kube-prometheus-stack", ns, values, child(self, provider, depends_on=[namespace, *secrets]), gitops=target.gitops)
        after_crds = child(self, provider, depends_on=[self.stack])

        k8s.apiextensions.CustomResource(
            f"{name}-dcgm-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "nvidia-dcgm-exporter", "namespace": ns, "labels": MANAGED_BY},
            spec={
                "selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}},
                "namespaceSelector": {"matchNames": [args.gpu_operator_namespace]},
                # honorLabels keeps the exporter's namespace/pod labels: those of the workload using
                # the GPU, which the idle-GPU alert and per-namespace dashboards group by.
                "endpoints": [{"port": "gpu-metrics", "interval": "15s", "honorLabels": True}],
            },
            opts=after_crds,
        )
        if args.tls is not None:
            service_certificate(f"{name}-prometheus-cert", PROMETHEUS_SERVICE, ns, args.tls, child(self, provider, depends_on=[namespace]))
            if not agent:
                service_certificate(f"{name}-grafana-cert", GRAFANA_SERVICE, ns, args.tls, child(self, provider, depends_on=[namespace]))
        # In-cluster addresses (reach them with `kubectl port-forward`; nothing is exposed outside).
        self.prometheus_url = f"http://{PROMETHEUS_SERVICE}.{ns}.svc:9090"
        self.grafana_url = None if agent else f"http://{GRAFANA_SERVICE}.{ns}.svc:80"
        if agent:
            # Rules, dashboards and cost allocation live where the series land: the hub.
            self.register_outputs({"namespace": ns})
            return
        k8s.apiextensions.CustomResource(
            f"{name}-gpu-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": "hybridai-gpu-alerts", "namespace": ns, "labels": MANAGED_BY},
            spec={"groups": alert_groups(args.alerts)},
            opts=after_crds,
        )
        for board, content in dashboards(args.alerts.latency_objective_ms).items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{board}",
                metadata={"name": f"hybridai-dashboard-{board}", "namespace": ns, "labels": {**MANAGED_BY, "grafana_dashboard": "1"}},
                data={f"{board}.json": json.dumps(content, indent=2, sort_keys=True)},
                opts=child(self, provider, depends_on=[namespace]),
            )

        opencost: dict = {
            "exporter": {"defaultClusterId": target.target},
            "prometheus": {"internal": {"enabled": True, "serviceName": PROMETHEUS_SERVICE, "namespaceName": ns, "port": 9090}},
        }
        if args.pricing:
            p = args.pricing
            opencost["customPricing"] = {
                "enabled": True,
                "provider": "custom",
                "costModel": {
                    "description": "hybrid-ai on-prem pricing: amortized purchase, power and operations",
                    "CPU": round(p.cpu_core_hour, 6),
                    "RAM": round(p.ram_gb_hour, 6),
                    "GPU": round(p.gpu_hour, 6),
                    "storage": round(p.storage_gb_month, 6),
                },
            }
        pinned_release(f"{name}-opencost", "opencost", ns, {"opencost": opencost}, child(self, provider, depends_on=[self.stack]), timeout=600, gitops=target.gitops)
        self.register_outputs({"namespace": ns})
