"""Monitoring: kube-prometheus-stack, DCGM scraping, GPU alerts, dashboards and OpenCost on one target."""
from __future__ import annotations

import json
from typing import Any, Iterable, Literal
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from pydantic import model_validator

from hybridai.recorded import component_type
from hybridai.modules.base import MANAGED_BY, Args, Module, child, from_namespace, on_port, pinned_release, placed, platform_namespace, pod_security
from hybridai.config.components import OnpremCluster, Team
from hybridai.config.operations import AlertingSettings, CostSettings, MonitoringSettings
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd, onprem_prices
from hybridai.modules.alerting import alertmanager_config, mounted_secrets
from hybridai.modules.certificates import TlsArgs, service_certificate
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.observability import AlertArgs, alert_groups, dashboards
from hybridai.modules.target import Target

PROMETHEUS_SERVICE = "kps-prometheus"
"""Prometheus service of the release (`fullnameOverride: kps`), where OpenCost queries."""
PROMETHEUS_PORT = 9090
GRAFANA_SERVICE = "kube-prometheus-stack-grafana"
"""Grafana's service: the grafana subchart names it `<release>-grafana` (the parent's
`fullnameOverride` doesn't reach it) and the release is named after the chart. Port 80 over plain
HTTP; 443 when it serves TLS."""
GRAFANA_PORT = 3000
"""Grafana's container port (the subchart's `service.targetPort`), where its sidecars call it."""
PROMETHEUS_TLS_SECRET = f"{PROMETHEUS_SERVICE}-tls"
GRAFANA_TLS_SECRET = f"{GRAFANA_SERVICE}-tls"
"""The Secrets of the two services' Certificates: `tls.crt`, `tls.key`, and `ca.crt`, the issuer's
CA, which the namespace's in-cluster clients mount (that key alone) to verify them."""
CA_ENV = "HYBRIDAI_TLS_CA"
"""Grafana's environment variable holding the issuer's CA (PEM): its provisioned data sources read
it as `$HYBRIDAI_TLS_CA` (Grafana interpolates environment variables in provisioning files)."""
GRAFANA_TLS_DIR = "/etc/grafana/tls"
"""Where Grafana's certificate and key are mounted: the Secret as a volume (no subPath), so a
renewal reaches the running pod, which re-reads the files (`certs_watch_interval`)."""
CA_VOLUME = "hybridai-ca"
CA_DIR = "/etc/hybridai/ca"
"""Where a client container (Grafana's sidecars, OpenCost) mounts `ca.crt`, the only key of the
Secret its volume projects: a client never sees the server's private key."""


class OpenCostPricing(Args):
    """OpenCost custom pricing (hourly USD) for clusters without a cloud price API: on-prem, edge."""

    cpu_core_hour: float
    """Price of a CPU core for an hour."""
    ram_gb_hour: float
    """Price of a GB of memory for an hour."""
    gpu_hour: float
    """Price of a GPU for an hour."""
    storage_gb_month: float
    """Price of a GB of persistent storage for a month."""

    @classmethod
    def of(cls, cluster: OnpremCluster, cost: CostSettings) -> OpenCostPricing:
        """A data-center cluster's prices from the same assumptions as cost.json: the GPU price is the
        cluster's GPUs' amortized monthly cost, averaged over them and spread over the month's hours."""
        monthly = [(gpu_month_usd(pool.gpu_model, cost), pool.gpu_count) for pool in cluster.gpu_pools]
        priced = [(m, n) for m, n in monthly if m is not None]
        gpus = sum(n for _, n in priced)
        items = onprem_prices(cost).items
        return cls(
            cpu_core_hour=items.get("cpu_core_hour", 0.0),
            ram_gb_hour=items.get("ram_gb_hour", 0.0),
            gpu_hour=sum(m * n for m, n in priced) / gpus / HOURS_PER_MONTH if gpus else 0.0,
            storage_gb_month=items.get("storage_gb_month", 0.0),
        )


