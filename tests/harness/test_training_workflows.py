"""Harness: the training workflows of the example stacks — the JobSet each WorkflowTemplate embeds
as its train step's manifest is valid against the pinned JobSet CRD, every DAG is well formed
(dependencies exist, the evaluation gate precedes registration), every CronWorkflow runs a
template that exists, and Kueue's configuration keeps the chart's defaults with JobSet enabled."""
from __future__ import annotations

import re

import pytest
import yaml

from hybridai import catalog
from hybridai.modules.queues import KUEUE_FRAMEWORKS, kueue_config
from hybridai.recorded import MLOPS_JOB_LABEL
from tests.conftest import planned
from tests.harness.upstream import chart_defaults, upstream, validate_custom_resource
from tests.helpers import of_kind

MLOPS_STACKS = ["finance-prod", "healthcare-prod", "manufacturing-prod"]


def _kind(stack: str, kind: str) -> list[dict]:
    """The stack's training workflows of `kind` (the catalog jobs', labelled with their job; the
    drift checks' are tests/modules/test_drift_monitor.py's)."""
    plan, _ = planned(stack)
    return [{**r.inputs, "_target": r.target} for r in of_kind(plan.resources, kind) if MLOPS_JOB_LABEL in r.inputs["metadata"].get("labels", {})]


def _train_step(template: dict) -> dict:
    return next(t for t in template["spec"]["templates"] if t["name"] == "train")


