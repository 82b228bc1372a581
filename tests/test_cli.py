"""The `hybridai` command: exit codes, files written, error text."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from blueprints import BLUEPRINTS
from hybridai.cli import app, config_reference
from tests.conftest import ROOT

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_plan_writes_artifacts_and_a_summary(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("plan", "healthcare-prod", "--out", str(out), "--project-dir", str(project))
    assert result.exit_code == 0, result.output
    assert (out / "resources.json").is_file()
    assert (out / "helm" / "dc1" / "gpu-operator.yaml").is_file()
    assert (out / "manifests" / "dc1" / "radiology" / "ResourceQuota-radiology-quota.yaml").is_file()
    assert "healthcare-prod (healthcare-onprem):" in result.stdout
    assert "onprem" in result.stdout and "NetworkPolicy" in result.stdout


def test_plan_defaults_to_build_stack(project: Path) -> None:
    result = invoke("plan", "healthcare-dev", "--project-dir", str(project))
    assert result.exit_code == 0, result.output
    assert (project / "build" / "healthcare-dev" / "resources.json").is_file()


def test_invalid_stack_exits_2_names_file_and_key_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    # GIVEN a stack file with a wrong value
    path = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:teams"][2]["quota"]["gpus"] = 99
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    # WHEN it is planned
    result = invoke("plan", "healthcare-prod", "--out", str(out), "--project-dir", str(project))
    # THEN exit 2, one readable error, no traceback, nothing written
    assert result.exit_code == 2
    assert "stacks/Pulumi.healthcare-prod.yaml: hybrid-ai:teams[2].quota.gpus: teams ask for 101 GPUs in all but the on-prem cluster offers 8" in result.stderr
    assert "(got 99)" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_stack_exits_2(project: Path) -> None:
    result = invoke("plan", "nope", "--project-dir", str(project))
    assert result.exit_code == 2
    assert "stacks/Pulumi.nope.yaml" in result.stderr and "hybridai new" in result.stderr


def test_blueprints_lists_each_with_its_purpose() -> None:
    result = invoke("blueprints")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["finance-hybrid", "healthcare-onprem"]
    assert "SOX" in lines[0] and "HIPAA" in lines[1]


@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_new_writes_a_described_stack_that_plans_cleanly(project: Path, tmp_path: Path, blueprint: str) -> None:
    # GIVEN a stack generated from the blueprint's template
    result = invoke("new", blueprint, "scratch", "--project-dir", str(project))
    assert result.exit_code == 0, result.output
    text = (project / "stacks" / "Pulumi.scratch.yaml").read_text()
    # THEN every key and its description is there, optional ones commented at their defaults
    assert f"hybrid-ai:blueprint: {blueprint}" in text
    assert "# kubeconfig context used to reach the cluster." in text
    assert "# hybrid-ai:gpuOperator:" in text and "# cdi: true" in text
    assert "#   # replicas:" not in text and "# replicas:" in text
    # AND it plans without edits
    planned = invoke("plan", "scratch", "--out", str(tmp_path / "out"), "--project-dir", str(project))
    assert planned.exit_code == 0, planned.output


def test_new_refuses_to_overwrite_and_unknown_blueprints(project: Path) -> None:
    assert invoke("new", "healthcare-onprem", "healthcare-prod", "--project-dir", str(project)).exit_code == 2
    result = invoke("new", "retail-cloud", "x", "--project-dir", str(project))
    assert result.exit_code == 2 and "unknown blueprint 'retail-cloud'" in result.stderr


def test_readme_config_reference_is_generated_from_the_models() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- reference:start -->\n", "<!-- reference:end -->"
    embedded = readme[readme.index(start) + len(start) : readme.index(end)]
    assert embedded == config_reference(), "README is stale: run `hybridai reference --readme README.md`"


def test_plan_in_a_fresh_process_prints_no_noise(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hybridai.cli", "plan", "healthcare-dev", "--out", str(tmp_path / "out"), "--project-dir", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
