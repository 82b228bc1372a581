"""Serving: InferenceServices sized by the planner, hardened, spread, budgeted, logged."""
from __future__ import annotations

import copy
import re

import pytest

from hybridai.config import StackConfigError
from hybridai.config.serving import ServingSettings
from hybridai.config.workloads import Canary, ServedModel
from hybridai.modules.serving import ServedModelArgs, ServingArgs
from hybridai.program import prepare
from tests.conftest import planned
from tests.helpers import named, of_kind, prepared, release, stack_values


def isvc(stack: str, name: str) -> dict:
    plan, _ = planned(stack)
    return named(plan.resources, "InferenceService", name).inputs


def test_kserve_runs_in_raw_deployment_mode_from_pinned_oci_charts() -> None:
    plan, _ = planned("healthcare-prod")
    controller = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-resources")
    assert controller.inputs["version"] == "v0.20.0"
    assert controller.inputs["values"]["kserve"]["controller"]["deploymentMode"] == "RawDeployment"
    assert release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-crd").inputs["version"] == "v0.20.0"
    assert isvc("healthcare-prod", "chest-xray")["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "RawDeployment", "serving.kserve.io/autoscalerClass": "keda"}


@pytest.mark.parametrize(
    "model,resource,max_replicas",
    [
        # 35 GB → the pool's 3g.40gb slice; 100 rps ÷ (40 × 0.7) → 4 replicas at peak
        ("chest-xray", "nvidia.com/mig-3g.40gb", 4),
        # 8 GB → 1g.10gb; 60 ÷ (25 × 0.7) → 4
        ("fracture-detect", "nvidia.com/mig-1g.10gb", 4),
        # 18 GB → 1g.20gb, the smallest A100-80GB profile that holds it; 150 ÷ (20 × 0.7) → 11
        ("slide-triage", "nvidia.com/mig-1g.20gb", 11),
    ],
)
def test_planner_sizes_each_model_onto_its_smallest_slice(model: str, resource: str, max_replicas: int) -> None:
    predictor = isvc("healthcare-prod", model)["spec"]["predictor"]
    assert predictor["model"]["resources"]["limits"][resource] == "1"
    assert predictor["model"]["resources"]["requests"] == predictor["model"]["resources"]["limits"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, max_replicas)


def test_production_models_are_hardened_spread_and_budgeted() -> None:
    predictor = isvc("healthcare-prod", "chest-xray")["spec"]["predictor"]
    assert predictor["securityContext"]["runAsNonRoot"] is True
    assert predictor["model"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert predictor["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert predictor["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert predictor["priorityClassName"] == "hybridai-production-inference"
    plan, _ = planned("healthcare-prod")
    pdb = named(plan.resources, "PodDisruptionBudget", "chest-xray")
    assert pdb.inputs["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"serving.kserve.io/inferenceservice": "chest-xray"}}}
    assert predictor["logger"] == {"mode": "all", "url": "https://decision-sink.decisions.svc:8443/"}, "HIPAA: every decision to the stack's sink"


def test_finance_logs_every_decision_and_serves_whole_gpus() -> None:
    predictor = isvc("finance-prod", "fraud-score")["spec"]["predictor"]
    assert predictor["logger"] == {"mode": "all", "url": "https://decision-sink.decisions.svc:8443/"}
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # 900 rps ÷ (250 × 0.7) → 6 replicas at peak, each a whole L40S
    assert predictor["maxReplicas"] == 6
    assert {r.inputs["metadata"]["namespace"] for r in of_kind(planned("finance-prod")[0].resources, "InferenceService")} == {"fraud", "credit-serving"}


def values(stack: str) -> dict:
    return stack_values(stack)


@pytest.mark.parametrize(
    "stack,change,loc,kind",
    [
        ("healthcare-prod", {"team": "oncology"}, ("models", 0, "team"), "team_unknown"),
        # 2000 ÷ (40 × 0.7) → 72 × 3g.40gb: 36 A100s; the pool has 16, the H100s (whole) 8
        ("healthcare-prod", {"peakRps": 2000}, ("models", 0, "peakRps"), "catalog_does_not_fit"),
        ("healthcare-prod", {"gpuMemoryGb": 100}, ("models", 0, "gpuMemoryGb"), "catalog_does_not_fit"),
        ("healthcare-prod", {"storageUri": "ftp://x"}, ("models", 0, "storageUri"), "string_pattern_mismatch"),
        # 5000 ÷ (250 × 0.7) → 29 whole L40S; the cluster has 12
        ("finance-prod", {"peakRps": 5000}, ("models", 0, "peakRps"), "catalog_does_not_fit"),
    ],
)
def test_catalog_problems_are_named_at_their_key(stack: str, change: dict, loc: tuple, kind: str) -> None:
    v = copy.deepcopy(values(stack))
    v["models"][0].update(change)
    with pytest.raises(StackConfigError) as caught:
        prepare(stack, v)[0]
    assert (loc, kind) in {(p.loc, p.type) for p in caught.value.problems}


def test_the_capacity_plan_records_what_each_replica_is_planned_to_carry() -> None:
    # GIVEN healthcare-prod's catalog (chest-xray 40 rps a replica, slide-triage 20)
    spec, capacity = prepared("healthcare-prod")
    # THEN each model's per-replica rate at peak is its throughput less the 0.7 headroom, and what a
    # replica holds in flight at that rate within the stack's 100 ms objective
    assert capacity.onprem.replica_rps == pytest.approx({"chest-xray": 28, "fracture-detect": 17.5, "slide-triage": 14})
    assert capacity.onprem.replica_in_flight == pytest.approx({"chest-xray": 2.8, "fracture-detect": 1.75, "slide-triage": 1.4})
    # AND a model's own objective wins over the stack's (finance-prod's fraud-score: 50 ms)
    assert prepared("finance-prod")[1].onprem.replica_in_flight["fraud-score"] == pytest.approx(175 * 0.05)


def test_a_target_keda_cant_scale_on_is_refused_at_the_models_throughput() -> None:
    # GIVEN a model whose replica sustains 0.001 rps: 0.0007 planned, below KEDA's three decimals
    v = copy.deepcopy(values("healthcare-prod"))
    v["models"][1].update({"peakRps": 0.0005, "throughputRps": 0.001})
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", v)[0]
    # THEN the problem is at the model's throughput, with the numbers
    [problem] = [p for p in caught.value.problems if p.loc == ("models", 1, "throughputRps")]
    assert problem.type == "below_autoscaler_precision" and problem.value == 0.001
    assert problem.message.startswith("model fracture-detect: each replica is planned for 0.0007 requests per second (0.001 less headroom), 7e-05 in flight within its 100 ms objective")


def test_a_catalog_that_doesnt_fit_says_which_model_and_by_how_much() -> None:
    v = copy.deepcopy(values("healthcare-prod"))
    v["models"][0]["peakRps"] = 2000
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", v)[0]
    [problem] = [p for p in caught.value.problems if p.loc == ("models", 0, "peakRps")]
    # 80 × 3g.40gb, the rest of the catalog and the reserved slices need 42 A100s; the pool has 16
    # 72 replicas at peak + 8 for the 10 % canary
    assert problem.message == "model chest-xray: 80 × 3g.40gb on pool a100-mig don't fit: 26 GPUs short"
    assert problem.value == 2000


def test_a_canary_takes_its_traffic_share_through_the_named_gateway() -> None:
    # GIVEN chest-xray's v4 canary at 10 % and the hospital's Gateway in `serving.gateway`
    spec = isvc("healthcare-prod", "chest-xray")["spec"]
    [canary] = spec["canary"]
    # THEN the canary runs the stable predictor with the new model, sized by KServe from its share
    assert canary["trafficPercent"] == 10
    assert canary["predictor"]["model"]["storageUri"] == "s3://models/radiology/chest-xray/v4"
    assert canary["predictor"]["model"]["resources"] == spec["predictor"]["model"]["resources"]
    assert not {"minReplicas", "maxReplicas", "autoScaling", "scaleMetric", "scaleTarget"} & set(canary["predictor"]), "KServe refuses autoscaling on a canary"
    assert canary["predictor"]["securityContext"] == spec["predictor"]["securityContext"]
    # AND KServe routes through Gateway API HTTPRoutes attached to that Gateway, whose proxies may
    # reach the predictors in the team namespaces
    plan, _ = planned("healthcare-prod")
    gateway = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-resources").inputs["values"]["kserve"]["controller"]["gateway"]
    assert gateway == {"disableIngressCreation": False, "ingressGateway": {"enableGatewayApi": True, "kserveGateway": "gateway-system/internal", "createGateway": False}}
    policy = named([r for r in plan.resources if r.inputs.get("metadata", {}).get("namespace") == "radiology"], "NetworkPolicy", "kserve-from-gateway")
    assert policy.inputs["spec"]["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}}}]}]
    # AND without a Gateway nothing is exposed (finance names none)
    finance = release(planned("finance-prod")[0].resources, "oci://ghcr.io/kserve/charts/kserve-resources").inputs["values"]["kserve"]["controller"]["gateway"]
    assert finance == {"disableIngressCreation": True}


def test_a_canary_without_a_gateway_is_refused_at_its_key() -> None:
    v = copy.deepcopy(values("healthcare-prod"))
    v["serving"] = {"llmGateway": v["serving"]["llmGateway"]}
    del v["tls"]["gatewayHosts"]
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", v)[0]
    assert [(p.loc, p.type) for p in caught.value.problems] == [(("models", 0, "canary"), "canary_needs_gateway")]


def test_finance_serving_needs_a_decision_log() -> None:
    # GIVEN finance-prod without its audit archive, so without a decision sink, and no external one
    v = values("finance-prod")
    del v["logging"]["auditArchive"]
    with pytest.raises(StackConfigError) as caught:
        prepare("finance-prod", v)[0]
    # THEN the archive is required at its key (SOX keeps decisions and audit write-once there)
    assert (("logging", "auditArchive"), "audit_archive_required") in {(p.loc, p.type) for p in caught.value.problems}


def test_an_external_decision_log_replaces_the_sink() -> None:
    # GIVEN finance-prod naming the bank's own sink
    v = values("finance-prod")
    v["audit"]["decisionLogUrl"] = "https://audit-sink.bank.example/kserve"
    spec = prepare("finance-prod", v)[0]
    # THEN the stack provisions no sink and the models log to the external one
    assert spec.decision_sink() is None and spec.external_decision_log() == "https://audit-sink.bank.example/kserve"


MODEL = {"name": "fraud-score", "team": "fraud", "gpuMemoryGb": 18, "peakRps": 120, "throughputRps": 40}


@pytest.mark.parametrize(("production", "replicas"), [(True, 2), (False, 1)])
def test_a_production_model_keeps_two_replicas_off_peak_and_scales_to_the_planned_peak(production: bool, replicas: int) -> None:
    # GIVEN a model served from a URI, sized by the planner at 6 replicas of a whole GPU
    model = ServedModel.model_validate({**MODEL, "storageUri": "s3://models/fraud/v3", "production": production})
    # WHEN its args are made
    args = ServedModelArgs.of(model, "fraud", None, 6, "nvidia.com/gpu", 28, 2.8)
    # THEN off-peak it keeps what availability needs (two for production), up to the plan's peak
    assert (args.scaling.min_replicas, args.scaling.max_replicas, args.production) == (replicas, 6, production)
    assert (args.storage_uri, args.registry_model, args.model_version, args.gpu_resource) == ("s3://models/fraud/v3", None, None, "nvidia.com/gpu")


def test_a_production_model_never_runs_fewer_than_two_replicas_even_when_the_peak_needs_one() -> None:
    model = ServedModel.model_validate({**MODEL, "storageUri": "s3://models/fraud/v3"})
    assert ServedModelArgs.of(model, "fraud", None, 1, "nvidia.com/gpu", 28, 2.8).scaling.max_replicas == 2


def test_a_registry_version_is_served_from_its_place_in_the_artifact_store_with_its_canary() -> None:
    # GIVEN finance-prod's fraud-score, registry version 12, with a 10 % canary
    spec, _ = prepared("finance-prod")
    model = next(m for m in spec.models if m.name == "fraud-score").model_copy(update={"canary": Canary.model_validate({"storageUri": "s3://models/fraud/v13", "trafficPercent": 10})})
    # WHEN its args are made
    args = ServedModelArgs.of(model, "fraud", spec.mlops, 6, "nvidia.com/gpu", 175, 8.75)
    # THEN KServe fetches version 12 from the registry's copy in MLflow's artifact bucket, labelled with it
    assert args.storage_uri == f"s3://{spec.mlops.object_store.bucket}/registry/fraud-score/12"
    assert (args.registry_model, args.model_version) == ("fraud-score", 12)
    assert (args.canary_storage_uri, args.canary_percent) == ("s3://models/fraud/v13", 10)


def test_serving_attaches_to_the_stacks_gateway_and_logs_decisions_where_asked() -> None:
    args = ServingArgs.of(ServingSettings(gateway="gateway-system/internal"), (), "monitoring", "https://audit.example/decisions")
    assert (args.gateway, args.decision_log_url, args.models) == ("gateway-system/internal", "https://audit.example/decisions", ())
    assert ServingArgs.of(ServingSettings(), (), "monitoring").gateway is None


def test_each_model_scales_with_keda_on_its_runtimes_request_metrics_not_cpu() -> None:
    # GIVEN healthcare-prod's chest-xray (Triton, 40 rps a replica) at the stack's 100 ms objective,
    # and finance-prod's fraud-score (XGBoost server, 250 rps a replica) at its own 50 ms
    xray = isvc("healthcare-prod", "chest-xray")["spec"]["predictor"]
    fraud = isvc("finance-prod", "fraud-score")["spec"]["predictor"]
    # THEN neither scales on CPU: KServe's KEDA integration reads each from the cluster's Prometheus over https
    for predictor in (xray, fraud):
        assert not {"scaleMetric", "scaleTarget"} & set(predictor)
        assert {m["external"]["metric"]["serverAddress"] for m in predictor["autoScaling"]["metrics"]} == {"https://kps-prometheus.monitoring.svc:9090"}
        assert {m["external"]["metric"]["backend"] for m in predictor["autoScaling"]["metrics"]} == {"prometheus"}

    def triggers(predictor: dict) -> list[tuple[str, str]]:
        return [(m["external"]["metric"]["query"], m["external"]["target"]["value"]) for m in predictor["autoScaling"]["metrics"]]

    # AND each replica carries the rate the planner sized it for (40 × 0.7 = 28 rps; 250 × 0.7 = 175),
    # and as many requests in flight as that rate holds within the objective (28 × 0.1 s; 175 × 0.05 s)
    pods = 'job="kserve-predictors", namespace="radiology", pod=~"chest-xray-predictor-.+"'
    assert triggers(xray) == [
        (f"sum(rate(nv_inference_request_success{{{pods}}}[2m]))", "28"),
        (f"sum(rate(nv_inference_request_duration_us{{{pods}}}[2m])) * 1e-06", "2.8"),
    ]
    pods = 'job="kserve-predictors", namespace="fraud", pod=~"fraud-score-predictor-.+"'
    assert triggers(fraud) == [
        (f"sum(rate(request_predict_seconds_count{{{pods}}}[2m]))", "175"),
        (f"sum(rate(request_predict_seconds_sum{{{pods}}}[2m]))", "8.75"),
    ]


def test_the_predictors_request_metrics_are_scraped_where_their_runtime_serves_them() -> None:
    # GIVEN healthcare-prod, serving in radiology and pathology
    plan, _ = planned("healthcare-prod")
    monitor = named(plan.resources, "PodMonitor", "kserve-predictors").inputs
    # THEN one PodMonitor, beside Prometheus, covers the predictor pods of both namespaces
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["pathology", "radiology"]}
    assert monitor["spec"]["selector"] == {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    relabel = {(r["action"], r.get("targetLabel"), tuple(r.get("sourceLabels", ()))): r for r in endpoint["relabelings"]}
    # AND only the model server's container, at the port and path its ClusterServingRuntime annotates
    assert relabel[("keep", None, ("__meta_kubernetes_pod_container_name",))]["regex"] == "kserve-container"
    address = relabel[("replace", "__address__", ("__address__", "__meta_kubernetes_pod_annotation_prometheus_kserve_io_port"))]
    assert re.fullmatch(address["regex"], "10.1.2.3:8080;8002").expand(address["replacement"].replace("$", "\\")) == "10.1.2.3:8002"
    assert re.fullmatch(address["regex"], "10.1.2.3;8082").expand(address["replacement"].replace("$", "\\")) == "10.1.2.3:8082"
    assert relabel[("replace", "__metrics_path__", ("__meta_kubernetes_pod_annotation_prometheus_kserve_io_path",))]["regex"] == "(.+)"
    # AND under the job the triggers select
    assert relabel[("replace", "job", ())]["replacement"] == "kserve-predictors"
