"""Monitoring: the chart values, scrape config, rules, dashboards and OpenCost pricing it registers."""
from __future__ import annotations

import json

import pytest

from hybridai import catalog
from hybridai.modules.monitoring import Monitoring, MonitoringArgs, OpenCostPricing
from hybridai.modules.observability import AlertArgs
from hybridai.modules.target import Target, TargetArgs
from tests.helpers import named, of_kind, release, run_module

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
