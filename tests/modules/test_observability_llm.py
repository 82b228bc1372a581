"""The LLM alerts and dashboard of modules/observability.py: each objective on vLLM's histogram
boundary at or below it, multiwindow multi-burn-rate alerts that fire on a fast and a slow burn and
stay quiet on a healthy model (`promtool test rules`), queue, KV cache and replica alerts, the
`model` relabeling, the dashboard, and the lab stack's LLMs planned with all of it."""
from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from hybridai.modules.observability import ITL, TTFT, AlertArgs, LlmObjective, alert_groups, dashboards, expressions, llm_alerts, model_relabelings
from hybridai.plan import run_plan
from tests.conftest import ROOT
from tests.harness.upstream import upstream, validate_custom_resource
from tests.helpers import of_kind, promtool, promtool_test

FIXTURE = yaml.safe_load((ROOT / "tests" / "capacity" / "fixtures" / "llm-catalog.yaml").read_text())
NOTES = LlmObjective(namespace="clinical-ai", model="notes", ttft_objective_ms=1500, ttft_bucket_seconds=1.0, itl_objective_ms=50, itl_bucket_seconds=0.05, min_replicas=2, queue_per_replica=8)
LETTERS = LlmObjective(namespace="clinical-ai", model="letters", ttft_objective_ms=1000, ttft_bucket_seconds=1.0, itl_objective_ms=40, itl_bucket_seconds=0.025, queue_per_replica=4)
REVIEW = LlmObjective(namespace="legal", model="review", ttft_objective_ms=2000, ttft_bucket_seconds=1.0, itl_objective_ms=60, itl_bucket_seconds=0.05, min_replicas=2, queue_per_replica=16)
RULES = {"groups": alert_groups(AlertArgs(llm_objectives=(NOTES, LETTERS, REVIEW)))}


def rules_named(name: str) -> list[dict[str, Any]]:
    return [r for g in RULES["groups"] for r in g["rules"] if r.get("alert") == name]