def dag_problems(template: dict) -> list[str]:
    """What is wrong with a training WorkflowTemplate's DAG: a task depending on a task that
    doesn't exist, a task naming a template that doesn't exist, a cycle, a registration that
    isn't gated by the evaluation when there is one, or a drift baseline recorded without a
    registration that succeeded."""
    spec = template["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    tasks = {t["name"]: t for t in templates[spec["entrypoint"]]["dag"]["tasks"]}
    problems = []
    deps: dict[str, set[str]] = {}
    for name, task in tasks.items():
        # `depends` is Argo's boolean expression of task names (with optional .Succeeded etc.).
        deps[name] = {d.split(".")[0] for d in re.findall(r"[A-Za-z0-9][-A-Za-z0-9.]*", task.get("depends", "")) if d not in ("&&", "||")}
        problems += [f"{name}: depends on unknown task {d}" for d in sorted(deps[name] - set(tasks))]
        if task["template"] not in templates:
            problems.append(f"{name}: no template {task['template']}")

    def ancestors(name: str, path: tuple[str, ...] = ()) -> set[str]:
        if name in path:
            problems.append(f"cycle through {' → '.join((*path, name))}")
            return set()
        found = set()
        for d in deps.get(name, ()):
            if d in tasks:
                found |= {d, *ancestors(d, (*path, name))}
        return found

    for name in tasks:
        ancestors(name)  # reports cycles
    if "register" not in tasks:
        problems.append("no register task")
    elif "evaluate" in tasks:
        register = tasks["register"]
        if "evaluate" not in ancestors("register"):
            problems.append("register does not wait for evaluate")
        if "tasks.evaluate.outputs.parameters.metric" not in register.get("when", ""):
            problems.append("register is not gated on the evaluation's metric")
    if "train" in tasks and "train" not in ancestors("register"):
        problems.append("register does not wait for train")
    if "baseline" in tasks and tasks["baseline"].get("depends") != "register.Succeeded":
        problems.append("baseline does not wait for a registration that succeeded")
    return problems


@pytest.mark.parametrize("stack", MLOPS_STACKS)
def test_every_embedded_jobset_validates_against_the_jobset_crd(stack: str) -> None:
    # GIVEN each WorkflowTemplate's train step WHEN its JobSet manifest is parsed and validated
    upstream()
    templates = _kind(stack, "WorkflowTemplate")
    assert templates, f"{stack} has training workflows"
    errors = {}
    for template in templates:
        step = _train_step(template)
        jobset = yaml.safe_load(step["resource"]["manifest"])
        errors.update({template["metadata"]["name"]: e for e in [validate_custom_resource(jobset)] if e})
        # THEN it lands in the template's own namespace, in the team's LocalQueue, never disrupted
        assert jobset["metadata"]["namespace"] == template["metadata"]["namespace"]
        assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "training"
        pod = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
        assert pod["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["MLFLOW_EXPERIMENT_NAME"].endswith("/" + template["metadata"]["name"]) and env["MLFLOW_TRACKING_URI"]
        assert env["CHECKPOINT_DIR"].startswith("s3://")
    # AND every JobSet is valid for the pinned CRD (schema and CEL rules)
    assert errors == {}


def test_the_jobset_check_rejects_a_broken_jobset() -> None:
    # GIVEN a JobSet as the program writes it, with a field JobSet doesn't have
    upstream()
    [template] = [t for t in _kind("healthcare-prod", "WorkflowTemplate") if t["metadata"]["name"] == "imaging-finetune"]
    jobset = yaml.safe_load(_train_step(template)["resource"]["manifest"])
    jobset["spec"]["replicatedJobs"][0]["replica"] = 1
    # THEN the CRD validation reports it
    assert any("replica" in e for e in validate_custom_resource(jobset))


@pytest.mark.parametrize("stack", MLOPS_STACKS)
def test_every_training_dag_is_well_formed_and_gates_registration(stack: str) -> None:
    templates = _kind(stack, "WorkflowTemplate")
    assert {t["metadata"]["name"]: dag_problems(t) for t in templates} == {t["metadata"]["name"]: [] for t in templates}


def test_the_dag_check_catches_a_missing_dependency_and_an_ungated_registration() -> None:
    # GIVEN a template whose register step waits for a task that doesn't exist and has no gate
    [template] = [t for t in _kind("finance-prod", "WorkflowTemplate") if t["metadata"]["name"] == "fraud-retrain"]
    broken = yaml.safe_load(yaml.safe_dump(template))
    tasks = broken["spec"]["templates"][0]["dag"]["tasks"]
    register = next(t for t in tasks if t["name"] == "register")
    register["depends"] = "evaluation"
    del register["when"]
    # THEN the check reports both
    assert dag_problems(broken) == [
        "register: depends on unknown task evaluation",
        "register does not wait for evaluate",
        "register is not gated on the evaluation's metric",
        "register does not wait for train",
    ]


@pytest.mark.parametrize("stack", MLOPS_STACKS)
def test_cron_workflows_never_overlap_and_run_an_existing_template(stack: str) -> None:
    templates = {(t["metadata"]["namespace"], t["metadata"]["name"], t["_target"]) for t in _kind(stack, "WorkflowTemplate")}
    crons = _kind(stack, "CronWorkflow")
    assert crons, f"{stack} has scheduled retraining"
    for cron in crons:
        spec = cron["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert 0 < spec["startingDeadlineSeconds"] <= 3600
        ref = spec["workflowSpec"]["workflowTemplateRef"]["name"]
        assert (cron["metadata"]["namespace"], ref, cron["_target"]) in templates


def test_kueue_configuration_keeps_the_charts_defaults_and_names_jobset() -> None:
    # GIVEN the pinned Kueue chart's default controller configuration
    pin = catalog.chart("kueue")
    default = yaml.safe_load(chart_defaults(pin.upstream, pin.chart)["managerConfig"]["controllerManagerConfigYaml"])
    # WHEN hybrid-ai writes it out THEN it is the same configuration, JobSet among the integrations
    assert yaml.safe_load(kueue_config()) == default
    assert "jobset.x-k8s.io/jobset" in KUEUE_FRAMEWORKS


@pytest.mark.parametrize(("stack", "targets"), [("finance-prod", {"dc1", "training"}), ("healthcare-prod", {"dc1"}), ("manufacturing-prod", {"training"})])
def test_jobset_and_kueue_integration_on_every_cluster_that_trains(stack: str, targets: set[str]) -> None:
    plan, _ = planned(stack)
    jobset_targets = {r.target for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "jobset"}
    kueue = {r.target: r.inputs["values"] for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == "kueue"}
    template_targets = {t["_target"] for t in _kind(stack, "WorkflowTemplate")}
    assert jobset_targets == template_targets == targets
    for target in targets:
        assert "jobset.x-k8s.io/jobset" in yaml.safe_load(kueue[target]["managerConfig"]["controllerManagerConfigYaml"])["integrations"]["frameworks"]
