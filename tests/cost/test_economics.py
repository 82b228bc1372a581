"""The economics of a plan in cost.json and summary.md: cost per model, GPU utilization with the
dedicated-GPU baseline, cloud vs on-prem break-even, commitment pricing and showback."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hybridai import catalog
from hybridai.capacity import lower_bound, pack
from hybridai.config.operations import CostSettings
from hybridai.cost import estimate
from hybridai.cost.economics import break_even_months, burst_hours, held_all_month, showback_table
from hybridai.cost.items import BurstRate
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd
from hybridai.plan.artifacts import records
from tests.conftest import EXAMPLE_STACKS, planned

# The example stacks' totals as docs/cost.md states them: the economics must not move them.
TOTALS = {
    "healthcare-prod": (21841.97, 21841.97),
    "healthcare-dev": (1081.94, 1081.94),
    "finance-prod": (22891.42, 43430.17),
    "finance-dev": (808.2, 1052.45),
    "manufacturing-prod": (3867.45, 5564.92),
}


def cost_of(stack: str, **settings: object) -> dict:
    """cost.json of an example stack as the plan writes it, with these cost settings instead of the stack's."""
    plan, _ = planned(stack)
    cost_settings = CostSettings.model_validate(settings) if settings else plan.spec.cost
    return estimate(records(plan), cost_settings, plan.capacity.cloud_training_hours, capacity=plan.capacity, spec=plan.spec)


def rows(cost: dict, **match: object) -> list[dict]:
    return [r for r in cost["per_model"] if all(r.get(k) == v for k, v in match.items())]


def gpu_hour(price_list: str, instance: str) -> float:
    return catalog.prices(price_list).items[instance] / catalog.aws().gpu_instances[instance].gpus


# --- the seed's figures ----------------------------------------------------------------------


def test_showback_reproduces_the_seeds_three_teams_at_3_85() -> None:
    # GIVEN three teams that used 5,760 / 3,840 / 8,640 GPU-hours and an internal rate of 3.85 USD
    # WHEN the showback table is built
    table = showback_table({"team-a": 5760, "team-b": 3840, "team-c": 8640}, 3.85)
    # THEN each team is charged its GPU-hours × the rate: 22,176 / 14,784 / 33,264 USD
    assert [(r["team"], r["gpu_hours"], r["rate"], r["amount"]) for r in table] == [
        ("team-a", 5760, 3.85, 22176.0),
        ("team-b", 3840, 3.85, 14784.0),
        ("team-c", 8640, 3.85, 33264.0),
    ]


def test_per_model_formula_reproduces_the_seeds_57k_for_16_training_and_4_inference_gpus() -> None:
    # GIVEN a model trained on 16 H100s in the cloud, 96 h a week (four days) over 4.33 weeks, at
    # us-east-1 on-demand (p5.48xlarge: 55.04 USD/h for 8 GPUs = 6.88 USD per GPU-hour) ...
    rate = gpu_hour("aws-us-east-1", "p5.48xlarge")
    assert rate == pytest.approx(6.88)
    burst = [BurstRate("h100", "training", "aws:us-east-1", "p5.48xlarge", "H100-80GB", 1.0, rate, rate, "on-demand")]
    training = burst_hours("model-x-train", "team", gpus=16, gpu_hours_per_week=16 * 96, weeks_per_month=4.33, rates=burst)
    # ... and served on 4 whole on-prem GPUs all month at the seed's 3.85 USD per GPU-hour
    serving = held_all_month("model-x", "team", "serving", gpus=4, usd_per_gpu_month=3.85 * HOURS_PER_MONTH, basis="")
    # WHEN both rows are added up
    total = training["monthly"] + serving["monthly"]
    # THEN 16 × 96 × 4.33 × 6.88 = 45,758.05 and 4 × 730 × 3.85 = 11,242: 57,000 USD per model a month
    assert training["gpu_hours_per_month"] == pytest.approx(6650.88)
    assert training["monthly"] == pytest.approx(45758.05, abs=0.01)
    assert serving["gpu_hours_per_month"] == 2920 and serving["monthly"] == pytest.approx(11242)
    assert total == pytest.approx(57000.05, abs=0.01)
    assert round(total, -3) == 57000


