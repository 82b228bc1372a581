"""GPU alert rules and dashboards: every expression parses, every group passes `promtool check
rules`, and the important alerts fire — and stay quiet — on synthetic series (`promtool test rules`)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from hybridai.modules.observability import AlertArgs, DriftWatch, ModelObjective, alert_groups, dashboards, expressions
from tests.conftest import EXAMPLE_STACKS, planned
from tests.helpers import of_kind, prepared, promtool, promtool_test

ARGS = AlertArgs(
    latency_objective_ms=50,
    training_namespaces=("clinical-research", "fraud"),
    queue_backlog_hint="Submit it to the cloud pool.",
    karpenter=True,
    log_collectors=True,
    audit_archive_check="logging",
    autoscaling=True,
    model_objectives=(
        ModelObjective(namespace="fraud", model="fraud-score", latency_objective_ms=20),
        ModelObjective(namespace="fraud", model="fraud", latency_objective_ms=20),
    ),
    drift_watches=(DriftWatch(namespace="fraud", model="fraud-score", version=12, threshold=0.25, latency_objective_ms=50, stale_after_seconds=600),),
)
RULES = {"groups": alert_groups(ARGS)}


def stack_rules(stack: str) -> list[dict[str, Any]]:
    """The GPU alert rules of each cluster (Velero's backup alerts: tests/modules/test_backup.py)."""
    plan, _ = planned(stack)
    return [r.inputs["spec"] for r in of_kind(plan.resources, "PrometheusRule") if r.inputs["metadata"]["name"] == "hybridai-gpu-alerts"]


def stack_dashboards(stack: str) -> list[dict[str, Any]]:
    import json

    plan, _ = planned(stack)
    return [json.loads(text) for r in of_kind(plan.resources, "ConfigMap") if "grafana_dashboard" in r.inputs["metadata"].get("labels", {}) for text in r.inputs["data"].values()]


def test_every_expression_parses(example_stack: str) -> None:
    rules = stack_rules(example_stack)
    boards = stack_dashboards(example_stack)
    serving_llms = sum(any(g["name"] == "hybridai-llm-objectives" for g in spec["groups"]) for spec in rules)
    assert rules and len(boards) == 3 * len(rules) + serving_llms, "every cluster has the rules and three dashboards, and one for its LLMs"
    exprs = [e for spec in rules for e in expressions(spec["groups"], {})] + expressions([], {str(i): b for i, b in enumerate(boards)})
    for expr in exprs:
        promql_parser.parse(expr)  # raises ValueError on bad PromQL


def test_parser_rejects_bad_promql() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse('avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{pod!=""} < 10')


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_rule_group_passes_promtool_check(stack: str, tmp_path: Path) -> None:
    tool = promtool()
    for i, spec in enumerate(stack_rules(stack)):
        path = tmp_path / f"rules-{i}.yaml"
        path.write_text(yaml.safe_dump({"groups": spec["groups"]}))
        result = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_catches_a_broken_rule(tmp_path: Path) -> None:
    tool = promtool()
    broken = {"groups": [{"name": "x", "rules": [{"alert": "Broken", "expr": "sum(rate(x[5m])"}]}]}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    assert subprocess.run([tool, "check", "rules", str(tmp_path / "broken.yaml")], capture_output=True).returncode != 0


def rule(name: str) -> dict[str, Any]:
    """The rule named `name` (the first, for per-model rules)."""
    return next(r for g in RULES["groups"] for r in g["rules"] if r.get("alert") == name)


def fired(name: str, labels: dict[str, str], value: str | None = None) -> dict[str, Any]:
    """An expected alert: the rule's labels plus the series', annotations rendered for them."""
    def render(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        return text.replace("{{ $value }}", value or "").replace("{{ $value | humanizePercentage }}", value or "").replace("{{ $labels.cluster_queue }}", labels.get("cluster_queue", ""))

    r = rule(name)
    return {"exp_labels": {**r["labels"], **labels}, "exp_annotations": {k: render(v) for k, v in r["annotations"].items()}}


VERSION_12 = {"namespace": "fraud", "model": "fraud-score", "version": "12"}
"""fraud-score's served version, as the drift check's gauges label it (Argo's controller adds its pod)."""


def gauge(metric: str, version: str = "12") -> str:
    return f'argo_workflows_{metric}{{namespace="fraud", model="fraud-score", version="{version}", pod="workflow-controller-0"}}'


CASES = [
    (
        "drift over the version's threshold fires at the check that found it; under it, or of the previous version, stays quiet",
        [(gauge("model_drift_psi"), "0.1x5 0.4x10"), (gauge("model_drift_psi", "11"), "0.9x15")],
        [(3, "ModelInputDrift", []), (10, "ModelInputDrift", [fired("ModelInputDrift", VERSION_12, "0.4")])],
    ),
    (
        "the p95 of the decisions over the 50 ms objective fires; within it stays quiet",
        [(gauge("model_decision_latency_p95_seconds"), "0.03x5 0.07x10")],
        [(3, "ModelDecisionLatencyAboveObjective", []), (10, "ModelDecisionLatencyAboveObjective", [fired("ModelDecisionLatencyAboveObjective", VERSION_12, "0.07")])],
    ),
    (
        "a version without a baseline fires; one compared with its baseline stays quiet",
        [(gauge("model_drift_baseline"), "1x5 0x10")],
        [(3, "ModelDriftBaselineMissing", []), (10, "ModelDriftBaselineMissing", [fired("ModelDriftBaselineMissing", VERSION_12, "0")])],
    ),
    (
        "a check that hasn't finished for longer than two intervals and a deadline fires",
        [(gauge("model_drift_checked_timestamp_seconds"), "0x30")],
        [(5, "ModelDriftCheckStale", []), (15, "ModelDriftCheckStale", [fired("ModelDriftCheckStale", VERSION_12, "900")])],
    ),
    (
        "idle allocated GPU fires after 30 minutes; a busy one and a short dip stay quiet",
        [
            ('DCGM_FI_DEV_GPU_UTIL{namespace="radiology", pod="idle", Hostname="n1", gpu="0"}', "3x45"),
            ('DCGM_FI_DEV_GPU_UTIL{namespace="radiology", pod="busy", Hostname="n1", gpu="1"}', "85x45"),
            ('DCGM_FI_DEV_GPU_UTIL{namespace="pathology", pod="dip", Hostname="n2", gpu="0"}', "80x20 5x10 80x15"),
            ('DCGM_FI_DEV_GPU_UTIL{namespace="", pod="", Hostname="n3", gpu="0"}', "0x45"),
        ],
        [
            (25, "GpuAllocatedButIdle", []),
            (40, "GpuAllocatedButIdle", [fired("GpuAllocatedButIdle", {"namespace": "radiology", "pod": "idle", "Hostname": "n1", "gpu": "0"})]),
        ],
    ),
    (
        "team GPU quota at 90 % fires after 15 minutes; 50 % and a zero quota stay quiet",
        [
            ('kube_resourcequota{namespace="fraud", resource="requests.nvidia.com/gpu", type="used"}', "29x30"),
            ('kube_resourcequota{namespace="fraud", resource="requests.nvidia.com/gpu", type="hard"}', "32x30"),
            ('kube_resourcequota{namespace="credit", resource="requests.nvidia.com/gpu", type="used"}', "8x30"),
            ('kube_resourcequota{namespace="credit", resource="requests.nvidia.com/gpu", type="hard"}', "16x30"),
            ('kube_resourcequota{namespace="web", resource="requests.nvidia.com/gpu", type="used"}', "0x30"),
            ('kube_resourcequota{namespace="web", resource="requests.nvidia.com/gpu", type="hard"}', "0x30"),
        ],
        [
            (10, "TeamGpuQuotaNearlyExhausted", []),
            (20, "TeamGpuQuotaNearlyExhausted", [fired("TeamGpuQuotaNearlyExhausted", {"namespace": "fraud", "resource": "requests.nvidia.com/gpu"}, "90.62%")]),
        ],
    ),
    (
        "a node whose GPUs disappear fires; a steady node stays quiet",
        [
            ('kube_node_status_allocatable{node="gpu-1", resource="nvidia_com_gpu"}', "8x20 _x40"),
            ('kube_node_status_allocatable{node="gpu-2", resource="nvidia_com_mig_1g_10gb"}', "28x60"),
        ],
        [
            (15, "GpuNodeLostGpus", []),
            # Gone at 25 min (5 min staleness), firing 10 min later.
            (32, "GpuNodeLostGpus", []),
            (40, "GpuNodeLostGpus", [fired("GpuNodeLostGpus", {"node": "gpu-1"})]),
        ],
    ),
    (
        "p99 latency above the 50 ms objective fires after 10 minutes; a fast namespace stays quiet",
        [
            ('request_predict_seconds_bucket{namespace="fraud-serving", le="0.025"}', "0+50x30"),
            ('request_predict_seconds_bucket{namespace="fraud-serving", le="0.1"}', "0+90x30"),
            ('request_predict_seconds_bucket{namespace="fraud-serving", le="+Inf"}', "0+100x30"),
            ('request_predict_seconds_bucket{namespace="credit-serving", le="0.025"}', "0+100x30"),
            ('request_predict_seconds_bucket{namespace="credit-serving", le="0.1"}', "0+100x30"),
            ('request_predict_seconds_bucket{namespace="credit-serving", le="+Inf"}', "0+100x30"),
        ],
        [
            (8, "InferenceLatencyAboveObjective", []),
            (20, "InferenceLatencyAboveObjective", [fired("InferenceLatencyAboveObjective", {"namespace": "fraud-serving"})]),
        ],
    ),
    (
        "a model whose slow canary pushes p99 over its 20 ms objective fires; a model named as its prefix stays quiet",
        [
            # fraud-score: stable pods all under 10 ms, the canary's (10 % of requests) over 25 ms
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-score-predictor-7d9-x1", le="0.01"}', "0+90x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-score-predictor-7d9-x1", le="0.025"}', "0+90x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-score-predictor-7d9-x1", le="+Inf"}', "0+90x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-score-canary-predictor-5c4-y2", le="0.01"}', "0+0x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-score-canary-predictor-5c4-y2", le="0.025"}', "0+0x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-score-canary-predictor-5c4-y2", le="+Inf"}', "0+10x30"),
            # model `fraud`: fast; fraud-score's pods share its name as a prefix but are not its own
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-predictor-1a2-z3", le="0.01"}', "0+100x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-predictor-1a2-z3", le="0.025"}', "0+100x30"),
            ('request_predict_seconds_bucket{namespace="fraud", pod="fraud-predictor-1a2-z3", le="+Inf"}', "0+100x30"),
        ],
        [
            (8, "ModelLatencyAboveObjective", []),
            (20, "ModelLatencyAboveObjective", [fired("ModelLatencyAboveObjective", {"namespace": "fraud", "model": "fraud-score"})]),
        ],
    ),
    (
        "a GPU fallen off the bus (XID 79) pages at once and for 10 minutes after, whatever XID follows; clean GPUs stay quiet",
        [
            ('DCGM_FI_DEV_XID_ERRORS{Hostname="n1", gpu="3", UUID="GPU-1"}', "0x5 79x2 13x15"),
            ('DCGM_FI_DEV_XID_ERRORS{Hostname="n1", gpu="4", UUID="GPU-2"}', "0x22"),
        ],
        [
            (3, "GpuXidFallenOffTheBus", []),
            (6, "GpuXidFallenOffTheBus", [fired("GpuXidFallenOffTheBus", {"Hostname": "n1", "gpu": "3", "UUID": "GPU-1"}, "79")]),
            (15, "GpuXidFallenOffTheBus", [fired("GpuXidFallenOffTheBus", {"Hostname": "n1", "gpu": "3", "UUID": "GPU-1"}, "79")]),
            (20, "GpuXidFallenOffTheBus", []),
            # the application fault that followed is the team's warning, not a page
            (10, "GpuXidApplication", [fired("GpuXidApplication", {"Hostname": "n1", "gpu": "3", "UUID": "GPU-1"}, "13")]),
        ],
    ),
    (
        "an XID no class holds (46, RESET_GPU) still pages; a classified one doesn't fire it",
        [
            ('DCGM_FI_DEV_XID_ERRORS{Hostname="n1", gpu="2", UUID="GPU-C"}', "0x3 46x5"),
            ('DCGM_FI_DEV_XID_ERRORS{Hostname="n1", gpu="5", UUID="GPU-D"}', "0x3 79x5"),
        ],
        [
            (2, "GpuXidUnclassified", []),
            (5, "GpuXidUnclassified", [fired("GpuXidUnclassified", {"Hostname": "n1", "gpu": "2", "UUID": "GPU-C"}, "46")]),
        ],
    ),
    (
        "an uncontained memory error (XID 95) pages; a contained one (XID 94) only warns",
        [
            ('DCGM_FI_DEV_XID_ERRORS{Hostname="n1", gpu="0", UUID="GPU-A"}', "0x3 95x5"),
            ('DCGM_FI_DEV_XID_ERRORS{Hostname="n2", gpu="1", UUID="GPU-B"}', "0x3 94x5"),
        ],
        [
            (2, "GpuXidEccUncontained", []),
            (5, "GpuXidEccUncontained", [fired("GpuXidEccUncontained", {"Hostname": "n1", "gpu": "0", "UUID": "GPU-A"}, "95")]),
            (5, "GpuXidEccContained", [fired("GpuXidEccContained", {"Hostname": "n2", "gpu": "1", "UUID": "GPU-B"}, "94")]),
        ],
    ),
    (
        "uncorrectable ECC errors fire; a steady counter stays quiet",
        [
            ('DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{Hostname="n1", gpu="0"}', "0x10 2x10"),
            ('DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{Hostname="n1", gpu="1"}', "5x20"),
        ],
        [(5, "GpuEccDoubleBitErrors", []), (15, "GpuEccDoubleBitErrors", [fired("GpuEccDoubleBitErrors", {"Hostname": "n1", "gpu": "0"})])],
    ),
    (
        "a ClusterQueue with workloads queued over an hour fires; one that drains in time stays quiet",
        [
            ('kueue_pending_workloads{cluster_queue="fraud", status="active"}', "2x90"),
            ('kueue_pending_workloads{cluster_queue="fraud", status="inadmissible"}', "1x90"),
            ('kueue_pending_workloads{cluster_queue="credit", status="active"}', "3x30 0x60"),
        ],
        [
            (50, "TrainingQueuedTooLong", []),
            (70, "TrainingQueuedTooLong", [fired("TrainingQueuedTooLong", {"cluster_queue": "fraud"}, "3")]),
        ],
    ),
    (
        "EC2 refusing Karpenter's launches for 15 minutes fires; one refusal that stops stays quiet",
        [
            ('karpenter_cloudprovider_errors_total{controller="nodeclaim.lifecycle", method="Create", provider="aws", error="InsufficientInstanceCapacity"}', "0+1x60"),
            ('karpenter_cloudprovider_errors_total{controller="nodeclaim.lifecycle", method="Delete", provider="aws", error="NotFound"}', "0x5 1x55"),
        ],
        [
            (10, "KarpenterCannotLaunchNodes", []),
            (40, "KarpenterCannotLaunchNodes", [fired("KarpenterCannotLaunchNodes", {"method": "Create", "error": "InsufficientInstanceCapacity"})]),
        ],
    ),
    (
        "a NodePool at its GPU limit for 30 minutes fires; one below it stays quiet",
        [
            ('karpenter_nodepools_usage{nodepool="a100", resource_type="nvidia.com/gpu"}', "48x60"),
            ('karpenter_nodepools_limit{nodepool="a100", resource_type="nvidia.com/gpu"}', "48x60"),
            ('karpenter_nodepools_usage{nodepool="l40s", resource_type="nvidia.com/gpu"}', "4x60"),
            ('karpenter_nodepools_limit{nodepool="l40s", resource_type="nvidia.com/gpu"}', "8x60"),
        ],
        [
            (20, "KarpenterNodePoolAtGpuLimit", []),
            (40, "KarpenterNodePoolAtGpuLimit", [fired("KarpenterNodePoolAtGpuLimit", {"nodepool": "a100"})]),
        ],
    ),
    (
        "pods no NodePool fits for 30 minutes fire; a moment of them stays quiet",
        [('karpenter_scheduler_unschedulable_pods_count{controller="provisioner"}', "0x5 3x50")],
        [(20, "KarpenterUnschedulablePods", []), (45, "KarpenterUnschedulablePods", [fired("KarpenterUnschedulablePods", {}, "3")])],
    ),
    (
        "a training pod pending over an hour fires; an inference pod pending as long stays quiet",
        [
            ('kube_pod_status_phase{namespace="fraud", pod="train-1", phase="Pending"}', "1x90"),
            ('kube_pod_status_phase{namespace="fraud-serving", pod="srv-1", phase="Pending"}', "1x90"),
        ],
        [(50, "TrainingPodPendingTooLong", []), (70, "TrainingPodPendingTooLong", [fired("TrainingPodPendingTooLong", {"namespace": "fraud", "pod": "train-1"})])],
    ),
    (
        "a collector reading logs that Loki stops accepting fires after 15 minutes; a shipping one stays quiet",
        [
            ('fluentbit_input_records_total{namespace="log-collector", pod="fb-a", name="tail.0"}', "0+100x60"),
            ('fluentbit_output_proc_records_total{namespace="log-collector", pod="fb-a", name="loki_containers"}', "0+100x10 1000x50"),
            ('fluentbit_output_proc_records_total{namespace="log-collector", pod="fb-a", name="audit_archive"}', "0+100x60"),
            ('fluentbit_input_records_total{namespace="log-collector", pod="fb-b", name="tail.0"}', "0+100x60"),
            ('fluentbit_output_proc_records_total{namespace="log-collector", pod="fb-b", name="loki_containers"}', "0+100x60"),
        ],
        # (the archive output's counter keeps rising: it doesn't count as shipping to Loki)
        [(20, "LogShippingStalled", []), (45, "LogShippingStalled", [fired("LogShippingStalled", {"namespace": "log-collector", "pod": "fb-a"})])],
    ),
    (
        "records Loki's outputs give up on fire at once; none dropped stays quiet",
        [
            ('fluentbit_output_dropped_records_total{namespace="log-collector", pod="fb-a", name="loki_journal"}', "0x10 7x20"),
            ('fluentbit_output_dropped_records_total{namespace="log-collector", pod="fb-b", name="loki_journal"}', "0x30"),
        ],
        [(5, "LogRecordsDropped", []), (15, "LogRecordsDropped", [fired("LogRecordsDropped", {"namespace": "log-collector", "pod": "fb-a", "name": "loki_journal"}, "7")])],
    ),
    (
        "an edge buffer over 80 % full for 10 minutes fires; one at half stays quiet",
        [
            ('fluentbit_output_chunk_available_capacity_percent{namespace="log-collector", pod="fb-edge", name="loki_containers"}', "100x5 15x30"),
            ('fluentbit_output_chunk_available_capacity_percent{namespace="log-collector", pod="fb-dc", name="loki_containers"}', "50x35"),
        ],
        [(10, "LogBufferFilling", []), (20, "LogBufferFilling", [fired("LogBufferFilling", {"namespace": "log-collector", "pod": "fb-edge", "name": "loki_containers"})])],
    ),
    (
        "the archive check without a success for two hours fires; the check in another namespace is not watched",
        [
            ('kube_cronjob_status_last_successful_time{namespace="logging", cronjob="audit-archive-check"}', "0x200"),
            ('kube_cronjob_status_last_successful_time{namespace="other", cronjob="audit-archive-check"}', "0x200"),
        ],
        [(100, "AuditArchiveCheckFailing", []), (125, "AuditArchiveCheckFailing", [fired("AuditArchiveCheckFailing", {"namespace": "logging", "cronjob": "audit-archive-check"})])],
    ),
]


CASES += [
    (
        "a KEDA scaler failing for 10 minutes fires; one that failed once and recovered stays quiet",
        [
            (
                'keda_scaler_detail_errors_total{namespace="radiology", scaledObject="chest-xray-predictor", scaler="prometheusScaler", triggerIndex="0", metric="s0-prometheus", type="scaledobject"}',
                "0+2x30",
            ),
            (
                'keda_scaler_detail_errors_total{namespace="fraud", scaledObject="fraud-score-predictor", scaler="prometheusScaler", triggerIndex="1", metric="s1-prometheus", type="scaledobject"}',
                "0x5 1x25",
            ),
        ],
        [
            (8, "KedaScalerErrors", []),
            (20, "KedaScalerErrors", [fired("KedaScalerErrors", {"namespace": "radiology", "scaledObject": "chest-xray-predictor", "scaler": "prometheusScaler", "triggerIndex": "0"})]),
        ],
    ),
    (
        "a predictor whose metrics can't be scraped for 10 minutes fires; a scraped one and other jobs stay quiet",
        [
            ('up{job="kserve-predictors", namespace="pathology", pod="slide-triage-predictor-7d9f-abcde", instance="10.0.0.7:8082"}', "0x30"),
            ('up{job="kserve-predictors", namespace="radiology", pod="chest-xray-predictor-5c4b-fghij", instance="10.0.0.8:8002"}', "1x30"),
            ('up{job="other", namespace="radiology", pod="web-1", instance="10.0.0.9:80"}', "0x30"),
        ],
        [
            (5, "ModelMetricsNotScraped", []),
            (15, "ModelMetricsNotScraped", [fired("ModelMetricsNotScraped", {"namespace": "pathology", "pod": "slide-triage-predictor-7d9f-abcde"})]),
        ],
    ),
]


@pytest.mark.parametrize("case,series,checks", CASES, ids=[c[0] for c in CASES])
def test_alert_fires_and_stays_quiet(case: str, series: list, checks: list, tmp_path: Path) -> None:
    result = promtool_test(RULES, series, checks, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_catalog_model_is_alerted_on_its_own_objective() -> None:
    # GIVEN finance-prod's fraud-score at 50 ms and credit-limit at the stack's default (100 ms)
    [spec] = [s for s in stack_rules("finance-prod") if any(g["name"] == "hybridai-model-objectives" for g in s["groups"])]
    [group] = [g for g in spec["groups"] if g["name"] == "hybridai-model-objectives"]
    objectives = {r["labels"]["model"]: r["expr"].rsplit(" > ", 1)[1] for r in group["rules"]}
    assert objectives == {"fraud-score": "0.05", "credit-limit": "0.1"}
    assert 'namespace="fraud", pod=~"fraud-score-(canary-)?predictor-.+"' in group["rules"][0]["expr"]


def test_training_alert_only_where_training_namespaces_exist() -> None:
    names = {r["alert"] for g in alert_groups(AlertArgs()) for r in g["rules"]}
    assert "TrainingPodPendingTooLong" not in names
    assert "TrainingQueuedTooLong" not in names
    assert {"GpuAllocatedButIdle", "GpuXidFallenOffTheBus", "GpuXidEccDoubleBit", "GpuEccDoubleBitErrors", "GpuTemperatureHigh", "GpuNodeLostGpus", "InferenceLatencyAboveObjective", "TeamGpuQuotaNearlyExhausted"} <= names


def test_queue_backlog_alert_says_where_to_overflow() -> None:
    # GIVEN finance-prod, whose fraud team trains on-prem and on the cloud pool
    plan, _ = planned("finance-prod")
    hints = {}
    for r in of_kind(plan.resources, "PrometheusRule"):
        for group in r.inputs["spec"]["groups"]:
            for rule_ in group["rules"]:
                if rule_.get("alert") == "TrainingQueuedTooLong":
                    hints[r.target] = rule_["annotations"]["description"]
    # THEN the on-prem backlog points to the cloud pool, and the cloud's to its limits
    assert "submit the same job there to overflow" in hints["dc1"]
    assert "NodePools are at their GPU limits" in hints["training"]
    # AND Kueue exposes its queue metrics through the chart's ServiceMonitor, created after the
    # monitoring CRDs exist
    kueue = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"].endswith("kueue") and r.target == "dc1"]
    values = kueue[0].inputs["values"]
    assert {k: values[k] for k in ("enablePrometheus", "metrics")} == {"enablePrometheus": True, "metrics": {"prometheusNamespace": "monitoring"}}
    assert any("kube-prometheus-stack" in d for d in kueue[0].dependencies)


def test_dashboards_cover_gpu_inference_and_quota_views() -> None:
    boards = dashboards(50)
    exprs = " ".join(expressions([], boards))
    for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "request_predict_seconds_bucket", "kube_resourcequota"):
        assert metric in exprs
    assert "by (namespace)" in exprs and "by (Hostname)" in exprs


def test_a_clusters_alerts_have_the_stacks_thresholds_and_each_models_own_objective() -> None:
    # GIVEN finance-prod: fraud-score with its own 50 ms objective, credit-limit with none (the stack's 100 ms)
    spec, _ = prepared("finance-prod")
    # WHEN the on-prem cluster's alert args are made, its training queued
    args = AlertArgs.of(spec.monitoring, spec.teams, spec.models, queue_backlog_hint="Wait.", log_collectors=True)
    # THEN the stack's thresholds, each model at its objective in its team's namespace
    settings = spec.monitoring
    assert (args.latency_objective_ms, args.idle_gpu_percent, args.idle_gpu_minutes, args.quota_alert_percent, args.pending_training_minutes) == (
        settings.latency_objective_ms, settings.idle_gpu_percent, settings.idle_gpu_minutes, settings.quota_alert_percent, settings.pending_training_minutes
    )
    assert args.model_objectives == (
        ModelObjective(namespace="fraud", model="fraud-score", latency_objective_ms=50),
        ModelObjective(namespace="credit-serving", model="credit-limit", latency_objective_ms=100),
    )
    assert (args.queue_backlog_hint, args.log_collectors, args.karpenter) == ("Wait.", True, False)


def test_only_training_tier_namespaces_get_the_pending_training_alert() -> None:
    # GIVEN healthcare-prod, whose clinical-research team is the only `training`-tier one
    spec, _ = prepared("healthcare-prod")
    assert AlertArgs.of(spec.monitoring, spec.teams).training_namespaces == ("clinical-research",)


def test_autoscaling_alerts_only_where_keda_scales_models() -> None:
    # GIVEN manufacturing-prod: models on the plant cluster, none on EKS
    plan, _ = planned("manufacturing-prod")
    groups = {r.target: {g["name"] for g in r.inputs["spec"]["groups"]} for r in of_kind(plan.resources, "PrometheusRule") if r.inputs["metadata"]["name"] == "hybridai-gpu-alerts"}
    # THEN the autoscaling alerts are evaluated where KEDA runs, and only there
    assert "hybridai-autoscaling" in groups["plant-dc"] and "hybridai-autoscaling" not in groups["training"]
    assert {r["alert"] for g in RULES["groups"] if g["name"] == "hybridai-autoscaling" for r in g["rules"]} == {"KedaScalerErrors", "ModelMetricsNotScraped"}


def test_an_xid_alert_per_class_at_its_severity_saying_what_the_cluster_does() -> None:
    # GIVEN the XID classes of hybridai/data/gpu-health.yaml
    from hybridai import catalog
    from hybridai.modules.observability import XID_REMEDIATION

    classes = catalog.gpu_health().xid_classes
    # WHEN the alerts of an EKS cluster (node repair) are made
    [health] = [g for g in alert_groups(AlertArgs(xid_remediation="node-repair")) if g["name"] == "hybridai-gpu-health"]
    xid = {r["labels"]["xid_class"]: r for r in health["rules"] if "xid_class" in r["labels"]}
    # THEN one alert per class, at the class's severity, naming its action
    assert set(xid) == {*classes, "unclassified"}
    assert {n: (r["labels"]["severity"], r["labels"]["action"]) for n, r in xid.items() if n in classes} == {n: (c.severity, c.action) for n, c in classes.items()}
    assert xid["unclassified"]["labels"]["severity"] == "critical"
    assert xid["fallen-off-the-bus"]["labels"]["severity"] == "critical" and xid["application"]["labels"]["severity"] == "warning"
    # AND those needing action say what happens on their own; none-action ones don't
    assert xid["gsp"]["annotations"]["description"].endswith(XID_REMEDIATION["node-repair"])
    assert XID_REMEDIATION["node-repair"] not in xid["ecc-contained"]["annotations"]["description"]
    # AND each selects exactly its XIDs
    assert "DCGM_FI_DEV_XID_ERRORS == 119 or DCGM_FI_DEV_XID_ERRORS == 120" in xid["gsp"]["expr"]
    # AND the summary names the node, the GPU and the XID
    assert "$labels.Hostname" in xid["gsp"]["annotations"]["summary"] and "$labels.UUID" in xid["gsp"]["annotations"]["summary"] and "$value" in xid["gsp"]["annotations"]["summary"]
