"""The workload-variant-autoscaler: pinned at the release KServe pins, the controller only, in its own
restricted namespace, watching every namespace, reading Prometheus, its per-LLM thresholds from the
catalog, reaching nothing else; only where LLMInferenceServices are served."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridai import catalog
from hybridai.config.workloads import ServedModel
from hybridai.modules.target import Target, TargetArgs
from hybridai.modules.variant_autoscaler import VariantAutoscaler, VariantAutoscalerArgs, VariantThresholds, controller_egress, wva_values
from tests.conftest import planned
from tests.harness.upstream import unknown_value_keys, upstream, values_defaults
from tests.helpers import named, of_type, release, run_module

CHART = "oci://ghcr.io/llm-d/workload-variant-autoscaler"


def llm(name: str, team: str, concurrent: int) -> ServedModel:
    return ServedModel.model_validate(
        {"name": name, "team": team, "storageUri": "oci://r/m:1", "peakRps": 1, "llm": {
            "architecture": "llama-3.1-8b-instruct", "dtype": "bf16", "contextLength": 4096, "concurrentSequences": concurrent,
            "outputTokensPerRequest": 100, "outputTokensPerSecond": 500, "ttftP95Ms": 1000, "tpotP95Ms": 50}}
    )


ARGS = VariantAutoscalerArgs.of([llm("notes", "clinical", 8), llm("review", "legal", 16)], {"clinical": "clinical-ai", "legal": "legal"}, "monitoring")


def build(args: VariantAutoscalerArgs) -> list:
    def program() -> None:
        VariantAutoscaler(Target("t", "dc1", TargetArgs(placement="onprem", context="dc1")), args)

    return run_module(program)


def test_wva_is_pinned_at_kserves_release_and_installed_in_a_restricted_namespace() -> None:
    # GIVEN the autoscaler of a cluster serving two LLMs
    resources = build(ARGS)
    # THEN the chart of versions.yaml (the release KServe v0.20.0 pins), from its OCI registry, with its CRD
    wva = release(resources, CHART)
    pin = catalog.chart("workload-variant-autoscaler")
    assert (wva.inputs["version"], wva.inputs["namespace"], pin.upstream) == ("0.7.0", "wva-system", "workload-variant-autoscaler/v0.7.0")
    assert "skipCrds" not in wva.inputs
    # AND its controller image at that release (the repository's values name an older one), pulled once
    values = wva.inputs["values"]
    assert values["wva"]["image"] == {"tag": "v0.7.0"} and values["wva"]["imagePullPolicy"] == "IfNotPresent"
    # AND its namespace enforces Pod Security restricted (the chart's controller pod: non-root, RuntimeDefault, no capabilities)
    labels = named(resources, "Namespace", "wva-system").inputs["metadata"]["labels"]
    assert {labels[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "audit", "warn")} == {"restricted"}


def test_only_the_controller_is_installed_watching_every_namespace() -> None:
    values = wva_values(ARGS)
    # THEN the chart's example VariantAutoscaling, HPA and vLLM emulator are off: KServe writes each LLM's
    assert (values["va"], values["hpa"], values["vllmService"]) == ({"enabled": False},) * 3
    assert values["controller"] == {"enabled": True}
    # AND it watches every namespace (KServe writes the VariantAutoscalings in the teams'), never scales to zero,
    # and watches the InferencePool group KServe writes
    assert (values["wva"]["namespaceScoped"], values["wva"]["scaleToZero"], values["wva"]["poolGroup"]) == (False, False, "inference.networking.k8s.io")


def test_wva_reads_the_clusters_prometheus_and_its_metrics_are_scraped_over_the_namespace_policy() -> None:
    values = wva_values(ARGS)
    # THEN it queries the monitoring namespace's Prometheus over https; verification is off, stated, not defaulted
    assert values["wva"]["prometheus"] == {"baseURL": "https://kps-prometheus.monitoring.svc:9090", "tls": {"insecureSkipVerify": True}}
    # AND its metrics (wva_desired_replicas) are served on 8443, which only Prometheus' namespace reaches
    assert values["wva"]["metrics"] == {"enabled": True, "port": 8443, "secure": False}
    resources = build(ARGS)
    ingress = named(resources, "NetworkPolicy", "wva-system-ingress").inputs["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 8443}]} in ingress


def test_the_controller_reaches_only_prometheus_the_api_server_and_dns() -> None:
    # GIVEN the egress of the controller, whose Prometheus queries carry its token over unverified TLS
    egress = controller_egress("monitoring")
    # THEN every pod of its namespace is held to: Prometheus' namespace on its port, the API server's ports, DNS in kube-system
    assert (egress["podSelector"], egress["policyTypes"]) == ({}, ["Egress"])
    assert egress["egress"] == [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 9090}]},
        {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
    ]
    resources = build(ARGS)
    assert named(resources, "NetworkPolicy", "wva-egress").inputs["spec"] == egress


def test_each_llms_thresholds_come_from_its_catalog_batch() -> None:
    # GIVEN notes (8 concurrent sequences) and review (16)
    overrides = wva_values(ARGS)["wva"]["capacityScaling"]["overrides"]
    # THEN each is an override keyed by its namespace and model id (the LLMInferenceService's model name):
    # saturated at vLLM's preemption point or two batches waiting, scaled up past 80 % KV cache or one batch waiting
    assert overrides == {
        "clinical-ai-notes": {"modelID": "notes", "namespace": "clinical-ai", "kvCacheThreshold": 0.95, "kvSpareTrigger": 0.15, "queueLengthThreshold": 16, "queueSpareTrigger": 8},
        "legal-review": {"modelID": "review", "namespace": "legal", "kvCacheThreshold": 0.95, "kvSpareTrigger": 0.15, "queueLengthThreshold": 32, "queueSpareTrigger": 16},
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"kv_cache": 1.2},  # beyond the cache
        {"kv_spare": 0.99},  # a spare trigger above the saturation threshold: contradictory, WVA refuses it
        {"queue_length": 4, "queue_spare": 8},
        {"queue_spare": 0},
    ],
)
def test_thresholds_the_controller_would_refuse_are_refused_here(fields: dict) -> None:
    with pytest.raises(ValidationError):
        VariantThresholds(**{"model": "m", "namespace": "n", "queue_length": 16, "queue_spare": 8, **fields})


def test_its_values_exist_in_the_pinned_chart() -> None:
    # GIVEN the chart's default values at the pinned release WHEN the program's are checked key by key THEN none is unknown
    upstream()
    defaults = values_defaults("workload-variant-autoscaler/v0.7.0", "workload-variant-autoscaler")
    assert list(unknown_value_keys(wva_values(ARGS), defaults)) == []


def test_wva_runs_where_llm_inference_services_are_served_only() -> None:
    # GIVEN finance-prod (dc1 serves document-review with llm-d) and healthcare-dev (k3s: vLLM InferenceServices)
    prod, _ = planned("finance-prod")
    dev, _ = planned("healthcare-dev")
    # THEN the one has the autoscaler with its LLM's thresholds, the other none
    values = release(prod.resources, CHART).inputs["values"]
    assert list(values["wva"]["capacityScaling"]["overrides"]) == ["document-review-document-review"]
    assert not [r for r in of_type(dev.resources, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == CHART]