# --- per-model cost --------------------------------------------------------------------------


def test_every_served_model_and_training_job_has_one_row(example_stack: str) -> None:
    # GIVEN an example stack's catalog (on-prem models, each edge site's models, training jobs)
    plan, files = planned(example_stack)
    cost = json.loads(files[Path("cost.json")])
    spec = plan.spec
    served = [m.name for m in spec.models] + [m.name for site in spec.edge_sites() for m in site.models if m.gpus]
    # THEN cost.json has exactly one per-model row for each, every one priced and explained
    assert sorted(r["name"] for r in cost["per_model"] if r["kind"] == "serving") == sorted(served)
    assert sorted(r["name"] for r in cost["per_model"] if r["kind"] == "training") == sorted(j.name for j in spec.training)
    assert all(r["monthly"] is not None and r["monthly"] > 0 and r["basis"] for r in cost["per_model"])
    assert all(r["monthly"] == pytest.approx(r["gpu_hours_per_month"] * r["usd_per_gpu_hour"], rel=1e-3) for r in cost["per_model"])


def test_mig_slices_carry_their_share_of_the_gpus_they_are_laid_out_on_and_add_up_to_their_teams_lines() -> None:
    # GIVEN healthcare-prod: chest-xray has 4 replicas + 1 canary on 3g.40gb slices; four sit two to a
    # GPU (3 + 3 of 7 laid out: half an A100 each), the fifth beside the summarizer's and fracture-detect's
    # 1g.10gb slices (3 + 4 × 1 of 7 laid out: 3/7 of an A100)
    cost = cost_of("healthcare-prod")
    [chest] = rows(cost, name="chest-xray")
    a100 = gpu_month_usd("A100-80GB", CostSettings())
    assert (chest["replicas"], chest["canary_replicas"], chest["slices"]) == (4, 1, 5)
    assert chest["gpus"] == pytest.approx(4 / 2 + 3 / 7, abs=1e-4) and chest["compute_gpus"] == pytest.approx(5 * 3 / 7, abs=1e-4)
    assert chest["monthly"] == pytest.approx((4 / 2 + 3 / 7) * a100, abs=0.01)
    # THEN a team's served models add up to what its line items charge it: one answer per model
    for team in ("radiology", "pathology"):
        assert sum(r["monthly"] for r in rows(cost, team=team)) == pytest.approx(cost["by_team"][team], abs=0.02)


def test_onprem_training_jobs_hold_whole_gpus_of_their_pool_all_month() -> None:
    # GIVEN healthcare-prod's training: imaging-finetune needs 384/48 = 8 GPUs with 80 GB and takes the
    # A100s the catalog leaves whole; sepsis-early-warning (240/48 = 5) and readmission-risk (1) the H100s
    cost = cost_of("healthcare-prod")
    settings = CostSettings()
    jobs = {r["name"]: r for r in rows(cost, kind="training")}
    # THEN each costs its GPUs × its pool's GPU-month, and states the GPU-hours it actually uses
    assert (jobs["imaging-finetune"]["pool"], jobs["imaging-finetune"]["gpus"]) == ("a100-mig", 8)
    assert jobs["imaging-finetune"]["monthly"] == pytest.approx(8 * gpu_month_usd("A100-80GB", settings), abs=0.01)
    assert jobs["imaging-finetune"]["gpu_hours_used"] == pytest.approx(384 * 4.33)
    assert (jobs["sepsis-early-warning"]["pool"], jobs["sepsis-early-warning"]["gpus"]) == ("h100", 5)
    assert (jobs["readmission-risk"]["pool"], jobs["readmission-risk"]["gpus"]) == ("h100", 1)
    assert jobs["sepsis-early-warning"]["monthly"] == pytest.approx(5 * gpu_month_usd("H100-80GB", settings), abs=0.01)


