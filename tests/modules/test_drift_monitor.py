"""DriftMonitor (modules/drift_monitor.py): the checks' CronWorkflows beside the decision sink, their
pods (restricted, no token, credentials as files, egress to what they read), their metrics as Argo
exports them, and what finance-prod and healthcare-prod deploy; the training workflow's baseline step."""
from __future__ import annotations

import copy
import json
import re

import pulumi
import pytest

from hybridai.config.decisions import DecisionSinkSettings
from hybridai.config.drift import CHECK_LAG_SECONDS, ModelDrift
from hybridai.config.workloads import ServedModel
from hybridai.modules import drift_monitor as dm
from hybridai.modules.gpu_operator import GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform
from hybridai.modules.target import Target, TargetArgs
from hybridai.modules.scripts import script
from hybridai.recorded import MLOPS_JOB_LABEL
from tests.conftest import planned
from tests.harness.upstream import upstream, validate_custom_resource
from tests.helpers import named, of_kind, prepared, release, run_module
from tests.modules.test_decision_log import ARCHIVE


def served(name: str, drift: dict | None = None, version: int = 3) -> ServedModel:
    return ServedModel.model_validate(
        {"name": name, "team": "fraud", "registry": {"model": name, "version": version}, "gpuMemoryGb": 10, "peakRps": 100, "throughputRps": 50, **({"drift": drift} if drift else {})}
    )


def monitor(*models: ServedModel) -> dm.DriftMonitorArgs:
    return dm.DriftMonitorArgs.of(DecisionSinkSettings(), "dc1", [(m, "fraud") for m in models], ARCHIVE)


def on(stack: str, target: str = "dc1") -> list:
    plan, _ = planned(stack)
    return [r for r in plan.resources if r.target == target]


# --- Grouping ------------------------------------------------------------------------------------


def test_models_sharing_schedule_and_window_are_one_check() -> None:
    # GIVEN two models on the defaults and one with its own daily schedule
    args = monitor(served("a"), served("b"), served("c", {"schedule": {"cron": "0 3 * * *", "timeZone": "Europe/Berlin"}, "windowMinutes": 1440}))
    # THEN the defaults' models share a check, the other has its own, each version keyed in its check
    assert [(c.name, c.cron, c.time_zone, c.window_minutes, [(m.key, m.name) for m in c.models]) for c in args.checks] == [
        ("decision-drift-1", "0 * * * *", "UTC", 60, [("m0", "a"), ("m1", "b")]),
        ("decision-drift-2", "0 3 * * *", "Europe/Berlin", 1440, [("m0", "c")]),
    ]
    # AND the usual case, every model on the defaults, is one check named for the trail
    assert [c.name for c in monitor(served("a"), served("b")).checks] == ["decision-drift"]


def test_a_check_never_exceeds_argos_100_metrics_per_template() -> None:
    # GIVEN more models on one schedule than one template's metrics can hold
    args = monitor(*(served(f"m{i}") for i in range(dm.MAX_MODELS_PER_CHECK + 1)))
    # THEN they are split, and each template's metrics stay within the CRD's limit
    assert [len(c.models) for c in args.checks] == [dm.MAX_MODELS_PER_CHECK, 1]
    assert all(len(dm.metrics(c)) <= 100 for c in args.checks) and len(dm.metrics(args.checks[0])) > 90


# --- One check's workflow ------------------------------------------------------------------------