def fired(rule: dict[str, Any], labels: dict[str, str], value: str = "") -> dict[str, Any]:
    """An expected alert of `rule`: its labels plus the series', its annotations rendered."""
    def render(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        return text.replace("{{ $value | humanizePercentage }}", value).replace("{{ $value }}", value)

    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": {k: render(v) for k, v in rule["annotations"].items()}}


def burn(name: str, model: LlmObjective, window: str) -> dict[str, Any]:
    [rule] = [r for r in rules_named(name) if r["labels"]["model"] == model.model and r["labels"]["window"] == window]
    return fired(rule, {"namespace": model.namespace, "model": model.model})


def one(name: str, model: LlmObjective, value: str = "", **labels: str) -> dict[str, Any]:
    [rule] = [r for r in rules_named(name) if r["labels"]["model"] == model.model]
    return fired(rule, {"namespace": model.namespace, "model": model.model, **labels}, value)


def histogram(metric: str, model: LlmObjective, le: str, good: int, total: int, minutes: int = 400) -> list[tuple[str, str]]:
    """A histogram's series whose bucket `le` grows by `good` and count by `total` a minute."""
    labels = f'namespace="{model.namespace}", model="{model.model}"'
    return [(f'{metric}_bucket{{{labels}, le="{le}"}}', f"0+{good}x{minutes}"), (f"{metric}_count{{{labels}}}", f"0+{total}x{minutes}")]


def test_objectives_are_measured_at_the_boundary_at_or_below_them() -> None:
    # GIVEN the lab's LLMs (TTFT 1,500 / 1,000 / 5,000 / 2,000 ms; inter-token 50 / 40 / 80 / 60 ms) in clinical-ai's namespace
    from hybridai.config.workloads import ServedModel

    models = [ServedModel.model_validate(m) for m in FIXTURE["models"] if "llm" in m]
    objectives = {m.name: LlmObjective.of(m, "clinical-ai") for m in models}
    # THEN each is measured on vLLM's bucket at or below it: 1,500 → 1 s, 40 → 25 ms, 60 → 50 ms, 80 → 75 ms; 1,000 and 5,000 and 50 are boundaries
    assert {n: (o.ttft_bucket_seconds, o.itl_bucket_seconds) for n, o in objectives.items()} == {
        "notes-summarizer": (1.0, 0.05), "discharge-letters": (1.0, 0.025), "research-assistant": (5.0, 0.075), "document-review": (1.0, 0.05),
    }
    # AND the queue alerts at one batch per replica, and non-production models need one replica
    assert (objectives["notes-summarizer"].queue_per_replica, objectives["notes-summarizer"].min_replicas) == (8, 1)


def test_burn_rate_alerts_are_the_workbooks_two_windows_on_the_p95_budget() -> None:
    # GIVEN notes' TTFT objective: 95 % of requests within 1 s, a 5 % budget over 30 days
    fast, slow = [r for r in rules_named("LlmTimeToFirstTokenBudgetBurn") if r["labels"]["model"] == "notes"]
    # THEN the fast pair pages at 14.4 × 5 % = 72 % bad over 1 h and 5 m, the slow one at 6 × 5 % = 30 % over 6 h and 30 m
    assert (fast["labels"]["window"], fast["labels"]["burn_rate"], slow["labels"]["window"], slow["labels"]["burn_rate"]) == ("1h", "14.4", "6h", "6")
    assert re.findall(r"\[(\w+)\]\)\)\) > ([0-9.]+)", fast["expr"]) == [("1h", "0.72"), ("5m", "0.72")]
    assert re.findall(r"\[(\w+)\]\)\)\) > ([0-9.]+)", slow["expr"]) == [("6h", "0.3"), ("30m", "0.3")]
    # AND a request is good within the 1 s bucket, whether stored as `1.0` (vLLM's client) or `1`
    assert f'{TTFT}_bucket{{namespace="clinical-ai", model="notes", le=~"1|1[.]0"}}' in fast["expr"]
    assert "vLLM's histogram boundary at or below the 1500 ms objective" in fast["annotations"]["description"]
    assert "2% of the 30-day error budget is gone in 1h" in fast["annotations"]["description"]
    # AND the inter-token latency pair on its 50 ms bucket
    [itl, _] = [r for r in rules_named("LlmInterTokenLatencyBudgetBurn") if r["labels"]["model"] == "notes"]
    assert f'{ITL}_bucket{{namespace="clinical-ai", model="notes", le=~"0[.]05"}}' in itl["expr"] and "tokens took longer than 50 ms," in itl["annotations"]["description"]


@pytest.fixture(scope="module")
def tool() -> str:
    return promtool()


CASES = [
    (
        "a fast TTFT burn (90 % slow) pages on the 1 h pair within minutes; a healthy model stays quiet",
        histogram(TTFT, NOTES, "1.0", 10, 100) + histogram(TTFT, LETTERS, "1", 10, 100) + histogram(TTFT, REVIEW, "1.0", 99, 100),
        [(10, "LlmTimeToFirstTokenBudgetBurn", [burn("LlmTimeToFirstTokenBudgetBurn", m, w) for m in (NOTES, LETTERS) for w in ("1h", "6h")])],
    ),
    (
        "a slow inter-token burn (40 % slow) pages on the 6 h pair only; 3 % slow stays quiet",
        histogram(ITL, NOTES, "0.05", 60, 100) + histogram(ITL, REVIEW, "0.05", 97, 100),
        [(40, "LlmInterTokenLatencyBudgetBurn", [burn("LlmInterTokenLatencyBudgetBurn", NOTES, "6h")])],
    ),
    (
        "a burn that stopped: each short window clears its page though the long one is still over",
        [(f'{TTFT}_bucket{{namespace="clinical-ai", model="notes", le="1.0"}}', "0+10x30 300+100x40"), (f'{TTFT}_count{{namespace="clinical-ai", model="notes"}}', "0+100x70")],
        [
            (28, "LlmTimeToFirstTokenBudgetBurn", [burn("LlmTimeToFirstTokenBudgetBurn", NOTES, w) for w in ("1h", "6h")]),
            # 15 minutes after: the last 5 m are good (the 1 h page clears), the last 30 m still half slow.
            (45, "LlmTimeToFirstTokenBudgetBurn", [burn("LlmTimeToFirstTokenBudgetBurn", NOTES, "6h")]),
            (65, "LlmTimeToFirstTokenBudgetBurn", []),
        ],
    ),
    (
        "more than a batch waiting per replica for 10 minutes fires; a short queue stays quiet",
        [
            ('vllm:num_requests_waiting{namespace="clinical-ai", model="notes", pod="notes-0"}', "12x20"),
            ('vllm:num_requests_waiting{namespace="clinical-ai", model="notes", pod="notes-1"}', "8x20"),
            ('vllm:num_requests_waiting{namespace="legal", model="review", pod="review-0"}', "20x5 0x15"),
        ],
        [(5, "LlmRequestsQueued", []), (15, "LlmRequestsQueued", [one("LlmRequestsQueued", NOTES, "10")])],
    ),
    (
        "a KV cache over 95 % for 15 minutes fires",
        [('vllm:kv_cache_usage_perc{namespace="legal", model="review", pod="review-0"}', "0.97x30"), ('vllm:kv_cache_usage_perc{namespace="legal", model="review", pod="review-1"}', "0.5x30")],
        [(10, "LlmKvCacheSaturated", []), (20, "LlmKvCacheSaturated", [one("LlmKvCacheSaturated", REVIEW, "97%", pod="review-0")])],
    ),
    (
        "no replica answering fires after 5 minutes, with no series at all too; one of two warns after 15",
        [
            ('up{namespace="clinical-ai", model="notes", pod="notes-0"}', "1x5 0x20"),
            ('up{namespace="legal", model="review", pod="review-0"}', "1x30"),
            ('up{namespace="legal", model="review", pod="review-1"}', "1x5 0x25"),
        ],
        [
            # letters has no series at all: down since the start; notes stops answering at 6 minutes.
            (4, "LlmNoReplicaAnswering", []),
            (8, "LlmNoReplicaAnswering", [one("LlmNoReplicaAnswering", LETTERS)]),
            (12, "LlmNoReplicaAnswering", [one("LlmNoReplicaAnswering", NOTES), one("LlmNoReplicaAnswering", LETTERS)]),
            (15, "LlmReplicasBelowMinimum", []),
            (25, "LlmReplicasBelowMinimum", [one("LlmReplicasBelowMinimum", REVIEW, "1")]),
        ],
    ),
]


@pytest.mark.parametrize("case,series,checks", CASES, ids=[c[0] for c in CASES])
def test_llm_alert_fires_and_stays_quiet(case: str, series: list, checks: list, tool: str, tmp_path: Path) -> None:
    result = promtool_test(RULES, series, checks, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_model_with_one_replica_has_no_below_minimum_alert() -> None:
    # GIVEN letters, a non-production LLM (one replica) THEN only "no replica" covers it
    names = {r["alert"] for r in llm_alerts(LETTERS)}
    assert "LlmReplicasBelowMinimum" not in names and "LlmNoReplicaAnswering" in names


def test_the_relabeling_names_the_model_from_either_kserve_label() -> None:
    # GIVEN the relabeling the vLLM scrape applies (Prometheus anchors the regex)
    [relabel] = model_relabelings()
    regex = re.compile(relabel["regex"])

    def model(isvc: str, llmisvc: str) -> str | None:
        match = regex.fullmatch(f"{isvc};{llmisvc}")
        return None if match is None else relabel["replacement"].replace("${1}", match.group(1) or "").replace("${2}", match.group(2) or "")

    # THEN an InferenceService's name wins, an LLMInferenceService's is used alone, a pod of neither gets none
    assert (model("notes", ""), model("", "review"), model("notes", "vllm"), model("", "")) == ("notes", "review", "notes", None)
    assert relabel["targetLabel"] == "model"
    # AND it is a valid PodMonitor endpoint relabeling for the pinned Prometheus Operator CRD
    upstream()
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "vllm", "namespace": "clinical-ai"},
        "spec": {"selector": {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]}, "podMetricsEndpoints": [{"port": "http", "relabelings": model_relabelings()}]},
    }
    assert validate_custom_resource(monitor) == []