def test_cloud_training_jobs_cost_their_gpu_hours_at_the_burst_pools_rate() -> None:
    # GIVEN finance-prod: fraud-retrain (1,536 GPU-hours/week) and credit-retrain (384) overflow to the
    # a100 NodePool (p4de.24xlarge, spot 60 % off on-demand) in eu-central-1
    cost = cost_of("finance-prod")
    spot = gpu_hour("aws-eu-central-1", "p4de.24xlarge") * (1 - 0.6)
    [fraud] = rows(cost, name="fraud-retrain")
    # THEN the job costs 1,536 × 4.33 GPU-hours at the spot GPU-hour, with its on-demand figure beside
    assert fraud["placement"] == "cloud" and fraud["pool"] == "a100" and fraud["gpus"] == 32
    assert fraud["monthly"] == pytest.approx(1536 * 4.33 * spot, abs=0.01)
    assert fraud["monthly_at_on_demand"] == pytest.approx(1536 * 4.33 * spot / 0.4, abs=0.01)
    # AND the cloud jobs add up to the burst line items
    assert sum(r["monthly"] for r in rows(cost, placement="cloud")) == pytest.approx(cost["by_item"]["training_burst_gpu_hours"], abs=0.02)


def test_edge_site_models_cost_their_whole_gpus_at_the_site() -> None:
    cost = cost_of("manufacturing-prod")
    [label] = rows(cost, name="label-check")
    assert label["placement"] == "edge:line-3" and label["gpus"] == 1
    assert label["monthly"] == pytest.approx(gpu_month_usd("Orin-AGX-64GB", CostSettings()), abs=0.01)


# --- utilization -----------------------------------------------------------------------------


def test_utilization_counts_slices_at_their_compute_share_and_the_mig_gain_against_one_replica_per_gpu() -> None:
    # GIVEN healthcare-prod's a100-mig pool: the catalog's 5 × 3g.40gb, 4 + 2 (the summarizer's) × 1g.10gb and 11 × 1g.20gb,
    # ml-platform's reserved 4 × 2g.20gb and 8 × 1g.10gb, and imaging-finetune's 8 whole GPUs
    cost = cost_of("healthcare-prod")
    [dc1] = cost["utilization"]["clusters"]
    a100, h100 = dc1["pools"]
    # THEN allocated = (15 + 6 + 11) / 7 serving + 8 training + (8 + 8) / 7 explicit = 14.86 of 16 GPUs
    assert a100["allocated"] == {"serving": pytest.approx(32 / 7, abs=1e-4), "training": 8, "explicit_quotas": pytest.approx(16 / 7, abs=1e-4), "total": pytest.approx(8 + 48 / 7, abs=1e-4)}
    assert a100["percent"] == pytest.approx(100 * (8 + 48 / 7) / 16, abs=0.05)
    # AND the H100s: 6 for training, 2 for ml-platform's explicit GPUs — all allocated
    assert h100["allocated"]["total"] == 8 and h100["percent"] == 100
    assert dc1["installed"] == 24 and dc1["allocated"] == pytest.approx(16 + 48 / 7, abs=1e-4)
    # AND without MIG the 22 replicas (canary included) would take 22 GPUs; the planner packs them on
    # 6, which is also the lower bound: a MIG gain of 22 / 6
    demand = Counter({"3g.40gb": 5, "1g.10gb": 6, "1g.20gb": 11})
    assert a100["baseline"] == {
        "replicas": 22, "dedicated_gpus": 22, "gpus_with_mig": len(pack(demand, "A100-80GB")),
        "packing_lower_bound": lower_bound(demand, "A100-80GB"), "mig_gain": pytest.approx(22 / 6, abs=0.01),
    }
    assert len(pack(demand, "A100-80GB")) == 6 == lower_bound(demand, "A100-80GB")
    assert dc1["baseline"]["mig_gain"] == pytest.approx(22 / 6, abs=0.01)