def test_the_check_pod_is_restricted_tokenless_and_reads_its_credentials_as_files() -> None:
    args = monitor(served("fraud-score", version=12))
    spec = dm.workflow_template(args.checks[0], args)
    [step] = spec["templates"]
    container = step["script"]
    # THEN no Kubernetes token reaches the check (only Argo's executor, as its own account)
    assert (spec["automountServiceAccountToken"], spec["executor"], spec["serviceAccountName"]) == (False, {"serviceAccountName": "decision-drift"}, "decision-drift")
    # AND it runs restricted, non-root, with a read-only root filesystem and /tmp its only writable place
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 1000, "runAsGroup": 1000}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # AND both credentials are read-only files of their Secrets, none an environment variable
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["archive-key"]["projected"]["sources"] == [
        {"secret": {"name": "decision-archive-reader", "items": [{"key": "access-key-id", "path": "access_key_id"}]}},
        {"secret": {"name": "decision-archive-reader", "items": [{"key": "secret-access-key", "path": "secret_access_key"}]}},
    ]
    assert volumes["mlflow-login"]["secret"]["secretName"] == "drift-monitor-mlflow"
    assert {(m["name"], m["mountPath"], m.get("readOnly", False)) for m in container["volumeMounts"]} == {
        ("archive-key", dm.ARCHIVE_KEY_DIR, True), ("mlflow-login", dm.MLFLOW_LOGIN_DIR, True), ("tmp", "/tmp", False)
    }
    assert all("value" in e and "valueFrom" not in e for e in container["env"])
    # AND it runs the program file in MLflow's image, with its window and the archive's decisions of its cluster
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["source"] == script("decision_drift.py") and container["image"].startswith("docker.io/burakince/mlflow:")
    assert (env["DRIFT_STEP"], env["WINDOW_SECONDS"], env["LAG_SECONDS"], env["ARCHIVE_PREFIX"], env["ARCHIVE_BUCKET"]) == ("check", "3600", str(CHECK_LAG_SECONDS), "decision/dc1/", "hybridai-audit")
    assert json.loads(env["MODELS"]) == [{"key": "m0", "namespace": "fraud", "name": "fraud-score", "registry_model": "fraud-score", "version": 12}]
    # AND it finds the credentials' files where they are mounted
    assert (env["ARCHIVE_KEY_ID_FILE"], env["ARCHIVE_SECRET_KEY_FILE"]) == (f"{dm.ARCHIVE_KEY_DIR}/access_key_id", f"{dm.ARCHIVE_KEY_DIR}/secret_access_key")
    assert (env["MLFLOW_USERNAME_FILE"], env["MLFLOW_PASSWORD_FILE"]) == (f"{dm.MLFLOW_LOGIN_DIR}/username", f"{dm.MLFLOW_LOGIN_DIR}/password")


def test_every_output_the_metrics_read_is_written_by_the_program() -> None:
    args = monitor(served("fraud-score", version=12), served("credit-limit", version=5))
    check = args.checks[0]
    [step] = dm.workflow_template(check, args)["templates"]
    outputs = {p["name"]: p["valueFrom"]["path"] for p in step["outputs"]["parameters"]}
    # THEN each version has each output, a file of the program's output folder
    assert outputs == {f"{m}-{o}": f"{dm.OUTPUT_DIR}/{m}-{o}" for m in ("m0", "m1") for o in dm.OUTPUTS}
    # AND every parameter a metric names is one of them
    named_ = {n for metric in step["metrics"]["prometheus"] for n in re.findall(r"outputs\.parameters\.([\w-]+)", json.dumps(metric))}
    assert named_ <= set(outputs) and {"m0-drift", "m0-p95", "m1-compared", "m1-checked"} <= named_


def test_each_version_gets_its_gauges_labelled_drift_only_when_compared() -> None:
    args = monitor(served("fraud-score", version=12))
    gauges = {m["name"]: m for m in dm.metrics(args.checks[0])}
    # THEN six gauges, names Argo accepts, each with one help text and the version's labels
    assert set(gauges) == set(dm.HELP) and all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", n) for n in gauges)
    assert all(g["help"] == dm.HELP[n] and g["gauge"]["realtime"] is False for n, g in gauges.items())
    assert all(g["labels"] == [{"key": "namespace", "value": "fraud"}, {"key": "model", "value": "fraud-score"}, {"key": "version", "value": "12"}] for g in gauges.values())
    # AND drift is emitted only when the check compared, latency only when decisions had one, all after success
    assert gauges[dm.DRIFT_METRIC]["when"] == "{{status}} == Succeeded && {{outputs.parameters.m0-compared}} == 1"
    assert gauges[dm.LATENCY_METRIC]["when"] == "{{status}} == Succeeded && {{outputs.parameters.m0-timed}} > 0"
    assert gauges[dm.BASELINE_METRIC]["when"] == "{{status}} == Succeeded"
    # AND no dash of a model name reaches a `when` expression (govaluate would read a minus)
    assert all("fraud-score" not in g["when"] for g in gauges.values())


def test_the_schedule_never_overlaps_and_skips_a_missed_run() -> None:
    args = monitor(served("a", {"schedule": {"cron": "*/30 * * * *", "timeZone": "UTC"}}))
    cron = dm.cron_workflow(args.checks[0])
    assert cron == {
        "schedules": ["*/30 * * * *"],
        "timezone": "UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "workflowSpec": {"workflowTemplateRef": {"name": "decision-drift"}},
    }


