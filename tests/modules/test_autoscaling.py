"""Autoscaling: request-metric triggers from the catalog, vLLM's queue and KV-cache triggers, and the
predictor fields of KServe's KEDA integration."""
from __future__ import annotations

import typing

import promql_parser
import pytest
from pydantic import ValidationError

from hybridai import catalog
from hybridai.config.workloads import ServedModel
from hybridai.modules.autoscaling import AUTOSCALER_CLASS, PrometheusTrigger, ScalingArgs, kserve_keda, request_triggers, vllm_triggers
from tests.harness.kserve_keda import scaled_object
from tests.harness.upstream import validate_custom_resource

PROMETHEUS = "https://kps-prometheus.monitoring.svc:9090"
PODS = 'job="kserve-predictors", namespace="fraud", pod=~"fraud-score-predictor-.+"'


@pytest.mark.parametrize(
    ("model_format", "requests", "in_flight"),
    [
        # KServe's Python server: the predict histogram's count and its sum in seconds
        ("xgboost", f"sum(rate(request_predict_seconds_count{{{PODS}}}[2m]))", f"sum(rate(request_predict_seconds_sum{{{PODS}}}[2m]))"),
        # Triton: successful requests, and their duration in microseconds
        ("onnx", f"sum(rate(nv_inference_request_success{{{PODS}}}[2m]))", f"sum(rate(nv_inference_request_duration_us{{{PODS}}}[2m])) * 1e-06"),
        # TorchServe: its frontend counters, latency in microseconds
        ("pytorch", f"sum(rate(ts_inference_requests_total{{{PODS}}}[2m]))", f"sum(rate(ts_inference_latency_microseconds{{{PODS}}}[2m])) * 1e-06"),
    ],
)
def test_a_model_scales_on_its_runtimes_request_rate_and_requests_in_flight(model_format: str, requests: str, in_flight: str) -> None:
    # GIVEN a replica planned for 175 requests per second and 8.75 in flight (175 × its 50 ms objective)
    triggers = request_triggers("fraud", "fraud-score", catalog.request_metrics(model_format), 175, 8.75)
    # THEN one trigger holds each replica to that rate, the other to those requests in flight
    assert [(t.name, t.query, t.threshold) for t in triggers] == [("requests", requests, "175"), ("in-flight", in_flight, "8.75")]
    for t in triggers:
        promql_parser.parse(t.query)


def test_every_catalog_model_format_has_a_runtime_and_its_request_metrics() -> None:
    # GIVEN every format a catalog model may name
    formats = set(typing.get_args(ServedModel.model_fields["model_format"].annotation))
    # THEN serving-runtimes.yaml says which runtime KServe picks for it and what that runtime exports
    assert set(catalog.serving_runtimes().formats) == formats
    assert {catalog.request_metrics(f).requests for f in formats} == {"request_predict_seconds_count", "nv_inference_request_success", "ts_inference_requests_total"}


def test_thresholds_are_plain_decimals_to_kedas_precision() -> None:
    # GIVEN a planned rate with binary noise (40 × 0.7) and one of three decimals
    trigger = PrometheusTrigger(name="requests", query="sum(x)", per_replica=40 * 0.7)
    assert trigger.threshold == "28"
    assert PrometheusTrigger(name="requests", query="sum(x)", per_replica=0.0015).threshold == "0.002"
    assert PrometheusTrigger(name="requests", query="sum(x)", per_replica=1200).threshold == "1200"


def test_a_threshold_keda_would_round_to_zero_is_refused() -> None:
    # GIVEN a target below KEDA's three decimals (the HPA would get 0)
    with pytest.raises(ValidationError, match="below KEDA's precision"):
        PrometheusTrigger(name="in-flight", query="sum(x)", per_replica=0.0004)


def test_scaling_needs_a_trigger_and_sane_bounds() -> None:
    trigger = PrometheusTrigger(name="requests", query="sum(x)", per_replica=1)
    with pytest.raises(ValidationError, match="at least one trigger"):
        ScalingArgs(min_replicas=1, max_replicas=2, triggers=())
    with pytest.raises(ValidationError, match="need 1 ≤ min ≤ max"):
        ScalingArgs(min_replicas=3, max_replicas=2, triggers=(trigger,))
    with pytest.raises(ValidationError, match="need 1 ≤ min ≤ max"):
        ScalingArgs(min_replicas=0, max_replicas=2, triggers=(trigger,))


def test_vllm_scales_on_its_queue_and_kv_cache() -> None:
    # GIVEN an LLM whose replica should have at most 4 requests waiting and a KV cache 80 % full
    waiting, kv_cache = vllm_triggers("docs", "summarizer", 4, 0.8)
    pods = 'job="kserve-predictors", namespace="docs", pod=~"summarizer-predictor-.+"'
    # THEN it scales on vLLM's own gauges (the current names), summed over its pods
    assert (waiting.query, waiting.threshold) == (f"sum(vllm:num_requests_waiting{{{pods}}})", "4")
    assert (kv_cache.query, kv_cache.threshold) == (f"sum(vllm:kv_cache_usage_perc{{{pods}}})", "0.8")
    for t in (waiting, kv_cache):
        promql_parser.parse(t.query)
    # AND a KV-cache target outside (0, 1] is refused
    with pytest.raises(ValueError, match="fraction of the cache"):
        vllm_triggers("docs", "summarizer", 4, 80)


def test_a_vllm_inference_service_with_these_triggers_is_valid_for_kserve_and_keda() -> None:
    # GIVEN a vLLM InferenceService (kserve-vllmserver) scaled 1..3 on its queue and KV cache
    scaling = ScalingArgs(min_replicas=1, max_replicas=3, triggers=vllm_triggers("docs", "summarizer", 4, 0.8))
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "summarizer", "namespace": "docs", "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment", **AUTOSCALER_CLASS}},
        "spec": {"predictor": {**kserve_keda(scaling, PROMETHEUS), "model": {"modelFormat": {"name": "vLLM"}, "storageUri": "oci://registry.example/llm:1"}}},
    }
    # THEN KServe's CRD accepts it, and the ScaledObject KServe makes of it KEDA's
    assert validate_custom_resource(isvc) == []
    obj = scaled_object(isvc, {"scaleUpStabilizationWindowSeconds": "0", "scaleDownStabilizationWindowSeconds": "300"})
    assert validate_custom_resource(obj) == []
    assert [(t["metadata"]["query"], t["metadata"]["threshold"]) for t in obj["spec"]["triggers"]] == [(t.query, t.threshold) for t in scaling.triggers]
    assert (obj["spec"]["minReplicaCount"], obj["spec"]["maxReplicaCount"]) == (1, 3)


def test_kserve_keda_writes_external_prometheus_metrics_with_their_threshold() -> None:
    scaling = ScalingArgs(min_replicas=2, max_replicas=6, triggers=(PrometheusTrigger(name="requests", query="sum(rate(x[2m]))", per_replica=175),))
    assert kserve_keda(scaling, PROMETHEUS) == {
        "minReplicas": 2,
        "maxReplicas": 6,
        "autoScaling": {
            "metrics": [
                {
                    "type": "External",
                    "external": {"metric": {"backend": "prometheus", "serverAddress": PROMETHEUS, "query": "sum(rate(x[2m]))"}, "target": {"type": "Value", "value": "175"}},
                }
            ]
        },
    }