def test_utilization_of_whole_gpus_and_fixed_layouts() -> None:
    # GIVEN finance-prod's 12 whole L40S (8 for the two whole-GPU models, 4 for fraud-features) and
    # the 8 of its l40s-review pool (document review's 2 replicas × 4 GPUs)
    [dc1] = cost_of("finance-prod")["utilization"]["clusters"]
    assert dc1["allocated"] == 20 and dc1["percent"] == 100
    # THEN without MIG nothing is gained: 16 GPUs of replicas on 16 GPUs either way
    assert dc1["baseline"] == {"replicas": 16, "dedicated_gpus": 16, "gpus_with_mig": 16, "mig_gain": 1.0}
    # GIVEN healthcare-dev's A30s split 4 × 1g.6gb each (strategy single): 2 catalog slices (chest-xray-next
    # and the report summarizer), 14 explicit
    [lab] = cost_of("healthcare-dev")["utilization"]["clusters"]
    [a30] = lab["pools"]
    # THEN each slice is a quarter GPU: 0.5 serving, 3.5 explicit, the 4 GPUs fully allocated
    assert a30["allocated"] == {"serving": 0.5, "training": 0, "explicit_quotas": 3.5, "total": 4}
    assert a30["mig_partitioned"] == 4 and a30["baseline"]["gpus_with_mig"] == 1


def test_edge_sites_are_clusters_of_their_own() -> None:
    clusters = {c["cluster"]: c for c in cost_of("manufacturing-prod")["utilization"]["clusters"]}
    assert set(clusters) == {"plant-dc", "line-1", "line-2", "line-3"}
    assert clusters["line-2"]["placement"] == "edge:line-2" and clusters["line-2"]["installed"] == 2
    assert clusters["plant-dc"]["pools"][0]["allocated"] == {"serving": 2, "training": 0, "explicit_quotas": 2, "total": 4}


# --- break-even ------------------------------------------------------------------------------


def test_break_even_months_is_the_purchase_over_what_renting_costs_beyond_running() -> None:
    # GIVEN 100,000 USD of GPUs costing 1,000 USD a month to power and operate
    # THEN renting at 5,000 a month is overtaken after 100,000 / 4,000 = 25 months
    assert break_even_months(100000, 1000, 5000) == pytest.approx(25)
    # AND renting at no more than the running costs is never overtaken
    assert break_even_months(100000, 1000, 1000) is None


def test_break_even_of_an_onprem_pool_against_the_stacks_cloud_region() -> None:
    # GIVEN finance-prod's 12 L40S (11,000 USD each), planned 8 GPUs serving all month + fraud-features'
    # 96 GPU-hours a week, compared in its cloud region eu-central-1 as g6e.48xlarge (8 × L40S)
    be = cost_of("finance-prod")["break_even"]
    assert (be["region"], be["region_basis"]) == ("eu-central-1", "the stack's cloud region")
    l40s, review = be["pools"]
    assert (l40s["pool"], review["pool"], review["purchase_usd"]) == ("l40s", "l40s-review", 88000)
    settings = CostSettings()
    running = 12 * (gpu_month_usd("L40S-48GB", settings) - 11000 / 36)
    hours = 8 * 730 + 96 * 4.33
    on_demand = gpu_hour("aws-eu-central-1", "g6e.48xlarge")
    assert l40s["instance"] == "g6e.48xlarge" and l40s["gpu_hours_per_month"] == pytest.approx(hours)
    assert l40s["purchase_usd"] == 132000 and l40s["running_monthly_usd"] == pytest.approx(running, abs=0.01)
    # THEN months = 132,000 ÷ (hours × rate − running) at each rate: on-demand, spot (60 % off), 1-year
    # (40 % off) and 3-year (60 % off) commitments
    for name, discount in {"on_demand": 0, "spot": 0.6, "commitment_1y": 0.4, "commitment_3y": 0.6}.items():
        rate = on_demand * (1 - discount)
        assert l40s["rates"][name]["usd_per_gpu_hour"] == pytest.approx(rate, abs=1e-4)
        assert l40s["rates"][name]["months"] == pytest.approx(132000 / (hours * rate - running), abs=0.05)
        assert l40s["rates"][name]["within_amortization"]
    assert be["sources"]["aws:eu-central-1"]["commitments"]["date"] and be["sources"]["onprem"]["source"]


