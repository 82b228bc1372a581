"""The cost model against hand-computed cases, and cost.json of the example stacks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridai.modules.monitoring import OpenCostPricing
from hybridai import catalog
from hybridai.program import prepare
from hybridai.config.operations import CostSettings
from hybridai.cost import estimate
from hybridai.cost.onprem import gpu_month_usd
from hybridai.plan.artifacts import clean
from tests.conftest import planned


def records(stack: str) -> list[dict]:
    plan, _ = planned(stack)
    return [{**r.record(), "inputs": clean(r.inputs)} for r in plan.resources]


def items(cost: dict, item: str) -> list[dict]:
    return [i for i in cost["line_items"] if i["item"] == item]


def test_32_gpus_for_48_hours_4_weeks_at_a_given_price() -> None:
    # GIVEN the finance pool (p4de: 8 GPUs per node) priced at 40 USD per instance-hour, no spot
    # discount, and a run of 32 GPUs for 48 hours a week over 4 weeks
    settings = CostSettings.model_validate({"trainingGpusPerRun": 32, "trainingHoursPerWeek": 48, "weeksPerMonth": 4, "priceOverrides": {"aws:eu-central-1": {"p4de.24xlarge": 40.0}}})
    cost = estimate(records("finance-prod"), settings)
    burst = items(cost, "training_burst_gpu_hours")
    # THEN 32 × 48 × 4 = 6144 GPU-hours at 40 / 8 = 5 USD on-demand: 30,720 USD; spot 60 % off: 12,288 USD
    assert sum(i["quantity"] for i in burst) == pytest.approx(6144)
    assert sum(i["monthly_at_on_demand"] for i in burst) == pytest.approx(30720)
    assert sum(i["monthly"] for i in burst) == pytest.approx(12288)
    # split by the teams' GPU quotas on the pool: fraud 32, credit 16
    by_team = {i["team"]: i["monthly"] for i in burst}
    assert by_team == {"fraud": pytest.approx(8192), "credit": pytest.approx(4096)}


def test_8_onprem_gpus_amortized_over_3_years() -> None:
    # GIVEN 8 GPUs at 30,000 USD, written off over 3 years, no power or operations cost
    settings = CostSettings.model_validate({"onprem": {"amortizationYears": 3, "averagePowerFraction": 0, "operationsPercentPerYear": 0}, "priceOverrides": {"onprem": {"H100-80GB": 30000}}})
    # THEN each costs 30,000 / 36 = 833.33 USD a month, the 8 of them 6,666.67
    assert gpu_month_usd("H100-80GB", settings) == pytest.approx(833.3333, abs=1e-3)
    # AND in healthcare-prod, whose 16 whole GPUs (8 H100s, 8 A100s the catalog leaves whole) are held
    # by clinical-research (14, its training catalog) and ml-platform (2), those teams carry exactly
    # their GPUs' share of that
    cost = estimate(records("healthcare-prod"), settings)
    whole = {i["team"]: i for i in items(cost, "onprem_gpus_amortized")}
    assert whole["clinical-research"]["quantity"] == pytest.approx(14)
    assert whole["clinical-research"]["monthly"] == pytest.approx(14 / 16 * (8 * 30000 / 36 + 8 * gpu_month_usd("A100-80GB", settings)))


def test_power_and_operations_add_to_amortization() -> None:
    settings = CostSettings.model_validate({"onprem": {"amortizationYears": 3, "averagePowerFraction": 0.5, "pue": 2, "operationsPercentPerYear": 12, "electricityUsdPerKwh": 0.2}})
    price = catalog.prices("onprem").items["A100-80GB"]
    # 400 W × 0.5 × PUE 2 × 730 h = 292 kWh at 0.20 = 58.40 USD; operations 12 %/year = 1 %/month
    assert gpu_month_usd("A100-80GB", settings) == pytest.approx(price / 36 + 58.4 + price * 0.01)


def test_whole_gpu_quotas_carry_whole_gpus_and_idle_capacity_is_unallocated() -> None:
    settings = CostSettings.model_validate({"onprem": {"averagePowerFraction": 0, "operationsPercentPerYear": 0}, "priceOverrides": {"onprem": {"H100-80GB": 36000, "A100-80GB": 36000}}})
    cost = estimate(records("healthcare-prod"), settings)
    teams = {(i["team"], i["item"]): i for i in cost["line_items"] if i["target"] == "dc1"}
    # clinical-research's training holds 14 of the 16 whole GPUs: 14 × 1,000 USD
    assert teams[("clinical-research", "onprem_gpus_amortized")]["quantity"] == pytest.approx(14)
    assert teams[("clinical-research", "onprem_gpus_amortized")]["monthly"] == pytest.approx(14000)
    # The 8 A100s the planner laid out with MIG are carried by the teams whose slices they hold...
    mig_gpus = sum(i["quantity"] for (team, item), i in teams.items() if team in ("radiology", "pathology", "clinical-notes") or (team, item) == ("ml-platform", "onprem_gpus_amortized"))
    assert mig_gpus == pytest.approx(8 + 2, abs=1e-3)  # ml-platform's line includes its 2 whole GPUs
    # ...and no GPU is left without a team: the plan lays out only what the catalog and quotas need
    assert ("unallocated", "onprem_gpus_amortized") not in teams
    # (besides the platform's own MLflow, Argo and JobSet requests)
    platform = sum(i["monthly"] for i in items(cost, "platform_components"))
    assert cost["total"]["estimate"] - platform == pytest.approx(24 * 1000)


def test_ceiling_and_breakdowns_in_cost_json(tmp_path: Path) -> None:
    cost = estimate(records("finance-prod"), CostSettings.model_validate({"monthlyCeilingUsd": 10000}))
    assert cost["ceiling"] == {"monthly": 10000, "within": False, "headroom": pytest.approx(10000 - cost["total"]["estimate"])}
    assert set(cost["by_placement"]) == {"cloud", "onprem"}
    assert sum(cost["by_placement"].values()) == pytest.approx(cost["total"]["estimate"], abs=0.05)
    assert sum(cost["by_team"].values()) == pytest.approx(cost["total"]["estimate"], abs=0.05)
    assert {"training_burst_gpu_hours", "inference_gpus_always_on", "cloud_platform", "storage", "egress"} <= set(cost["by_item"])
    assert cost["assumptions"]["training_hours_per_week"] == 48 and cost["assumptions"]["spot_discount"] == {"aws:eu-central-1": 0.6}
    assert cost["prices"]["aws:eu-central-1"]["date"] and cost["prices"]["onprem"]["source"]
    assert cost["complete"] and cost["unpriced"] == []


def test_missing_prices_are_reported_not_guessed() -> None:
    settings = CostSettings()
    recs = records("finance-prod")
    for r in recs:
        if r["type"] == "pulumi:providers:aws":
            r["inputs"]["region"] = "sa-east-1"
    cost = estimate(recs, settings)
    assert not cost["complete"]
    assert "aws:sa-east-1:p4de.24xlarge" in cost["unpriced"]
    assert all(i["monthly"] is None for i in items(cost, "training_burst_gpu_hours"))


def test_every_example_stack_writes_a_complete_cost_json(example_stack: str) -> None:
    _, files = planned(example_stack)
    cost = json.loads(files[Path("cost.json")])
    assert cost["complete"] and cost["total"]["estimate"] > 0


def test_opencost_gpu_price_is_the_cost_models_per_gpu_month() -> None:
    import yaml

    from hybridai.config.codec import decode_config, encode_config
    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.finance-prod.yaml").read_text())["config"]
    spec = prepare("finance-prod", decode_config(encode_config(config)))[0]
    pricing = OpenCostPricing.of(spec.onprem, spec.cost)
    assert pricing.gpu_hour == pytest.approx(gpu_month_usd("L40S-48GB", spec.cost) / 730)


def test_burst_hours_come_from_the_training_catalog_when_there_is_one() -> None:
    # GIVEN finance-prod's catalog sends fraud-retrain (1536 GPU-hours) and credit-retrain (384) to the cloud
    settings = CostSettings.model_validate({"weeksPerMonth": 4, "priceOverrides": {"aws:eu-central-1": {"p4de.24xlarge": 40.0}}})
    cost = estimate(records("finance-prod"), settings, {"fraud": 1536.0, "credit": 384.0})
    burst = items(cost, "training_burst_gpu_hours")
    # THEN (1536 + 384) × 4 = 7680 GPU-hours a month at 5 USD on-demand, split by each team's hours
    assert sum(i["quantity"] for i in burst) == pytest.approx(7680)
    assert {i["team"]: i["quantity"] for i in burst} == {"fraud": pytest.approx(1536 * 4), "credit": pytest.approx(384 * 4)}
    assert sum(i["monthly_at_on_demand"] for i in burst) == pytest.approx(7680 * 5)


def test_mlflow_and_argo_requests_are_in_the_platform_line() -> None:
    # GIVEN finance-prod: MLflow (2 replicas × 500m, 1Gi), Argo and JobSet on dc1 and on the burst pool
    cost = estimate(records("finance-prod"), CostSettings())
    lines = {(i["target"], i["basis"], i["unit"]): i for i in items(cost, "platform_components")}
    # THEN on-prem, MLflow's requests cost 2 × 0.5 cores × 730 h at the on-prem core-hour price, in the platform line
    core_hour = catalog.prices("onprem").items["cpu_core_hour"]
    mlflow = lines[("dc1", "mlflow server requests × 2", "core-hours")]
    assert mlflow["team"] == "platform" and mlflow["quantity"] == pytest.approx(730) and mlflow["monthly"] == pytest.approx(730 * core_hour)
    assert lines[("dc1", "mlflow server requests × 2", "GB-hours")]["quantity"] == pytest.approx(2 * 1 * 730)
    # AND the Argo controller and the JobSet controller are there too; in the cloud they sit on the
    # system nodes already priced, so they add nothing
    assert lines[("dc1", "argo-workflows controller requests × 1", "core-hours")]["quantity"] == pytest.approx(0.1 * 730)
    cloud = [i for i in items(cost, "platform_components") if i["placement"] == "cloud"]
    assert {i["basis"].split(" requests")[0] for i in cloud} == {"argo-workflows controller", "jobset controller"}
    assert all(i["monthly"] == 0 for i in cloud)
