"""Monitoring: the chart values, scrape config, rules, dashboards, OpenCost pricing it registers, and TLS inside the cluster."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from hybridai import catalog
from hybridai.config.components import Team
from hybridai.config.operations import MonitoringSettings
from hybridai.cost.onprem import gpu_month_usd
from hybridai.modules.certificates import TlsArgs
from hybridai.modules.monitoring import Monitoring, MonitoringArgs, OpenCostPricing, in_cluster_https
from hybridai.modules.observability import AlertArgs
from hybridai.modules.target import Target, TargetArgs
from tests.harness.upstream import upstream, validate_custom_resource
from tests.helpers import named, of_kind, prepared, release, run_module

PRICING = OpenCostPricing(cpu_core_hour=0.031, ram_gb_hour=0.004, gpu_hour=0.9491, storage_gb_month=0.04)


def monitoring(args: MonitoringArgs):
    return run_module(lambda: Monitoring(Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1")), args))


@pytest.fixture(scope="module")
def resources():
    return monitoring(MonitoringArgs(retention="30d", storage_size="200Gi", storage_class="fast-ssd", alerts=AlertArgs(latency_objective_ms=50), pricing=PRICING))


def test_pinned_stack_with_retention_storage_and_cluster_wide_selectors(resources) -> None:
    kps = release(resources, "kube-prometheus-stack")
    assert (kps.inputs["version"], kps.inputs["namespace"]) == (catalog.chart("kube-prometheus-stack").version, "monitoring")
    spec = kps.inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "200Gi"}}, "storageClassName": "fast-ssd"}
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["externalLabels"] == {"cluster": "dc1", "placement": "onprem"}
    assert kps.inputs["values"]["nodeExporter"] == {"enabled": False}
    assert kps.inputs["values"]["grafana"]["admin"] == {"existingSecret": "grafana-admin"}


def test_namespace_enforces_baseline_and_keeps_its_volumes(resources) -> None:
    ns = named(resources, "Namespace", "monitoring")
    labels = ns.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert ns.protect and ns.retain_on_delete


def test_dcgm_is_scraped_with_the_workloads_labels_after_the_crds_exist(resources) -> None:
    monitor = named(resources, "ServiceMonitor", "nvidia-dcgm-exporter")
    spec = monitor.inputs["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "nvidia-dcgm-exporter"}}
    assert spec["namespaceSelector"] == {"matchNames": ["gpu-operator"]}
    assert spec["endpoints"] == [{"port": "gpu-metrics", "interval": "15s", "honorLabels": True}]
    assert release(resources, "kube-prometheus-stack").urn in monitor.dependencies


def test_rules_carry_the_stack_objective(resources) -> None:
    rules = named(resources, "PrometheusRule", "hybridai-gpu-alerts").inputs["spec"]["groups"]
    latency = next(r for g in rules for r in g["rules"] if r["alert"] == "InferenceLatencyAboveObjective")
    assert latency["expr"].endswith("> 0.05")


def test_dashboards_are_provisioned_from_labelled_config_maps(resources) -> None:
    boards = [r for r in of_kind(resources, "ConfigMap") if r.inputs["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert {r.inputs["metadata"]["name"] for r in boards} == {"hybridai-dashboard-gpu-fleet", "hybridai-dashboard-inference", "hybridai-dashboard-gpu-quotas"}
    for board in boards:
        [content] = board.inputs["data"].values()
        assert json.loads(content)["panels"]


def test_opencost_reads_this_prometheus_and_prices_on_prem_nodes(resources) -> None:
    values = release(resources, "opencost").inputs["values"]["opencost"]
    assert values["prometheus"]["internal"] == {"enabled": True, "serviceName": "kps-prometheus", "namespaceName": "monitoring", "port": 9090}
    assert values["exporter"]["defaultClusterId"] == "dc1"
    assert values["customPricing"]["enabled"] is True
    assert values["customPricing"]["costModel"]["GPU"] == 0.9491


def test_cloud_clusters_use_the_provider_price_api() -> None:
    values = release(monitoring(MonitoringArgs()), "opencost").inputs["values"]["opencost"]
    assert "customPricing" not in values


def test_agent_mode_forwards_with_site_labels_and_nothing_else() -> None:
    # GIVEN an edge site whose metrics go to the plant hub
    resources = monitoring(MonitoringArgs(mode="agent", remote_write_url="https://hub.plant.example/api/v1/write", external_labels={"site": "line-3"}))
    values = release(resources, "kube-prometheus-stack").inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    # THEN Prometheus runs as an agent that remote-writes every series labelled with the site
    assert values["prometheus"]["agentMode"] is True
    assert spec["remoteWrite"] == [{"url": "https://hub.plant.example/api/v1/write"}]
    assert spec["externalLabels"]["site"] == "line-3"
    assert values["alertmanager"] == {"enabled": False} and values["grafana"] == {"enabled": False}
    # AND DCGM is still scraped; rules, dashboards and OpenCost live on the hub
    assert of_kind(resources, "ServiceMonitor") and not of_kind(resources, "PrometheusRule")
    assert not [r for r in of_kind(resources, "ConfigMap")]
    assert [r.inputs["chart"] for r in resources if r.type == "kubernetes:helm.sh/v3:Release"] == ["kube-prometheus-stack"]


def test_hub_receives_remote_write() -> None:
    values = release(monitoring(MonitoringArgs(receive_remote_write=True)), "kube-prometheus-stack").inputs["values"]
    assert values["prometheus"]["prometheusSpec"]["enableRemoteWriteReceiver"] is True


def test_agent_without_a_destination_is_refused() -> None:
    with pytest.raises(ValueError, match="remote_write_url"):
        MonitoringArgs(mode="agent")


# TLS inside the cluster: Prometheus and Grafana serve HTTPS, every in-cluster client verifies them.

LOKI = {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": "https://loki.logging.svc:3100", "editable": False}
EXTERNAL = {"name": "Fleet", "type": "prometheus", "uid": "fleet", "access": "proxy", "url": "https://metrics.example.com/"}


def monitored(args: MonitoringArgs) -> tuple[Monitoring, list]:
    built: list[Monitoring] = []
    resources = run_module(lambda: built.append(Monitoring(Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1")), args)))
    return built[0], resources


@pytest.fixture(scope="module")
def secured():
    return monitored(MonitoringArgs(tls=TlsArgs(issuer="hybridai-ca"), extra_datasources=(LOKI, EXTERNAL)))


def values_of(resources: list, chart: str) -> dict:
    return release(resources, chart).inputs["values"]


def host(url: str) -> str:
    return urlsplit(url).hostname


def test_prometheus_serves_https_with_its_certificate(secured) -> None:
    # GIVEN a cluster with the stack's issuer
    module, resources = secured
    spec = values_of(resources, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    # THEN Prometheus serves its port over TLS with the key pair of its Certificate's Secret
    assert spec["web"] == {"tlsConfig": {"cert": {"secret": {"name": "kps-prometheus-tls", "key": "tls.crt"}}, "keySecret": {"name": "kps-prometheus-tls", "key": "tls.key"}}}
    certificate = named(resources, "Certificate", "kps-prometheus-tls").inputs["spec"]
    assert certificate["secretName"] == "kps-prometheus-tls" and certificate["issuerRef"]["name"] == "hybridai-ca"
    # AND its address (stack output, alert links) is https, by a name the certificate holds
    assert module.prometheus_url == spec["externalUrl"] == "https://kps-prometheus.monitoring.svc:9090"
    assert host(module.prometheus_url) in certificate["dnsNames"]
    # AND the release starts once both Certificates exist (their Secrets are mounted)
    kps = release(resources, "kube-prometheus-stack")
    assert {named(resources, "Certificate", s).urn for s in ("kps-prometheus-tls", "kube-prometheus-stack-grafana-tls")} <= set(kps.dependencies)


def test_prometheus_and_grafana_are_scraped_over_verified_https(secured) -> None:
    # GIVEN the ServiceMonitors the chart renders for Prometheus itself and for Grafana
    _, resources = secured
    values = values_of(resources, "kube-prometheus-stack")
    for service, monitor in (("kps-prometheus", values["prometheus"]["serviceMonitor"]), ("kube-prometheus-stack-grafana", values["grafana"]["serviceMonitor"])):
        # THEN each scrapes https, verifying the certificate against the issuer's CA under the
        # service's name (targets are pod IPs), and never skips verification
        secret = f"{service}-tls"
        assert monitor == {"scheme": "https", "tlsConfig": {"ca": {"secret": {"name": secret, "key": "ca.crt"}}, "serverName": f"{service}.monitoring.svc"}}
        assert monitor["tlsConfig"]["serverName"] in named(resources, "Certificate", secret).inputs["spec"]["dnsNames"]


def test_the_scrape_settings_are_valid_service_monitor_endpoints(secured) -> None:
    # GIVEN the endpoints as kube-prometheus-stack's and grafana's ServiceMonitor templates render
    # them from these values (the port, path, scheme and tlsConfig as given)
    upstream()
    _, resources = secured
    values = values_of(resources, "kube-prometheus-stack")
    prometheus = values["prometheus"]["serviceMonitor"]
    grafana = values["grafana"]["serviceMonitor"]
    endpoints = [
        {"port": "http-web", "path": "/metrics", **prometheus},
        {"port": "reloader-web", "path": "/metrics", **prometheus},
        {"port": "http-web", "path": "/metrics", "honorLabels": True, **grafana},
    ]
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "kps-prometheus", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app": "kube-prometheus-stack-prometheus"}}, "endpoints": endpoints},
    }
    # WHEN validated against the pinned ServiceMonitor CRD THEN it holds (a typo in tlsConfig wouldn't)
    assert validate_custom_resource(monitor) == []
    endpoints[0]["tlsConfig"] = {**prometheus["tlsConfig"], "serverNmae": "x"}
    assert validate_custom_resource(monitor) != []


def test_grafana_serves_https_with_its_certificate(secured) -> None:
    module, resources = secured
    grafana = values_of(resources, "kube-prometheus-stack")["grafana"]
    # THEN Grafana serves TLS from its Certificate's key pair, mounted as a volume (renewals reach
    # it) readable by its group only, and re-reads it when renewed
    assert grafana["grafana.ini"] == {"server": {"protocol": "https", "cert_file": "/etc/grafana/tls/tls.crt", "cert_key": "/etc/grafana/tls/tls.key", "certs_watch_interval": "1h"}}
    [mount] = grafana["extraSecretMounts"]
    assert mount == {
        "name": "grafana-tls",
        "secretName": "kube-prometheus-stack-grafana-tls",
        "mountPath": "/etc/grafana/tls",
        "readOnly": True,
        "defaultMode": 0o440,
        "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
    }
    # AND it is probed over https, served on 443, and its address is https by a name its certificate holds
    assert grafana["readinessProbe"] == grafana["livenessProbe"] == {"httpGet": {"scheme": "HTTPS"}}
    assert grafana["service"] == {"port": 443}
    assert module.grafana_url == "https://kube-prometheus-stack-grafana.monitoring.svc:443"
    assert host(module.grafana_url) in named(resources, "Certificate", "kube-prometheus-stack-grafana-tls").inputs["spec"]["dnsNames"]


def test_grafana_sidecars_reload_it_over_verified_https(secured) -> None:
    _, resources = secured
    grafana = values_of(resources, "kube-prometheus-stack")["grafana"]
    names = named(resources, "Certificate", "kube-prometheus-stack-grafana-tls").inputs["spec"]["dnsNames"]
    [alias] = grafana["hostAliases"]
    [ca_volume] = grafana["extraContainerVolumes"]
    # GIVEN the pod's volume holding the CA alone, never the key
    assert ca_volume == {"name": "hybridai-ca", "secret": {"secretName": "kube-prometheus-stack-grafana-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    for kind in ("dashboards", "datasources"):
        sidecar = grafana["sidecar"][kind]
        url = urlsplit(sidecar["reloadURL"])
        # THEN each sidecar calls Grafana's container port over https by a name of its certificate,
        # which the pod resolves to itself
        assert (url.scheme, url.port, url.path) == ("https", 3000, f"/api/admin/provisioning/{kind}/reload")
        assert url.hostname in names and alias == {"ip": "127.0.0.1", "hostnames": [url.hostname]}
        # AND verifies it against the CA mounted from that volume
        [mount] = sidecar["extraMounts"]
        assert mount == {"name": "hybridai-ca", "mountPath": "/etc/hybridai/ca", "readOnly": True}
        assert sidecar["env"] == {"REQUESTS_CA_BUNDLE": "/etc/hybridai/ca/ca.crt"}
    # AND the dashboards sidecar keeps its label selection
    assert grafana["sidecar"]["dashboards"]["label"] == "grafana_dashboard"


def test_grafana_data_sources_verify_in_cluster_services_against_the_issuer(secured) -> None:
    module, resources = secured
    grafana = values_of(resources, "kube-prometheus-stack")["grafana"]
    # GIVEN the CA in Grafana's environment, from its Certificate's Secret
    assert grafana["envValueFrom"] == {"HYBRIDAI_TLS_CA": {"secretKeyRef": {"name": "kube-prometheus-stack-grafana-tls", "key": "ca.crt"}}}
    prometheus, loki, external = grafana["additionalDataSources"]
    # THEN the chart's Prometheus data source is replaced by one over https with the CA, keeping
    # what dashboards rely on (name, uid, default); the chart's Alertmanager one is left as it is
    assert grafana["sidecar"]["datasources"]["defaultDatasourceEnabled"] is False
    assert "alertmanager" not in grafana["sidecar"]["datasources"]
    assert prometheus == {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": "prometheus",
        "access": "proxy",
        "url": f"{module.prometheus_url}/",
        "isDefault": True,
        "jsonData": {"httpMethod": "POST", "timeInterval": "30s", "tlsAuthWithCACert": True},
        "secureJsonData": {"tlsCACert": "$HYBRIDAI_TLS_CA"},
    }
    # AND the cluster's Loki, given only its https URL, gets the CA the same way
    assert loki == {**LOKI, "jsonData": {"tlsAuthWithCACert": True}, "secureJsonData": {"tlsCACert": "$HYBRIDAI_TLS_CA"}}
    # AND a data source outside the cluster keeps Grafana's own trust store
    assert external == EXTERNAL


@pytest.mark.parametrize(
    ("url", "in_cluster"),
    [
        ("https://loki.logging.svc:3100", True),
        ("https://loki.logging.svc.cluster.local:3100/", True),
        ("http://loki.logging.svc:3100", False),
        ("https://loki.logging:3100", False),
        ("https://svc.example.com", False),
        ("https://logs.svc.example.com", False),
    ],
)
def test_only_https_service_names_are_in_cluster(url: str, in_cluster: bool) -> None:
    assert in_cluster_https(url) is in_cluster


def test_opencost_queries_prometheus_over_verified_https(secured) -> None:
    module, resources = secured
    values = values_of(resources, "opencost")
    exporter = values["opencost"]["exporter"]
    # THEN OpenCost's in-cluster Prometheus endpoint is https, by a name of Prometheus' certificate
    internal = values["opencost"]["prometheus"]["internal"]
    assert internal["scheme"] == "https"
    assert f"{internal['serviceName']}.{internal['namespaceName']}.svc.cluster.local" in named(resources, "Certificate", "kps-prometheus-tls").inputs["spec"]["dnsNames"]
    # AND verification stays on (the chart's insecureSkipVerify is left at its false default)
    assert "insecureSkipVerify" not in values["opencost"]["prometheus"]
    # AND the CA reaches it as an extra Go root folder holding ca.crt of Prometheus' Secret alone
    [volume] = values["extraVolumes"]
    assert volume == {"name": "hybridai-ca", "secret": {"secretName": "kps-prometheus-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    assert exporter["extraVolumeMounts"] == [{"name": "hybridai-ca", "mountPath": "/etc/hybridai/ca", "readOnly": True}]
    assert exporter["extraEnv"] == {"SSL_CERT_DIR": "/etc/hybridai/ca"}


def test_without_tls_everything_stays_plain_http() -> None:
    # GIVEN a cluster without an issuer (a dev stack serving no models)
    module, resources = monitored(MonitoringArgs(extra_datasources=({**LOKI, "url": "http://loki.logging.svc:3100"},)))
    values = values_of(resources, "kube-prometheus-stack")
    # THEN no certificate, no web TLS, the chart's own data sources and scrape settings
    assert of_kind(resources, "Certificate") == []
    assert "web" not in values["prometheus"]["prometheusSpec"] and "externalUrl" not in values["prometheus"]["prometheusSpec"]
    assert "serviceMonitor" not in values["prometheus"]
    assert values["grafana"] == {
        "admin": {"existingSecret": "grafana-admin"},
        "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
        "additionalDataSources": [{**LOKI, "url": "http://loki.logging.svc:3100"}],
    }
    assert values_of(resources, "opencost") == {
        "opencost": {
            "exporter": {"defaultClusterId": "dc1"},
            "prometheus": {"internal": {"enabled": True, "serviceName": "kps-prometheus", "namespaceName": "monitoring", "port": 9090}},
        }
    }
    assert (module.prometheus_url, module.grafana_url) == ("http://kps-prometheus.monitoring.svc:9090", "http://kube-prometheus-stack-grafana.monitoring.svc:80")


def test_an_agent_with_an_issuer_serves_https_and_has_no_grafana() -> None:
    module, resources = monitored(MonitoringArgs(mode="agent", remote_write_url="https://hub.example/api/v1/write", tls=TlsArgs(issuer="hybridai-ca")))
    values = values_of(resources, "kube-prometheus-stack")
    assert values["prometheus"]["prometheusSpec"]["web"]["tlsConfig"]["keySecret"] == {"name": "kps-prometheus-tls", "key": "tls.key"}
    assert values["prometheus"]["serviceMonitor"]["scheme"] == "https"
    assert values["grafana"] == {"enabled": False}
    assert [r.inputs["metadata"]["name"] for r in of_kind(resources, "Certificate")] == ["kps-prometheus-tls"]
    assert (module.prometheus_url, module.grafana_url) == ("https://kps-prometheus.monitoring.svc:9090", None)


def test_opencost_prices_a_clusters_gpus_at_their_average_amortized_cost_per_hour() -> None:
    # GIVEN healthcare-prod's cluster: 16 A100s and 8 H100s, priced by the stack's cost assumptions
    spec, _ = prepared("healthcare-prod")
    pricing = OpenCostPricing.of(spec.onprem, spec.cost)
    # THEN the GPU hour is their monthly cost averaged over the cluster's GPUs and the month's hours
    a100, h100 = gpu_month_usd("A100-80GB", spec.cost), gpu_month_usd("H100-80GB", spec.cost)
    gpus = {p.gpu_model: p.gpu_count for p in spec.onprem.gpu_pools}
    assert pricing.gpu_hour == pytest.approx((a100 * gpus["A100-80GB"] + h100 * gpus["H100-80GB"]) / sum(gpus.values()) / 730)
    # AND CPU, memory and storage at the on-prem price list's
    items = catalog.prices("onprem").items
    assert (pricing.cpu_core_hour, pricing.ram_gb_hour, pricing.storage_gb_month) == (items["cpu_core_hour"], items["ram_gb_hour"], items["storage_gb_month"])


def test_a_clusters_monitoring_has_the_stacks_settings_and_routes_its_teams() -> None:
    # GIVEN a stack keeping 30 days in a 200Gi volume WHEN a cluster's monitoring args are made as an edge agent
    settings = MonitoringSettings.model_validate({"namespace": "observability", "retention": "30d", "storageSize": "200Gi", "grafanaAdminSecret": "grafana-login"})
    teams = [Team.model_validate({"name": "vision", "namespace": "vision-ns", "group": "oidc:vision"})]
    args = MonitoringArgs.of(settings, teams, "gpu-system", AlertArgs(), mode="agent", remote_write_url="https://hub.example/api/v1/write")
    # THEN the stack's settings apply, team routes match the team's namespace, the wiring is the cluster's
    assert (args.namespace, args.retention, args.storage_size, args.grafana_admin_secret, args.gpu_operator_namespace) == ("observability", "30d", "200Gi", "grafana-login", "gpu-system")
    assert args.team_namespaces == {"vision": "vision-ns"}
    assert (args.mode, args.remote_write_url, args.pricing) == ("agent", "https://hub.example/api/v1/write", None)