def test_the_checks_egress_reaches_dns_mlflow_the_archive_and_the_api_server_only() -> None:
    policy = dm.egress(monitor(served("a")))
    assert policy["podSelector"] == {"matchExpressions": [{"key": dm.CHECK_LABEL, "operator": "Exists"}]} and policy["policyTypes"] == ["Egress"]
    dns, mlflow, ports = policy["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}} and {p["port"] for p in dns["ports"]} == {53}
    assert mlflow == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}], "ports": [{"protocol": "TCP", "port": 5000}]}
    # (the test archive listens on 9000; the API server on 443 or 6443)
    assert ports == {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}, {"protocol": "TCP", "port": 9000}]}


def test_the_platform_refuses_checks_without_a_sink_or_argo() -> None:
    # GIVEN drift checks in a platform with neither the decision sink nor the training runtime
    from tests.modules.test_gpu_platform import minimal

    def program() -> None:
        GpuPlatform(Target("t", "c", TargetArgs(placement="onprem", context="c")), minimal(gpu_operator=GpuOperatorArgs(), drift=monitor(served("a"))))

    # THEN the program stops before registering anything, saying what the checks need
    with pytest.raises(pulumi.RunError, match="t-c-platform: the drift checks run beside the decision sink, on Argo Workflows"):
        run_module(program)


def test_the_check_validates_against_argos_pinned_crds_which_catch_a_broken_metric() -> None:
    # GIVEN finance-prod's check as the program writes it
    upstream()
    dc1 = on("finance-prod")
    template, cron = (copy.deepcopy({k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}) for r in (named(dc1, "WorkflowTemplate", "decision-drift"), named(dc1, "CronWorkflow", "decision-drift")))
    # THEN both are valid for Argo Workflows v4.0.6's CRDs (schema and CEL rules)
    assert validate_custom_resource(template) == [] and validate_custom_resource(cron) == []
    # AND the validation would catch a metric Argo refuses: a dash in its name, a gauge without `realtime`
    metrics = template["spec"]["templates"][0]["metrics"]["prometheus"]
    metrics[0]["name"] = "model-drift-psi"
    del metrics[1]["gauge"]["realtime"]
    errors = validate_custom_resource(template)
    assert any("model-drift-psi" in e for e in errors) and any("realtime" in e for e in errors)


# --- What the example stacks deploy ---------------------------------------------------------------