class MonitoringArgs(Args):
    model_config = {"arbitrary_types_allowed": True}  # remote_write_url may be a StackReference's Output

    namespace: str = "monitoring"
    """Namespace of the monitoring stack and OpenCost (default: the stack's default); team
    NetworkPolicies admit scrapes from it."""
    retention: str = "15d"
    """How long Prometheus keeps samples (default: the stack's)."""
    storage_size: str = "100Gi"
    """Persistent volume of Prometheus (default: the stack's)."""
    storage_class: str | None = None
    """StorageClass of that volume; default: None, the cluster's default class."""
    grafana_admin_secret: str = "grafana-admin"
    """Secret (keys `admin-user`, `admin-password`) with Grafana's admin login: never the chart's
    well-known default password (default: the stack's default name)."""
    gpu_operator_namespace: str = "gpu-operator"
    """Where the DCGM exporter runs: the ServiceMonitor scrapes it there (default: the stack's default)."""
    alerts: AlertArgs = AlertArgs()
    """The alert rules' thresholds and what they cover (modules/observability.py)."""
    alerting: AlertingSettings = AlertingSettings()
    """Alertmanager's receivers and routes (modules/alerting.py); default: none, alerts stay in Alertmanager's UI."""
    team_namespaces: dict[str, str] = {}
    """Team name → namespace on this cluster: where a team route matches."""
    pricing: OpenCostPricing | None = None
    """None: OpenCost prices nodes from the cloud provider's pricing API."""
    mode: Literal["server", "agent"] = "server"
    """`agent` (edge sites): Prometheus only scrapes and forwards to `remote_write_url`, buffering
    in its write-ahead log while the link is down; no local rules, Alertmanager or Grafana.
    Default: `server`, the full stack."""
    remote_write_url: str | pulumi.Output[str] | None = None
    """Agent mode: where everything scraped is forwarded (the hub's remote-write receiver): the
    stack's `hubRemoteWriteUrl`, or in a fleet's site stack the hub stack's output (an Output)."""
    receive_remote_write: bool = False
    """Accept remote-write from agents (a hub that edge sites forward to); default: off, nothing
    outside the cluster writes to it."""
    external_labels: dict[str, str] = {}
    """Labels on every series this Prometheus sends or stores (for example the edge site)."""
    extra_datasources: tuple[dict, ...] = ()
    """Grafana data sources besides Prometheus (the cluster's Loki: modules/logging.py)."""
    query_clients: tuple[str, ...] = ()
    """Namespaces outside this one whose pods query Prometheus' API (KEDA's operator, reading the
    request metrics the models scale on), admitted on its port; default: none, only the namespace's
    own pods (Grafana, OpenCost) query it."""
    tls: TlsArgs | None = None
    """The cluster's issuer: Prometheus and Grafana get certificates (Secrets `<service>-tls`) and
    serve HTTPS with them; every in-cluster client verifies them against the issuer's CA. None:
    both listen on plain HTTP."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the monitoring namespace the program creates (Grafana's admin login, the receivers')."""

    @model_validator(mode="after")
    def _agent_forwards(self) -> MonitoringArgs:
        if self.mode == "agent" and not self.remote_write_url:
            raise ValueError("agent mode forwards everything it scrapes: set remote_write_url")
        return self

    @classmethod
    def of(cls, settings: MonitoringSettings, teams: Iterable[Team], gpu_operator_namespace: str, alerts: AlertArgs, **wiring: Any) -> MonitoringArgs:
        """Monitoring of a cluster with the stack's settings, routing the alerts of each of `teams`
        (the cluster's) to its receiver; `wiring`: how this cluster's Prometheus is connected
        (`pricing`, `mode`, `remote_write_url`, `receive_remote_write`, `external_labels`, `extra_datasources`,
        `query_clients`)."""
        return cls(
            namespace=settings.namespace,
            retention=settings.retention,
            storage_size=settings.storage_size,
            storage_class=settings.storage_class,
            grafana_admin_secret=settings.grafana_admin_secret,
            gpu_operator_namespace=gpu_operator_namespace,
            alerting=settings.alerting,
            team_namespaces={t.name: t.namespace for t in teams},
            alerts=alerts,
            **wiring,
        )


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
        # agents remote-write to a hub's Prometheus (9090) from outside the cluster; the query
        # clients' pods reach its API (9090).
        extra = [on_port(10250)] + ([on_port(PROMETHEUS_PORT)] if args.receive_remote_write else [])
        extra += [{**from_namespace(client), **on_port(PROMETHEUS_PORT)} for client in args.query_clients]
        # Baseline enforced (no privileged pods, no host namespaces: node-exporter is off, DCGM
        # covers the GPU nodes); restricted audited and warned, so drift shows. Prometheus keeps
        # its samples on volumes here: the namespace is protected.
        namespace = platform_namespace(
            f"{name}-ns", ns, pod_security("baseline", "restricted"), extra, self, provider, protect=True, retain_on_delete=True
        )

        # The Secrets Grafana and Alertmanager read exist before the release starts them.
        secrets = credential_secrets(name, args.credentials, self, provider, [namespace])
        # The certificates, like those Secrets, exist before the release mounts them.
        certificates = self._certificates(name, provider, args, namespace)
        tls = args.tls
        # In-cluster addresses (reach them with `kubectl port-forward`; nothing is exposed outside).
        self.prometheus_url = prometheus_url(ns, tls is not None)
        self.grafana_url = None if _is_agent(args) else f"https://{GRAFANA_SERVICE}.{ns}.svc:443" if tls else f"http://{GRAFANA_SERVICE}.{ns}.svc:80"
        self.stack = pinned_release(
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            ns,
            kube_prometheus_stack_values(args, target, self.prometheus_url),
            child(self, provider, depends_on=[namespace, *secrets, *certificates]),
            gitops=target.gitops,
        )
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
        if not _is_agent(args):
            # An agent only forwards: rules, dashboards and cost allocation live where the series
            # land, on the hub.
            self._rules_and_dashboards(name, provider, args, namespace)
            pinned_release(f"{name}-opencost", "opencost", ns, opencost_values(args, target), child(self, provider, depends_on=[self.stack]), timeout=600, gitops=target.gitops)
        self.register_outputs({"namespace": ns})

    def _certificates(self, name: str, provider: k8s.Provider, args: MonitoringArgs, namespace: pulumi.Resource) -> list[pulumi.Resource]:
        """With an issuer, the certificates Prometheus and (unless an agent) Grafana serve."""
        if args.tls is None:
            return []
        ns = args.namespace
        certificates = [service_certificate(f"{name}-prometheus-cert", PROMETHEUS_SERVICE, ns, args.tls, child(self, provider, depends_on=[namespace]), secret_name=PROMETHEUS_TLS_SECRET)]
        if not _is_agent(args):
            certificates.append(service_certificate(f"{name}-grafana-cert", GRAFANA_SERVICE, ns, args.tls, child(self, provider, depends_on=[namespace]), secret_name=GRAFANA_TLS_SECRET))
        return certificates

    def _rules_and_dashboards(self, name: str, provider: k8s.Provider, args: MonitoringArgs, namespace: pulumi.Resource) -> None:
        """The alert rules (a PrometheusRule, once its CRD exists) and Grafana's dashboards (ConfigMaps its sidecar loads)."""
        ns = args.namespace
        k8s.apiextensions.CustomResource(
            f"{name}-gpu-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": "hybridai-gpu-alerts", "namespace": ns, "labels": MANAGED_BY},
            spec={"groups": alert_groups(args.alerts)},
            opts=child(self, provider, depends_on=[self.stack]),
        )
        for board, content in dashboards(args.alerts.latency_objective_ms, args.alerts.llm_objectives).items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{board}",
                metadata={"name": f"hybridai-dashboard-{board}", "namespace": ns, "labels": {**MANAGED_BY, "grafana_dashboard": "1"}},
                data={f"{board}.json": json.dumps(content, indent=2, sort_keys=True)},
                opts=child(self, provider, depends_on=[namespace]),
            )