def test_a_stack_without_a_cloud_region_is_compared_in_the_documented_default_or_its_setting() -> None:
    # GIVEN healthcare-prod, all on-prem: no cloud region, no jurisdiction
    be = cost_of("healthcare-prod")["break_even"]
    # THEN it is compared with us-east-1, and says why
    assert be["region"] == "us-east-1" and "no cloud region" in be["region_basis"]
    a100 = be["pools"][0]
    assert a100["instance"] == "p4de.24xlarge" and a100["rates"]["on_demand"]["usd_per_gpu_hour"] == pytest.approx(27.45 / 8, abs=1e-4)
    # AND cost.cloudComparisonRegion picks another region
    other = cost_of("healthcare-prod", cloudComparisonRegion="eu-west-1")["break_even"]
    assert other["region"] == "eu-west-1" and other["region_basis"] == "cost.cloudComparisonRegion"
    assert other["pools"][0]["rates"]["on_demand"]["usd_per_gpu_hour"] == pytest.approx(gpu_hour("aws-eu-west-1", "p4de.24xlarge"), abs=1e-4)


def test_a_gpu_no_cloud_rents_has_no_break_even_and_says_so() -> None:
    [a30] = cost_of("healthcare-dev")["break_even"]["pools"]
    assert a30["rates"] is None and a30["basis"] == "no AWS instance type has A30-24GB GPUs"


# --- commitment pricing ----------------------------------------------------------------------


def test_commitment_prices_the_burst_at_the_savings_plan_rate_and_states_its_source() -> None:
    # GIVEN finance-prod with a 1-year commitment (40 % off on-demand in aws:eu-central-1)
    base = cost_of("finance-prod", commitment="none")
    cost = cost_of("finance-prod", commitment="1y")
    on_demand = gpu_hour("aws-eu-central-1", "p4de.24xlarge")
    burst = [i for i in cost["line_items"] if i["item"] == "training_burst_gpu_hours"]
    # THEN every burst GPU-hour is priced at on-demand × 0.6 (a savings plan covers no spot) ...
    assert all(i["unit_price"] == pytest.approx(on_demand * 0.6, abs=1e-4) and "1y savings plan at 40% off" in i["basis"] for i in burst)
    assert cost["by_item"]["training_burst_gpu_hours"] == pytest.approx(sum(i["quantity"] for i in burst) * on_demand * 0.6, abs=0.05)
    # ... the on-demand figure and everything else stay as they were ...
    assert cost["total"]["at_on_demand"] == base["total"]["at_on_demand"]
    assert cost["total"]["estimate"] - base["total"]["estimate"] == pytest.approx(cost["by_item"]["training_burst_gpu_hours"] - base["by_item"]["training_burst_gpu_hours"], abs=0.05)
    # ... and the commitment's source and date are listed with the price list
    assert cost["prices"]["aws:eu-central-1"]["commitments"] == {"term": "1y", "discount": 0.4, "source": catalog.prices("aws-eu-central-1").commitments.source, "date": "2025-06"}
    assert "commitments" not in base["prices"]["aws:eu-central-1"]
    # AND the cloud jobs' per-model cost follows
    assert rows(cost, name="fraud-retrain")[0]["monthly"] == pytest.approx(1536 * 4.33 * on_demand * 0.6, abs=0.01)


def test_a_commitment_with_no_rate_in_the_price_list_is_unpriced_not_guessed() -> None:
    plan, _ = planned("finance-prod")
    settings = CostSettings.model_validate({"commitment": "3y", "priceOverrides": {"aws:sa-east-1": {"p4de.24xlarge": 40.0}}})
    recs = records(plan)
    for r in recs:
        if r["type"] == "pulumi:providers:aws":
            r["inputs"]["region"] = "sa-east-1"
    cost = estimate(recs, settings, plan.capacity.cloud_training_hours)
    assert "aws:sa-east-1:commitment_3y" in cost["unpriced"] and not cost["complete"]
    assert all(i["monthly"] is None for i in cost["line_items"] if i["item"] == "training_burst_gpu_hours")


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_the_example_stacks_totals_do_not_move(stack: str) -> None:
    # GIVEN no new setting selected (commitment none): the estimate is what docs/cost.md states
    cost = json.loads(planned(stack)[1][Path("cost.json")])
    assert (cost["total"]["estimate"], cost["total"]["at_on_demand"]) == TOTALS[stack]
    assert cost["assumptions"]["commitment"] == "none"


# --- showback --------------------------------------------------------------------------------


