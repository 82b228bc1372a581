"""Promotion through review: a served model named by registry version resolves to the registry's
artifact location, and changing the version is a one-line change the review names."""
from __future__ import annotations

import json
from pathlib import Path

from hybridai.plan.artifacts import render, write
from hybridai.plan.engine import run_plan
from tests.conftest import planned
from tests.plan.test_readable_change import edit


def test_a_registry_version_resolves_to_the_registrys_artifact_location_and_is_recorded() -> None:
    # GIVEN finance-prod, whose fraud-score names `registry: {model: fraud-score, version: 12}`
    _, files = planned("finance-prod")
    records = json.loads(files[Path("resources.json")])["resources"]
    [isvc] = [r["inputs"] for r in records if r["inputs"].get("kind") == "InferenceService" and r["inputs"]["metadata"]["name"] == "fraud-score"]
    # THEN KServe fetches the version from `registry/<model>/<version>` of MLflow's artifact bucket
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://fin-prod-mlflow/registry/fraud-score/12"
    # AND resources.json records the model and the pinned version, and summary.md names them
    assert {k: v for k, v in isvc["metadata"]["labels"].items() if k in ("hybrid-ai.io/registry-model", "hybrid-ai.io/model-version")} == {
        "hybrid-ai.io/registry-model": "fraud-score",
        "hybrid-ai.io/model-version": "12",
    }
    assert "fraud-score `fraud-score` v12" in files[Path("summary.md")]


def test_promoting_a_version_is_a_one_line_change_the_review_names(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-prod planned as it is
    base = tmp_path / "base"
    write(run_plan("finance-prod", project), base, project=project)

    # WHEN fraud-score moves from version 12 to 13
    def promote(config: dict) -> None:
        [model] = [m for m in config["hybrid-ai:models"] if m["name"] == "fraud-score"]
        model["registry"]["version"] = 13

    edit(project, "finance-prod", promote)
    files = render(run_plan("finance-prod", project), base)
    # THEN the change lists the promotion, and summary.md shows it in the change table
    assert files.change["promotions"] == [{"name": "fraud-score", "where": "dc1/fraud/fraud-score", "model": "fraud-score", "before": "12", "after": "13"}]
    assert "| model versions | **fraud-score: v12 → v13** |" in files[Path("summary.md")]
    # AND only the InferenceService changed (its URI and version label), the decision sink, whose
    # records name the version that decided (its catalog in the remap), and what watches that
    # version: the drift check's gauges and the alerts on them (nothing else in the stack)
    assert [u.rsplit("::", 1)[-1] for u in files.change["changed"]] == [
        "fin-prod-dc1-decisions-vector",
        "fin-prod-dc1-drift-decision-drift-template",
        "fin-prod-dc1-monitoring-gpu-rules",
        "fin-prod-dc1-serving-fraud-fraud-score",
    ]
