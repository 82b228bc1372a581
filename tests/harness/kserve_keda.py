"""The KEDA ScaledObject KServe v0.20.0 writes for an InferenceService's stable predictor, so the
harness can validate what the program asks KServe for against the pinned KEDA CRD (the program
writes no ScaledObject itself: KServe owns it).

It follows kserve/kserve pkg/controller/v1beta1/inferenceservice/reconcilers/keda/keda_reconciler.go
at v0.20.0 (`createKedaScaledObject`, `getKedaMetrics`) for what the program writes — External
metrics of backend `prometheus` — and components/predictor.go (the stable predictor's minimum less
its canaries' replicas, at least 1). Anything else the program might start writing (another metric
type, authentication, a behavior of its own) is an error here, so the mirror can't silently diverge.
"""
from __future__ import annotations

import math
from typing import Any

DEFAULT_MIN_REPLICAS = 1
"""KServe's `constants.DefaultMinReplicas`."""


def _canary_replicas(isvc: dict, stable_min: int) -> int:
    """`canaryReplicaCount`: the canary's own minimum, else its traffic share of the stable minimum."""
    total = 0
    for canary in isvc["spec"].get("canary", []):
        own = canary["predictor"].get("minReplicas")
        total += own if own is not None else math.ceil(stable_min * canary["trafficPercent"] / 100)
    return total


def _trigger(metric: dict) -> dict:
    if metric["type"] != "External" or set(metric) != {"type", "external"}:
        raise ValueError(f"the mirror covers External metrics only, got {metric}")
    external = metric["external"]
    if set(external) != {"metric", "target"} or external["metric"]["backend"] != "prometheus" or "namespace" in external["metric"]:
        raise ValueError(f"the mirror covers prometheus metrics without authentication or tenant namespace, got {external}")
    # KServe passes the target's raw value as the threshold and sets no metric type.
    return {
        "type": "prometheus",
        "metadata": {"serverAddress": external["metric"]["serverAddress"], "query": external["metric"]["query"], "threshold": str(external["target"]["value"])},
    }


def scaled_object(isvc: dict, autoscaler: dict[str, str]) -> dict[str, Any]:
    """The ScaledObject of `isvc`'s stable predictor; `autoscaler`: the `autoscaler` entry of
    KServe's inferenceservice-config (its HPA stabilization windows, as strings)."""
    if isvc["metadata"].get("annotations", {}).get("serving.kserve.io/autoscalerClass") != "keda":
        raise ValueError(f"{isvc['metadata']['name']}: not scaled by KEDA")
    predictor = isvc["spec"]["predictor"]
    if "behavior" in predictor.get("autoScaling", {}):
        raise ValueError("the mirror takes the stabilization windows from the config map only")
    minimum = predictor.get("minReplicas", DEFAULT_MIN_REPLICAS)
    if isvc["spec"].get("canary"):
        minimum = max(minimum - _canary_replicas(isvc, minimum), 1)
    maximum = max(predictor.get("maxReplicas", 0), minimum)
    name = f"{isvc['metadata']['name']}-predictor"
    behavior = {
        direction: {"stabilizationWindowSeconds": int(autoscaler[key])}
        for direction, key in (("scaleDown", "scaleDownStabilizationWindowSeconds"), ("scaleUp", "scaleUpStabilizationWindowSeconds"))
        if autoscaler.get(key)
    }
    spec: dict[str, Any] = {
        "scaleTargetRef": {"name": name},
        "triggers": [_trigger(m) for m in predictor["autoScaling"]["metrics"]],
        "minReplicaCount": minimum,
        "maxReplicaCount": maximum,
    }
    if behavior:
        spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": name, "namespace": isvc["metadata"]["namespace"]}, "spec": spec}