def prometheus_url(namespace: str, tls: bool) -> str:
    """The in-cluster address of the Prometheus of `namespace`: https where the cluster has the
    stack's issuer (`tls`), its certificate naming the service."""
    return f"{'https' if tls else 'http'}://{PROMETHEUS_SERVICE}.{namespace}.svc:{PROMETHEUS_PORT}"


def _is_agent(args: MonitoringArgs) -> bool:
    """Agent mode (an edge site): Prometheus scrapes and forwards, nothing else runs here."""
    return args.mode == "agent"


def kube_prometheus_stack_values(args: MonitoringArgs, target: Target, prometheus_url: str) -> dict:
    """The kube-prometheus-stack chart's values: Prometheus (or its agent) with its volume and
    labels, Grafana's admin login, dashboards and data sources, Alertmanager's routes; over https
    where the cluster has an issuer."""
    ns = args.namespace
    tls = args.tls
    prometheus_spec = _prometheus_spec(args, target)
    # Grafana's admin login comes from an existing Secret, never the chart's default.
    grafana: dict = {
        "admin": {"existingSecret": args.grafana_admin_secret},
        "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
    }
    datasources = list(args.extra_datasources)
    values: dict = {
        "fullnameOverride": "kps",
        # Host namespaces are allowed only in the GPU Operator's namespace.
        "nodeExporter": {"enabled": False},
        "prometheus": {"prometheusSpec": prometheus_spec},
        "grafana": grafana,
        "alertmanager": {
            "config": alertmanager_config(args.alerting, args.team_namespaces),
            # Receivers read their credentials from these Secrets' files, never from the config.
            "alertmanagerSpec": {"secrets": mounted_secrets(args.alerting)},
        },
    }
    if tls is not None:
        prometheus_spec.update(prometheus_serves_tls(prometheus_url))
        values["prometheus"]["serviceMonitor"] = scraped_over_tls(PROMETHEUS_SERVICE, ns, PROMETHEUS_TLS_SECRET)
        # The chart's own Prometheus data source can't be given a CA: ours replaces it (same name
        # and uid, which dashboards refer to); the chart's Alertmanager data source stays.
        datasources = [prometheus_datasource(prometheus_url), *(trusting_the_issuer(d) for d in datasources)]
        grafana.update(grafana_serves_tls(ns))
        grafana["sidecar"]["dashboards"].update(sidecar_reloads_over_tls(ns, "dashboards"))
        grafana["sidecar"]["datasources"] = {**sidecar_reloads_over_tls(ns, "datasources"), "defaultDatasourceEnabled": False}
    if datasources:
        grafana["additionalDataSources"] = datasources
    if _is_agent(args):
        values["prometheus"]["agentMode"] = True
        values["alertmanager"] = {"enabled": False}
        values["grafana"] = {"enabled": False}
        values["defaultRules"] = {"create": False}
    return values


