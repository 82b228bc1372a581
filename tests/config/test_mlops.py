"""The MLOps config (`mlops`, the training catalog's runtime fields, registry versions): bad input is
rejected at its key path before anything is registered; a schedule changes neither capacity nor cost."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.program import prepare
from tests.helpers import at, problems_of, stack_values

CLOUD_ARTIFACTS = {
    "bucket": "fin-prod-mlflow-artifacts",
    "region": "eu-central-1",
    "accessKeyId": {"name": "mlflow-s3", "key": "access-key-id"},
    "secretAccessKey": {"name": "mlflow-s3", "key": "secret-access-key"},
}






def cloud_artifacts(values: dict) -> None:
    # (on-prem jobs still checkpoint to the on-prem store: its endpoint is named on its own)
    endpoint = values["mlops"].pop("objectStore")["endpoint"]
    values["mlops"]["cloudArtifacts"] = dict(CLOUD_ARTIFACTS)
    values["mlops"]["checkpointEndpoint"] = endpoint
    # (a prod stack makes every credential Secret it reads: the bucket's key comes from the store)
    values["secrets"]["sources"].append({"name": "mlflow-s3", "store": "vault", "remoteKey": "fin-prod/mlflow-s3"})


BAD_INPUT = [
    # stack, case, path, value, loc, type
    ("finance-prod", "a schedule that isn't cron", ["training", 0, "schedule", "cron"], "every saturday", ("training", 0, "schedule", "cron"), "cron"),
    ("finance-prod", "a six-field (seconds) cron", ["training", 0, "schedule", "cron"], "0 0 1 * * 6", ("training", 0, "schedule", "cron"), "cron"),
    ("finance-prod", "an out-of-range cron field", ["training", 0, "schedule", "cron"], "0 25 * * 6", ("training", 0, "schedule", "cron"), "cron"),
    ("finance-prod", "an unknown time zone", ["training", 0, "schedule", "timeZone"], "Europe/Frankfurt", ("training", 0, "schedule", "timeZone"), "time_zone"),
    # fraud-retrain: 1,536 GPU-hours within 48 h is 32 GPUs; 8 × 8 asks for 64
    ("finance-prod", "nodes × gpusPerNode beyond the capacity plan", ["training", 0, "nodes"], 8, ("training", 0, "gpusPerNode"), "exceeds_capacity_plan"),
    # fraud-features runs on-prem, on L40S nodes of 4 GPUs
    ("finance-prod", "more GPUs per pod than a node has", ["training", 1, "gpusPerNode"], 8, ("training", 1, "gpusPerNode"), "exceeds_node"),
    ("finance-prod", "a training image by tag, not digest", ["training", 0, "image"], "registry.bank.example/fraud/train:latest", ("training", 0, "image"), "string_pattern_mismatch"),
    ("finance-prod", "a registry version that isn't an integer", ["models", 0, "registry", "version"], "latest", ("models", 0, "registry", "version"), "version_not_integer"),
    ("finance-prod", "a registry version as a string of digits", ["models", 0, "registry", "version"], "13", ("models", 0, "registry", "version"), "version_not_integer"),
    ("finance-prod", "a registry version 0", ["models", 0, "registry", "version"], 0, ("models", 0, "registry", "version"), "greater_than_equal"),
    ("finance-prod", "cloud jobs without a tracking URL", ["mlops", "trackingUrl"], None, ("mlops", "trackingUrl"), "tracking_url_required"),
    ("finance-prod", "a database user and password in two Secrets", ["mlops", "database", "password", "name"], "other-secret", ("mlops", "database"), "one_secret"),
    ("finance-prod", "a database password written in the stack file", ["mlops", "database", "password"], "hunter2", ("mlops", "database", "password"), "plaintext_credential"),
    ("healthcare-prod", "MLflow in a team's namespace", ["teams", 0, "namespace"], "mlflow", ("teams", 0, "namespace"), "namespace_reserved"),
]


@pytest.mark.parametrize("stack,case,path,value,loc,kind", BAD_INPUT, ids=[c[1] for c in BAD_INPUT])
def test_bad_input_is_rejected_at_its_key(stack: str, case: str, path: list, value: Any, loc: tuple, kind: str) -> None:
    # GIVEN an example stack with one MLOps value changed
    values = copy.deepcopy(stack_values(stack))
    node, key = at(values, path)
    if value is None:
        node.pop(key)
    else:
        node[key] = value
    # WHEN it is prepared THEN the problem is reported at its key, before anything is registered
    assert (loc, kind) in problems_of(stack, values)


def test_an_artifact_store_outside_the_jurisdiction_is_refused() -> None:
    # GIVEN finance-prod (jurisdiction eu) keeping its artifacts in a US bucket
    values = copy.deepcopy(stack_values("finance-prod"))
    cloud_artifacts(values)
    values["mlops"]["cloudArtifacts"]["region"] = "us-east-1"
    assert (("mlops", "cloudArtifacts", "region"), "region_outside_jurisdiction") in problems_of("finance-prod", values)
    # AND in the jurisdiction it is accepted, MLflow then writing to AWS S3 in that region
    values["mlops"]["cloudArtifacts"]["region"] = "eu-central-1"
    spec, _ = prepare("finance-prod", values)
    assert spec.mlops.cloud_artifacts.region == "eu-central-1"


def test_mlflow_keeps_its_artifacts_where_the_stack_says() -> None:
    from hybridai.modules.mlflow import MlflowArgs

    def mlflow_args(spec):
        return MlflowArgs.of(spec.mlops, (), spec.monitoring.namespace, spec.environment)

    # GIVEN finance-prod as written (the on-prem store) WHEN MLflow's args are made
    onprem = mlflow_args(prepare("finance-prod", stack_values("finance-prod"))[0])
    store = stack_values("finance-prod")["mlops"]["objectStore"]
    # THEN MLflow writes the on-prem bucket through its endpoint, with the store's key
    assert (onprem.artifact_bucket, onprem.artifact_endpoint) == (store["bucket"], store["endpoint"])
    assert (onprem.artifact_secret.name, onprem.artifact_secret.first, onprem.artifact_secret.second) == (
        store["accessKeyId"]["name"], store["accessKeyId"]["key"], store["secretAccessKey"]["key"]
    )
    # AND with `cloudArtifacts`, AWS S3 in the bucket's region (no endpoint), with that bucket's key
    values = copy.deepcopy(stack_values("finance-prod"))
    cloud_artifacts(values)
    cloud = mlflow_args(prepare("finance-prod", values)[0])
    assert (cloud.artifact_bucket, cloud.artifact_endpoint, cloud.artifact_region) == ("fin-prod-mlflow-artifacts", None, "eu-central-1")
    assert (cloud.artifact_secret.name, cloud.artifact_secret.first, cloud.artifact_secret.second) == ("mlflow-s3", "access-key-id", "secret-access-key")


def test_a_hipaa_stack_never_keeps_artifacts_in_the_cloud() -> None:
    # GIVEN finance-prod with a PHI team (HIPAA implied) and cloud artifacts in the jurisdiction
    values = copy.deepcopy(stack_values("finance-prod"))
    cloud_artifacts(values)
    values["teams"][0]["dataClassification"] = "phi"
    # THEN the cloud store is refused, whatever the region
    assert (("mlops", "cloudArtifacts"), "artifacts_leave_premises") in problems_of("finance-prod", values)


def test_exactly_one_artifact_store() -> None:
    values = copy.deepcopy(stack_values("healthcare-prod"))
    values["mlops"].pop("objectStore")
    assert (("mlops",), "artifact_store") in problems_of("healthcare-prod", values)


def test_registry_versions_and_runnable_jobs_need_the_mlops_block() -> None:
    # GIVEN healthcare-prod without its `mlops` block
    values = copy.deepcopy(stack_values("healthcare-prod"))
    values.pop("mlops")
    problems = problems_of("healthcare-prod", values)
    # THEN the models named by registry version and the first runnable job say what is missing
    assert (("models", 0, "registry"), "registry_missing") in problems
    assert (("training", 0, "image"), "mlops_missing") in problems


def test_a_model_names_one_source() -> None:
    values = copy.deepcopy(stack_values("finance-prod"))
    values["models"][0]["storageUri"] = "s3://models/fraud/score/v12"
    assert (("models", 0), "model_source") in problems_of("finance-prod", values)


def test_a_schedule_without_an_image_is_refused_at_the_schedule() -> None:
    values = copy.deepcopy(stack_values("finance-prod"))
    values["training"][0].pop("image")
    assert (("training", 0, "schedule"), "image_required") in problems_of("finance-prod", values)


def test_schedules_change_neither_capacity_nor_cost() -> None:
    # GIVEN finance-prod with and without its schedules (and evaluations)
    values = stack_values("finance-prod")
    unscheduled = copy.deepcopy(values)
    for job in unscheduled["training"]:
        job.pop("schedule", None)
        job.pop("evaluation", None)
    plans = [prepare("finance-prod", v)[1] for v in (values, unscheduled)]

    def decided(plan) -> tuple:  # noqa: ANN001 - a CapacityPlan
        onprem = plan.onprem
        return (onprem.team_quota, onprem.training, onprem.job_pools, onprem.overflow, onprem.overflow_hours, plan.cloud.pools, plan.cloud.team_gpus, plan.cloud_training_hours)

    # THEN the capacity plan decides the same quotas, placements and pool sizes, and the cost
    # model gets the same GPU-hours: the catalog's, once
    assert decided(plans[0]) == decided(plans[1])
    assert plans[0].cloud_training_hours == {"fraud": 1536.0, "credit": 384.0}


def test_a_bad_schedule_exits_2_at_its_key_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-prod with a schedule that isn't cron
    path = project / "stacks" / "Pulumi.finance-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:training"][0]["schedule"]["cron"] = "weekly"
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    # WHEN it is planned THEN exit 2, the key path and value, no traceback, nothing written
    result = CliRunner().invoke(app, ["plan", "finance-prod", "--out", str(out), "--project-dir", str(project)])
    assert result.exit_code == 2
    assert "stacks/Pulumi.finance-prod.yaml: hybrid-ai:training[0].schedule.cron: job fraud-retrain: not a five-field cron expression" in result.stderr
    assert "(got 'weekly')" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
