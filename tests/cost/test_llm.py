"""cost.json's `llms` and summary.md's cost per token: each LLM's GPU-hour, throughput, tokens a
month, cost per million tokens (and its floor at the planned load), the same GPUs rented, and the
token showback by team — hand-computed on the lab stack of tests/capacity/fixtures/llm-catalog.yaml."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from hybridai.config.operations import CostSettings
from hybridai.cost.llm import monthly_tokens, per_million
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd
from hybridai.plan import run_plan
from hybridai.plan.artifacts import render
from tests.conftest import ROOT, planned

FIXTURE = yaml.safe_load((ROOT / "tests" / "capacity" / "fixtures" / "llm-catalog.yaml").read_text())
A100 = gpu_month_usd("A100-80GB", CostSettings())
H100 = gpu_month_usd("H100-80GB", CostSettings())
DAYS = HOURS_PER_MONTH / 24


def plan_lab(tmp_path: Path, **llm_changes: dict) -> tuple[dict, str]:
    """cost.json and summary.md of healthcare-dev with the fixture's pools, teams and LLMs, each
    model named in `llm_changes` with those `llm` keys changed."""
    fixture = copy.deepcopy(FIXTURE)
    for model in fixture["models"]:
        model.get("llm", {}).update(llm_changes.get(model["name"], {}))
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.healthcare-dev.yaml").read_text())
    document["config"].update({f"hybrid-ai:{key}": value for key, value in fixture.items()})
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks" / "Pulumi.llm-lab.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    files = render(run_plan("llm-lab", tmp_path))
    return json.loads(files[Path("cost.json")]), files[Path("summary.md")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    return plan_lab(tmp_path_factory.mktemp("lab"))


def llm(cost: dict, name: str) -> dict:
    [row] = [r for r in cost["llms"]["models"] if r["name"] == name]
    return row


def test_tokens_a_month_are_the_peak_over_its_hours_of_each_day() -> None:
    # GIVEN 750 output tokens a second for 8 hours of each of the month's 730 / 24 days
    # THEN 750 × 3,600 × 8 × 30.4167 = 657 M tokens; 692.9 USD over them is 1.0547 USD per million
    assert monthly_tokens(750, 8) == pytest.approx(657_000_000)
    assert monthly_tokens(750, 24) == pytest.approx(3 * 657_000_000)
    assert per_million(692.9, 657_000_000) == pytest.approx(1.0546, abs=1e-4)
    # AND nothing is priced from no tokens or no price
    assert per_million(None, 1e6) is None and per_million(10.0, 0) is None


def test_a_whole_gpu_llm_costs_its_replicas_gpus_an_hour_over_its_tokens(lab: tuple[dict, str]) -> None:
    # GIVEN document-review: Llama 3.1 70B, 2 replicas × TP 4 on whole H100s, 900 output tokens/s
    # per replica, a peak of 2 requests/s × 400 output tokens, 8 h a day
    row = llm(lab[0], "document-review")
    # THEN an hour of its 8 GPUs costs 8 × the H100's amortized GPU-month ÷ 730
    assert (row["replicas"], row["gpus_per_replica"], row["gpus"], row["canary_replicas"]) == (2, 4, 8, 0)
    assert row["usd_per_hour"] == pytest.approx(8 * H100 / HOURS_PER_MONTH, abs=1e-4)
    # AND its throughput: 800 of the replicas' 1,800 tokens/s at peak, a third of that on average
    t = row["throughput"]
    assert (t["capacity_output_tokens_per_second"], t["peak_output_tokens_per_second"]) == (1800, 800)
    assert t["peak_utilization"] == pytest.approx(800 / 1800, abs=1e-4)
    assert t["utilization"] == pytest.approx(800 / 3 / 1800, abs=1e-4)
    # AND 800 × 3,600 × 8 × 730 / 24 = 700.8 M output tokens a month: 8 × H100-month ÷ 700.8 per million
    assert row["monthly_output_tokens"] == 700_800_000
    assert row["usd_per_million_output_tokens"] == pytest.approx(8 * H100 / 700.8, abs=1e-4)
    # AND the floor: the replicas at 70 % of 1,800 tokens/s around the clock (919.8 M tokens)
    assert row["usd_per_million_output_tokens_at_planned_load"] == pytest.approx(8 * H100 / (1800 * 0.7 * 3600 * HOURS_PER_MONTH / 1e6), abs=1e-4)
    # AND no prompt tokens stated, no price per million of all tokens
    assert row["monthly_prompt_tokens"] is None and row["usd_per_million_tokens"] is None


def test_a_mig_llm_carries_its_slices_share_of_the_gpu(lab: tuple[dict, str]) -> None:
    # GIVEN notes-summarizer: 2 replicas on 3g.40gb slices, two of which fill an A100's laid-out compute
    row = llm(lab[0], "notes-summarizer")
    # THEN its slices carry one A100: its hour is the A100-month ÷ 730, over 3 × 250 × 3,600 × 8 × 730/24 = 657 M tokens
    assert (row["profile"], row["gpus"]) == ("3g.40gb", 1.0)
    assert row["usd_per_hour"] == pytest.approx(A100 / HOURS_PER_MONTH, abs=1e-4)
    assert row["monthly_output_tokens"] == 657_000_000
    assert row["usd_per_million_output_tokens"] == pytest.approx(A100 / 657, abs=1e-4)


def test_a_multi_node_replica_is_one_replica_not_a_canary(lab: tuple[dict, str]) -> None:
    # GIVEN research-assistant: one replica of TP 8 × 2 nodes, 16 H100s
    cost = lab[0]
    [served] = [r for r in cost["per_model"] if r["name"] == "research-assistant"]
    row = llm(cost, "research-assistant")
    # THEN its 16 GPUs are one replica's, no canary's (slices count GPUs for multi-GPU replicas)
    assert (served["replicas"], served["canary_replicas"], served["slices"]) == (1, 0, 16)
    assert "(1 replica)" in served["basis"] and "canary" not in served["basis"]
    assert (row["gpus"], row["usd_per_hour"]) == (16, pytest.approx(16 * H100 / HOURS_PER_MONTH, abs=1e-4))


def test_the_same_gpus_rented_on_demand_in_the_comparison_region(lab: tuple[dict, str]) -> None:
    # GIVEN document-review's 8 H100s, compared in us-east-1 (the lab has no cloud region): p5.48xlarge at 55.04 USD/h for 8 GPUs
    cloud = llm(lab[0], "document-review")["cloud"]
    # THEN renting them costs 8 × 730 × 6.88 USD a month, 57.33 USD per million of its 700.8 M tokens
    assert (cloud["region"], cloud["instance"], cloud["usd_per_gpu_hour"]) == ("us-east-1", "p5.48xlarge", pytest.approx(6.88))
    assert cloud["monthly"] == pytest.approx(8 * 730 * 6.88, abs=0.01)
    assert cloud["usd_per_million_output_tokens"] == pytest.approx(8 * 730 * 6.88 / 700.8, abs=1e-4)


def test_token_showback_charges_each_teams_tokens_at_the_showback_gpu_hour(lab: tuple[dict, str]) -> None:
    # GIVEN the lab's LLMs, all clinical-ai's, and the showback's rate (the amortized on-prem GPU-hour)
    cost = lab[0]
    rate = cost["showback"]["rate"]["usd_per_gpu_hour"]
    rows = cost["llms"]["models"]
    # THEN each model's showback per million output tokens is its GPU-hours × the rate over its tokens
    for row in rows:
        assert row["showback_usd_per_million_output_tokens"] == pytest.approx(row["gpus"] * HOURS_PER_MONTH * rate / (row["monthly_output_tokens"] / 1e6), rel=1e-4)
    # AND the team is charged its tokens at those rates: all its LLMs' GPU-hours × the rate
    [team] = cost["llms"]["teams"]
    assert team["team"] == "clinical-ai" and team["models"] == ["notes-summarizer", "discharge-letters", "research-assistant", "document-review"]
    assert team["monthly_output_tokens"] == sum(r["monthly_output_tokens"] for r in rows)
    assert team["amount"] == pytest.approx(sum(r["gpus"] for r in rows) * HOURS_PER_MONTH * rate, abs=0.05)
    assert cost["llms"]["assumptions"] == {"planned_load": 0.7, "showback_usd_per_gpu_hour": rate, "showback_rate_source": cost["showback"]["rate"]["source"]}


def test_prompt_tokens_and_peak_hours_change_the_tokens_a_month(tmp_path: Path) -> None:
    # GIVEN document-review with 1,500 prompt tokens per request, at its peak around the clock
    cost, _ = plan_lab(tmp_path, **{"document-review": {"promptTokensPerRequest": 1500, "peakHoursPerDay": 24}})
    row = llm(cost, "document-review")
    # THEN its month is 3 × the 8-hour month's tokens: 2,102.4 M output, 2 × 1,500 × 3,600 × 24 × 730/24 = 7,884 M prompt
    assert row["monthly_output_tokens"] == 2_102_400_000 and row["monthly_prompt_tokens"] == 7_884_000_000
    # AND a million of all its tokens costs its month over both
    assert row["usd_per_million_tokens"] == pytest.approx(8 * H100 / (2102.4 + 7884), abs=1e-4)
    assert row["usd_per_million_output_tokens"] == pytest.approx(8 * H100 / 2102.4, abs=1e-4)
    # AND the mean load is the peak: 800 of 1,800
    assert row["throughput"]["utilization"] == pytest.approx(800 / 1800, abs=1e-4)


def test_summary_shows_cost_per_token_and_the_token_showback(lab: tuple[dict, str]) -> None:
    # GIVEN the lab's summary.md
    cost, summary = lab
    row = llm(cost, "document-review")
    # THEN its economics show each LLM's cost per million tokens, row by row
    assert "| LLM | team | GPUs | USD per hour | output tokens/s (peak of capacity) | h/day | utilization | output tokens a month | USD per M output tokens | floor | USD per M tokens | rented: USD per M output tokens |" in summary
    assert (
        f"| document-review | clinical-ai | 8.00 H100-80GB | {row['usd_per_hour']:.2f} | 800 of 1,800 | 8 | 15 % | 700.8 M | {row['usd_per_million_output_tokens']:.2f} | "
        f"{row['usd_per_million_output_tokens_at_planned_load']:.2f} | — | 57.33 (p5.48xlarge, us-east-1) |"
    ) in summary
    assert "| notes-summarizer | clinical-ai | 1.00 A100-80GB (3g.40gb) |" in summary
    # AND the token showback by team
    [team] = cost["llms"]["teams"]
    assert f"| clinical-ai | notes-summarizer, discharge-letters, research-assistant, document-review | 2,146.2 M | {team['amount']:,.0f} |" in summary


def test_a_stack_without_llms_has_no_llm_economics() -> None:
    # GIVEN manufacturing-prod, which serves no LLM THEN its cost.json and summary.md have none of it
    _, files = planned("manufacturing-prod")
    assert "llms" not in json.loads(files[Path("cost.json")])
    assert "LLMs: cost per million tokens" not in files[Path("summary.md")] and "Token showback" not in files[Path("summary.md")]