def test_the_llm_dashboard_shows_each_objective_tokens_queue_cache_replicas_and_cost() -> None:
    # GIVEN a cluster serving notes and review
    board = dashboards(100, (NOTES, REVIEW))["llm"]
    titles = [p["title"] for p in board["panels"]]
    exprs = expressions([], {"llm": board})
    # THEN the dashboard has a panel per view, objectives drawn beside the p95
    assert titles == [
        "Time to first token p95 against the objective", "Inter-token latency p95 against the objective", "Share of requests (tokens) within the objective's bucket, last hour",
        "Output and prompt tokens per second", "Requests waiting and running", "KV-cache use (fullest replica)", "Replicas answering",
        "USD per million output tokens (OpenCost's GPU-hour, whole GPUs)",
    ]
    assert {"vector(1.5)", "vector(2)", "vector(0.05)"} <= set(exprs)
    for metric in (f"{TTFT}_bucket", f"{ITL}_bucket", "vllm:generation_tokens_total", "vllm:prompt_tokens_total", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "node_gpu_hourly_cost", "container_gpu_allocation"):
        assert any(metric in e for e in exprs), metric
    for expr in exprs:
        promql_parser.parse(expr)
    # AND a cluster without LLMs has no LLM dashboard
    assert "llm" not in dashboards(100)