def _prometheus_spec(args: MonitoringArgs, target: Target) -> dict:
    """Prometheus itself: retention and volume, every monitor and rule of the cluster, the labels
    of what it stores or sends, and remote write out (an agent) or in (a hub)."""
    storage = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": args.storage_size}}}
    if args.storage_class:
        storage["storageClassName"] = args.storage_class
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
    return prometheus_spec


def opencost_values(args: MonitoringArgs, target: Target) -> dict:
    """The OpenCost chart's values: the cluster's Prometheus as its source, custom pricing where
    there is no cloud price API, the issuer's CA where Prometheus serves https."""
    ns = args.namespace
    opencost: dict = {
        "exporter": {"defaultClusterId": target.target},
        "prometheus": {"internal": {"enabled": True, "serviceName": PROMETHEUS_SERVICE, "namespaceName": ns, "port": PROMETHEUS_PORT}},
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
    opencost_values: dict = {"opencost": opencost}
    if args.tls is not None:
        # The chart offers only `insecureSkipVerify` (kept false) and a root init container that
        # rewrites the image's trust store (`updateCaTrust`). Go programs also take extra roots
        # from `SSL_CERT_DIR`, read in addition to the system bundle (AWS's pricing API still
        # verifies against the public roots): a folder holding `ca.crt` alone.
        opencost["prometheus"]["internal"]["scheme"] = "https"
        opencost["exporter"]["extraEnv"] = {"SSL_CERT_DIR": CA_DIR}
        opencost["exporter"]["extraVolumeMounts"] = [ca_mount()]
        opencost_values["extraVolumes"] = [ca_volume(PROMETHEUS_TLS_SECRET)]
    return opencost_values


# TLS inside the cluster (docs/security.md). Every client verifies the server's certificate against
# the issuer's CA (`ca.crt` of a Certificate's Secret in this namespace), never skipping verification.


def prometheus_serves_tls(url: str) -> dict:
    """`prometheusSpec` fields: Prometheus serves HTTPS on its port with its certificate. The
    Prometheus Operator then switches the pod's probes and the config-reloader's reload URL to
    https itself, and serves the reloader's metrics port with the same web config (docs/security.md);
    alert links (`externalUrl`) name the https address."""
    secret = PROMETHEUS_TLS_SECRET
    return {
        "web": {"tlsConfig": {"cert": {"secret": {"name": secret, "key": "tls.crt"}}, "keySecret": {"name": secret, "key": "tls.key"}}},
        "externalUrl": url,
    }


def scraped_over_tls(service: str, namespace: str, secret: str) -> dict:
    """A ServiceMonitor endpoint's `scheme` and `tlsConfig` for a service of the namespace that
    serves TLS: https, verified against the issuer's CA under the service's name (Prometheus
    scrapes pod IPs, which the certificate doesn't name)."""
    return {"scheme": "https", "tlsConfig": {"ca": {"secret": {"name": secret, "key": "ca.crt"}}, "serverName": f"{service}.{namespace}.svc"}}


def ca_volume(secret: str) -> dict:
    """A pod volume projecting only `ca.crt` of a Certificate's Secret."""
    return {"name": CA_VOLUME, "secret": {"secretName": secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}}


def ca_mount() -> dict:
    return {"name": CA_VOLUME, "mountPath": CA_DIR, "readOnly": True}


def grafana_serves_tls(namespace: str) -> dict:
    """Top-level `grafana` values (the grafana subchart's, each verified in
    tests/harness/upstream.py SUBCHART_KEYS): Grafana serves HTTPS with its certificate on port 443
    of its service, holds the CA in `CA_ENV` for its data sources, is probed and scraped over https,
    and its pod resolves its own service name to itself (`sidecar_reloads_over_tls`)."""
    secret = GRAFANA_TLS_SECRET
    return {
        "grafana.ini": {
            "server": {
                "protocol": "https",
                "cert_file": f"{GRAFANA_TLS_DIR}/tls.crt",
                "cert_key": f"{GRAFANA_TLS_DIR}/tls.key",
                # Grafana reads the files at start only unless told to watch them: a renewed
                # certificate (every 60 days) is picked up within the hour, without a restart.
                "certs_watch_interval": "1h",
            }
        },
        # The certificate and key, readable by Grafana's group only (the pod's fsGroup).
        "extraSecretMounts": [
            {
                "name": "grafana-tls",
                "secretName": secret,
                "mountPath": GRAFANA_TLS_DIR,
                "readOnly": True,
                "defaultMode": 0o440,
                "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
            }
        ],
        # The CA alone, for the sidecars (a pod volume the Grafana container doesn't mount).
        "extraContainerVolumes": [ca_volume(secret)],
        "envValueFrom": {CA_ENV: {"secretKeyRef": {"name": secret, "key": "ca.crt"}}},
        # The kubelet probes over https (it doesn't verify probe certificates).
        "readinessProbe": {"httpGet": {"scheme": "HTTPS"}},
        "livenessProbe": {"httpGet": {"scheme": "HTTPS"}},
        "service": {"port": 443},
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": [f"{GRAFANA_SERVICE}.{namespace}.svc"]}],
        "serviceMonitor": scraped_over_tls(GRAFANA_SERVICE, namespace, secret),
    }


def sidecar_reloads_over_tls(namespace: str, kind: str) -> dict:
    """A Grafana sidecar's values (`dashboards`, `datasources`): it reloads Grafana in its own pod
    by the service's name, which the pod's /etc/hosts points at the loopback address
    (`hostAliases`). The certificate names the service, not localhost, so the sidecar verifies it
    like any other client, against the CA (`REQUESTS_CA_BUNDLE`: the sidecar calls with requests)."""
    return {
        "reloadURL": f"https://{GRAFANA_SERVICE}.{namespace}.svc:{GRAFANA_PORT}/api/admin/provisioning/{kind}/reload",
        "env": {"REQUESTS_CA_BUNDLE": f"{CA_DIR}/ca.crt"},
        "extraMounts": [ca_mount()],
    }


def prometheus_datasource(url: str) -> dict:
    """Grafana's Prometheus data source over https, as the chart's default one is (name, uid
    `prometheus` the dashboards use, default, POST queries, the 30s scrape interval) plus the CA."""
    datasource = {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": "prometheus",
        "access": "proxy",
        "url": f"{url}/",
        "isDefault": True,
        "jsonData": {"httpMethod": "POST", "timeInterval": "30s"},
    }
    return trusting_the_issuer(datasource)


def in_cluster_https(url: str) -> bool:
    """An https URL of a Service (`<service>.<namespace>.svc[.<cluster domain>]`): a name the
    issuer certifies. Other https data sources keep verifying against Grafana's own trust store."""
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    return parts.scheme == "https" and len(labels) >= 3 and labels[2] == "svc"


def trusting_the_issuer(datasource: dict) -> dict:
    """A data source of an in-cluster https service, verified against the issuer's CA (from
    Grafana's environment: provisioning interpolates `$VAR`); any other is returned unchanged."""
    if not in_cluster_https(datasource.get("url", "")):
        return datasource
    return {
        **datasource,
        "jsonData": {**datasource.get("jsonData", {}), "tlsAuthWithCACert": True},
        "secureJsonData": {**datasource.get("secureJsonData", {}), "tlsCACert": f"${CA_ENV}"},
    }
