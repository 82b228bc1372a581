"""Harness: the ScaledObject KServe makes of each example model's predictor validates against the
pinned KEDA CRD (schema and CEL rules), and every trigger is PromQL KEDA can run with a threshold
it can hand the HPA."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import promql_parser
import pytest

from hybridai import catalog
from tests.conftest import planned
from tests.harness.kserve_keda import scaled_object
from tests.harness.upstream import validate_custom_resource
from tests.helpers import named, of_kind


def scaled_objects(stack: str) -> list[dict]:
    plan, _ = planned(stack)
    autoscaler = json.loads(named(plan.resources, "ConfigMap", "inferenceservice-config").inputs["data"]["autoscaler"])
    return [scaled_object(r.inputs, autoscaler) for r in of_kind(plan.resources, "InferenceService")]


def test_kserves_scaled_objects_validate_against_the_pinned_keda_crd(example_stack: str) -> None:
    # GIVEN the ScaledObject KServe writes for each model of an example stack
    objects = scaled_objects(example_stack)
    assert objects, "every example stack serves models"
    # THEN each is valid for the pinned KEDA (schema strictly, CEL rules with it)
    assert {o["metadata"]["name"]: validate_custom_resource(o) for o in objects} == {o["metadata"]["name"]: [] for o in objects}


def test_every_trigger_is_promql_with_a_threshold_keda_keeps(example_stack: str) -> None:
    smallest = Decimal(str(catalog.limits().keda.threshold_min))
    for obj in scaled_objects(example_stack):
        for trigger in obj["spec"]["triggers"]:
            promql_parser.parse(trigger["metadata"]["query"])  # raises ValueError on bad PromQL
            # KEDA parses the threshold as a float and hands the HPA three decimals of it
            threshold = Decimal(trigger["metadata"]["threshold"])
            assert threshold >= smallest and threshold == round(threshold, 3), (obj["metadata"]["name"], threshold)
            assert trigger["metadata"]["serverAddress"].startswith("https://"), "every example stack has the issuer: Prometheus serves https"


def test_chest_xrays_scaled_object_is_kserves_reading_of_its_predictor() -> None:
    # GIVEN chest-xray: 2..4 replicas, a 10 % canary, KServe's config (scale up at once, down after 5 minutes)
    [obj] = [o for o in scaled_objects("healthcare-prod") if o["metadata"]["name"] == "chest-xray-predictor"]
    spec = obj["spec"]
    # THEN KEDA scales its Deployment, keeping one stable replica while the canary holds the other
    assert spec["scaleTargetRef"] == {"name": "chest-xray-predictor"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 4)
    assert spec["advanced"] == {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}, "scaleUp": {"stabilizationWindowSeconds": 0}}}}
    # AND on two prometheus triggers of KEDA's default type (AverageValue: replicas = value ÷ threshold)
    assert [(t["type"], t["metadata"]["threshold"], "metricType" in t) for t in spec["triggers"]] == [("prometheus", "28", False), ("prometheus", "2.8", False)]


def test_the_crd_check_catches_a_scaled_object_keda_would_refuse() -> None:
    # GIVEN a valid ScaledObject, then the same with more minimum than maximum replicas, and with a typo
    [obj] = scaled_objects("finance-dev")
    assert validate_custom_resource(obj) == []
    inverted = copy.deepcopy(obj)
    inverted["spec"].update(minReplicaCount=5, maxReplicaCount=2)
    typo = copy.deepcopy(obj)
    typo["spec"]["triggers"][0]["metdata"] = typo["spec"]["triggers"][0].pop("metadata")
    # THEN the CEL rule and the schema refuse them
    assert validate_custom_resource(inverted) == ["spec: minReplicaCount must be less than or equal to maxReplicaCount"]
    assert any("metdata" in e for e in validate_custom_resource(typo))


def test_the_mirror_refuses_what_it_doesnt_follow() -> None:
    # GIVEN an InferenceService scaled on a metric type the mirror doesn't cover
    plan, _ = planned("finance-dev")
    [isvc] = [copy.deepcopy(r.inputs) for r in of_kind(plan.resources, "InferenceService")]
    isvc["spec"]["predictor"]["autoScaling"]["metrics"].append({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}})
    # THEN it says so rather than guessing KServe's output
    with pytest.raises(ValueError, match="External metrics only"):
        scaled_object(isvc, {})