@pytest.fixture(scope="module")
def lab_plan(tmp_path_factory: pytest.TempPathFactory):
    project = tmp_path_factory.mktemp("lab")
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.healthcare-dev.yaml").read_text())
    document["config"].update({f"hybrid-ai:{key}": copy.deepcopy(value) for key, value in FIXTURE.items()})
    (project / "stacks").mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (project / "stacks" / "Pulumi.llm-lab.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return run_plan("llm-lab", project)


def test_the_lab_stacks_llms_get_their_alerts_and_dashboard(lab_plan, tool: str, tmp_path: Path) -> None:
    # GIVEN the lab stack planned with its four LLMs and one predictive model
    [rules] = [r.inputs["spec"] for r in of_kind(lab_plan.resources, "PrometheusRule") if r.inputs["metadata"]["name"] == "hybridai-gpu-alerts"]
    groups = {g["name"]: g for g in rules["groups"]}
    # THEN the LLMs are alerted on vLLM's metrics, not on the predictive models' p99
    llm_models = {r["labels"]["model"] for r in groups["hybridai-llm-objectives"]["rules"]}
    assert llm_models == {"notes-summarizer", "discharge-letters", "research-assistant", "document-review"}
    assert {r["labels"]["model"] for r in groups["hybridai-model-objectives"]["rules"]} == {"chest-xray-next"}
    # AND the rules pass promtool's check
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rules["groups"]}))
    result = subprocess.run([tool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # AND Grafana's sidecar loads the LLM dashboard beside the other three
    boards = {r.inputs["metadata"]["name"]: r for r in of_kind(lab_plan.resources, "ConfigMap") if "grafana_dashboard" in r.inputs["metadata"].get("labels", {})}
    assert set(boards) == {"hybridai-dashboard-gpu-fleet", "hybridai-dashboard-inference", "hybridai-dashboard-gpu-quotas", "hybridai-dashboard-llm"}
    llm = json.loads(boards["hybridai-dashboard-llm"].inputs["data"]["llm.json"])
    assert llm["uid"] == "hybridai-llm" and 'model=~"notes-summarizer|discharge-letters|research-assistant|document-review"' in llm["panels"][0]["targets"][0]["expr"]


def test_every_llm_rule_parses_and_passes_promtool_check(tool: str, tmp_path: Path) -> None:
    # GIVEN the LLM rules of three models THEN each expression parses and the groups pass `promtool check rules`
    for expr in expressions(RULES["groups"], {}):
        promql_parser.parse(expr)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(RULES))
    result = subprocess.run([tool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