@pytest.mark.parametrize(("stack", "models"), [("finance-prod", {("fraud", "fraud-score", "12"), ("credit-serving", "credit-limit", "5")}), ("healthcare-prod", {("radiology", "chest-xray", "3"), ("radiology", "fracture-detect", "1"), ("pathology", "slide-triage", "2")})])
def test_each_sox_and_hipaa_stack_checks_every_served_version_beside_its_sink(stack: str, models: set) -> None:
    dc1 = on(stack)
    template = named(dc1, "WorkflowTemplate", "decision-drift")
    cron = named(dc1, "CronWorkflow", "decision-drift")
    # THEN one hourly check in the sink's namespace, running the template beside it
    assert template.inputs["metadata"]["namespace"] == cron.inputs["metadata"]["namespace"] == "decisions"
    assert cron.inputs["spec"]["schedules"] == ["0 * * * *"] and cron.inputs["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "decision-drift"}}
    # AND its gauges cover every served registry version, labelled as the model's own alerts are
    labels = {tuple(label["value"] for label in m["labels"]) for m in template.inputs["spec"]["templates"][0]["metrics"]["prometheus"]}
    assert labels == models
    # AND its two Secrets come from the stack's store, once each, apart from the sink's writer key
    secrets = {(r.inputs["metadata"]["name"]) for r in of_kind(dc1, "ExternalSecret") if r.inputs["metadata"]["namespace"] == "decisions"}
    assert secrets == {"audit-archive", "decision-archive-reader", "drift-monitor-mlflow"}
    assert len([r for r in of_kind(dc1, "ExternalSecret") if r.inputs["metadata"]["name"] == "audit-archive" and r.inputs["metadata"]["namespace"] == "decisions"]) == 1
    # AND its account may only report a step's outputs
    role = named(dc1, "Role", "decision-drift")
    assert role.inputs["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
    assert named(dc1, "ServiceAccount", "decision-drift").inputs["automountServiceAccountToken"] is False


@pytest.mark.parametrize("stack", ["finance-prod", "healthcare-prod"])
def test_argo_runs_the_checks_exports_their_metrics_and_mlflow_admits_them(stack: str) -> None:
    dc1 = on(stack)
    controller = release(dc1, "argo-workflows").inputs["values"]["controller"]
    # THEN the controller watches the sink's namespace, and Prometheus scrapes its metrics, keeping their labels
    assert "decisions" in controller["workflowNamespaces"]
    assert controller["metricsConfig"] == {"enabled": True, "honorLabels": True} and controller["serviceMonitor"] == {"enabled": True}
    # AND MLflow's NetworkPolicy admits the checks' namespace on its port
    policy = named(dc1, "NetworkPolicy", "mlflow-ingress").inputs["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "decisions"}}}], "ports": [{"protocol": "TCP", "port": 5000}]} in policy


@pytest.mark.parametrize("stack", ["healthcare-dev", "finance-dev", "manufacturing-prod"])
def test_a_stack_without_a_sink_or_mlflow_checks_nothing(stack: str) -> None:
    # GIVEN stacks without the decision sink (finance-dev, manufacturing-prod) or without MLflow (healthcare-dev)
    plan, _ = planned(stack)
    spec, _ = prepared(stack)
    # THEN nothing is watched: no check, no baseline step, no controller metrics
    assert spec.drift_watched() == []
    assert [r for r in of_kind(plan.resources, "WorkflowTemplate") if MLOPS_JOB_LABEL not in r.inputs["metadata"]["labels"]] == []
    assert all(t["name"] != "baseline" for r in of_kind(plan.resources, "WorkflowTemplate") for t in r.inputs["spec"]["templates"])
    assert all("metricsConfig" not in r.inputs["values"]["controller"] for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["name"] == "argo-workflows")


# --- The training workflow's baseline step ------------------------------------------------------------


@pytest.mark.parametrize(("stack", "target", "job"), [("finance-prod", "training", "fraud-retrain"), ("finance-prod", "dc1", "fraud-features"), ("healthcare-prod", "dc1", "readmission-risk")])
def test_every_registration_of_a_watched_stack_records_its_baseline(stack: str, target: str, job: str) -> None:
    spec = named(on(stack, target), "WorkflowTemplate", job).inputs["spec"]
    tasks = {t["name"]: t for t in spec["templates"][0]["dag"]["tasks"]}
    step = next(t for t in spec["templates"] if t["name"] == "baseline")
    # THEN after a registration that happened (a skipped one counts as done for a bare `depends`)
    assert tasks["baseline"]["depends"] == "register.Succeeded"
    # AND it runs the drift program's baseline step with the run's id, the team's login as read-only files
    env = {e["name"]: e["value"] for e in step["script"]["env"]}
    assert step["script"]["source"] == script("decision_drift.py") and (env["DRIFT_STEP"], env["MLFLOW_RUN_ID"]) == ("baseline", "{{inputs.parameters.run-id}}")
    assert all("valueFrom" not in e for e in step["script"]["env"])
    login = next(v for v in spec["volumes"] if v["name"] == "mlflow-login")["secret"]
    assert login["secretName"] == "mlflow-credentials" and {i["path"] for i in login["items"]} == {"username", "password"}
    mount = next(m["mountPath"] for m in step["script"]["volumeMounts"] if m["name"] == "mlflow-login")
    assert (env["MLFLOW_USERNAME_FILE"], env["MLFLOW_PASSWORD_FILE"]) == (f"{mount}/username", f"{mount}/password")
    assert step["script"]["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_stale_alert_allows_two_intervals_and_a_runs_deadline() -> None:
    # GIVEN the default hourly check and a weekly one in a zone with daylight saving
    hourly, weekly = ModelDrift(), ModelDrift.model_validate({"schedule": {"cron": "0 2 * * 0", "timeZone": "America/Chicago"}})
    # THEN the longest gap between runs is an hour, and a week and the hour the clocks move
    assert (hourly.longest_gap_seconds(), weekly.longest_gap_seconds()) == (3600, 7 * 24 * 3600 + 3600)
    # AND a stack's alert reads them (2 × gap + the run's deadline)
    spec, _ = prepared("finance-prod")
    from hybridai.modules.observability import DriftWatch

    watch = DriftWatch.of(spec.models[0], "fraud", spec.monitoring)
    assert (watch.version, watch.threshold, watch.latency_objective_ms, watch.stale_after_seconds) == (12, 0.25, 50, 2 * 3600 + dm.RUN_DEADLINE_SECONDS)