def test_showback_defaults_to_the_amortized_onprem_gpu_hour() -> None:
    # GIVEN healthcare-prod: 24 on-prem GPUs costing 21,798.83 USD a month, all held by team quotas
    showback = cost_of("healthcare-prod")["showback"]
    # THEN the rate is that cost ÷ (24 × 730 h), and the table charges back exactly the on-prem cost
    assert showback["rate"]["usd_per_gpu_hour"] == pytest.approx(21798.83 / (24 * 730), abs=1e-5)
    assert "amortized on-prem GPU-hour" in showback["rate"]["source"]
    assert showback["total"] == {"gpu_hours": 24 * 730, "amount": pytest.approx(21798.83, abs=0.02)}
    # AND a team's GPU-hours are its quota's GPUs × 730 h (clinical-research: 14 whole GPUs)
    teams = {t["team"]: t for t in showback["teams"]}
    assert teams["clinical-research"]["gpu_hours"] == 14 * 730


def test_a_stack_sets_its_internal_rate_and_cloud_hours_count_too() -> None:
    # GIVEN finance-prod with cost.showbackRateUsdPerGpuHour 3.85
    showback = cost_of("finance-prod", showbackRateUsdPerGpuHour=3.85)["showback"]
    teams = {t["team"]: t for t in showback["teams"]}
    # THEN fraud's 10 on-prem GPUs all month and its 1,536 × 4.33 burst GPU-hours are charged at 3.85
    assert showback["rate"] == {"usd_per_gpu_hour": 3.85, "source": "cost.showbackRateUsdPerGpuHour"}
    assert teams["fraud"]["by_placement"] == {"cloud": pytest.approx(1536 * 4.33), "onprem": 10 * 730}
    assert teams["fraud"]["amount"] == pytest.approx((1536 * 4.33 + 7300) * 3.85, abs=0.01)
    assert showback["total"]["amount"] == pytest.approx(sum(t["amount"] for t in showback["teams"]), abs=0.05)


def test_showback_is_there_without_the_plan_and_the_rest_is_not() -> None:
    plan, _ = planned("finance-prod")
    cost = estimate(records(plan), CostSettings())
    assert "showback" in cost and not {"per_model", "utilization", "break_even"} & set(cost)


# --- summary.md ------------------------------------------------------------------------------


def test_summary_shows_the_economics_tables() -> None:
    # GIVEN healthcare-prod's summary.md
    summary = planned("healthcare-prod")[1][Path("summary.md")]
    section = summary.split("### Economics (USD per month)", 1)[1].split("\n### ", 1)[0]
    # THEN it has the per-model, utilization, break-even and showback tables
    assert "| chest-xray | serving | radiology | onprem `a100-mig` 3g.40gb | 2.43 | 1,773 | 0.95 | 1,683 |" in section
    assert "| imaging-finetune | training | clinical-research | onprem `a100-mig` | 8.00 | 5,840 (1,663 used) | 0.95 | 5,543 |" in section
    assert "| dc1 | a100-mig | A100-80GB | 16 | 14.86 | 93 % | 22 | 22 | 6 | 3.67× |" in section
    assert "| **dc1** | all | | **24** | **22.86** | **95 %** | 22 | 22 | 6 | 3.67× |" in section
    assert "in `us-east-1` (the stack has no cloud region: us-east-1, the default of cost.cloudComparisonRegion)" in section
    assert "| a100-mig (A100-80GB) | 16 | 6,668 | 11,087 | p4de.24xlarge | 14.5 mo (22,881) |" in section
    assert "| clinical-research | 10,220 | 1.24 | 12,716 |" in section
    assert "| **total** | **17,520** | | **21,799** |" in section


def test_summary_economics_of_a_hybrid_stack_shows_cloud_jobs_and_a_gpu_without_cloud_says_so() -> None:
    finance = planned("finance-prod")[1][Path("summary.md")]
    assert "| fraud-retrain | training | fraud | cloud `a100` | 32.00 | 6,651 | 1.65 | 10,954 (27,385 on-demand) |" in finance
    dev = planned("healthcare-dev")[1][Path("summary.md")]
    assert "| a30 (A30-24GB) | 4 | 2,920 | 1,082 | — | no AWS instance type has A30-24GB GPUs |" in dev
