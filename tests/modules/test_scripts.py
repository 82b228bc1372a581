"""The programs pods run (modules/scripts/): each file parses as the program it is, ships in the
wheel, and reaches the plan as written — header dropped, placeholders filled."""
from __future__ import annotations

import py_compile
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hybridai.modules.logging import ARCHIVE_KEY_DIR
from hybridai.modules.scripts import render, script
from tests.conftest import ROOT, planned
from tests.helpers import named, of_kind

SCRIPTS = ROOT / "modules" / "scripts"
SHELL = sorted(SCRIPTS.glob("*.sh"))
PYTHON = sorted(p for p in SCRIPTS.glob("*.py") if p.name != "__init__.py")


def parses_as_shell(text: str) -> None:
    """bash and the system's sh (the pods run `/bin/sh -c`) read `text` without a syntax error."""
    for shell in ("bash", "sh"):
        result = subprocess.run([shell, "-n", "-c", text], capture_output=True, text=True)
        assert result.returncode == 0 and result.stderr == "", f"{shell}: {result.stderr}"


def test_the_folder_holds_the_eight_programs() -> None:
    # GIVEN the scripts folder, THEN it holds the archive check, the edge model sync, the GPU
    # burn-in's controller and two steps, the two MLflow steps and the drift check (with its baseline step): the tests below, parametrized by
    # suffix, see every one of them (the drift check's computation: tests/modules/test_decision_drift.py)
    assert [p.name for p in SHELL] == ["audit_archive_check.sh", "edge_model_sync.sh", "gpu_burn_in_controller.sh", "gpu_burn_in_diag.sh", "gpu_burn_in_nccl.sh"]
    assert [p.name for p in PYTHON] == ["decision_drift.py", "mlflow_register.py", "mlflow_start_run.py"]


@pytest.mark.parametrize("path", SHELL, ids=lambda p: p.name)
def test_each_shell_script_parses_as_a_file(path: Path) -> None:
    # GIVEN a shell script file (a template's @NAME@ placeholders are plain words to sh)
    for shell in ("bash", "sh"):
        # WHEN bash and sh read it without running it
        result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
        # THEN neither finds a syntax error
        assert result.returncode == 0 and result.stderr == "", f"{shell}: {result.stderr}"


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: p.name)
def test_each_python_script_compiles_as_a_file(path: Path, tmp_path: Path) -> None:
    # GIVEN a Python script file, WHEN compiled, THEN it raises no error and writes its byte code
    compiled = py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)
    assert Path(compiled).stat().st_size > 0


def test_the_plan_runs_the_files_as_shipped() -> None:
    # GIVEN the plans of an on-prem hub with an audit archive and of an edge fleet
    hub = [r for r in planned("healthcare-prod")[0].resources if r.target == "dc1"]
    edge = [r for r in planned("manufacturing-prod")[0].resources if r.target == "line-3"]
    check = named(hub, "CronJob", "audit-archive-check").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    sync = named(edge, "CronJob", "model-sync").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    training = named(hub, "WorkflowTemplate", "imaging-finetune").inputs["spec"]["templates"]
    steps = {t["name"]: t["script"]["source"] for t in training if "script" in t}
    drift = {t["name"]: t["script"]["source"] for t in named(hub, "WorkflowTemplate", "decision-drift").inputs["spec"]["templates"]}
    # THEN each command is its file without the header, and still parses
    assert check == "\n" + script("audit_archive_check.sh", KEY_ID_FILE=f"{ARCHIVE_KEY_DIR}/access_key_id", SECRET_KEY_FILE=f"{ARCHIVE_KEY_DIR}/secret_access_key")
    assert not check.lstrip().startswith("#")
    assert steps == {"start-run": script("mlflow_start_run.py"), "register": script("mlflow_register.py"), "baseline": script("decision_drift.py")}
    assert drift == {"check": script("decision_drift.py")} and not drift["check"].startswith("#")
    steps["check"] = drift["check"]
    for source in steps.values():
        compile(source, "<step>", "exec")
    parses_as_shell(check)
    # AND the model sync is its template filled in for the site: no placeholder left
    assert "@" not in sync and "for m in label-check; do rclone sync --config /etc/rclone/rclone.conf " in sync
    parses_as_shell(sync)


def test_render_drops_the_header_and_fills_each_placeholder() -> None:
    # GIVEN a file: shebang, a comment header, the blank line after it, then the program
    text = "#!/bin/sh\n# What it does.\n#\n\nset -eu\n# a comment of the program\necho @GREETING@ @WHO@\n"
    # WHEN rendered with a value for each placeholder
    shipped = render(text, "hello.sh", {"GREETING": "hello", "WHO": "world"})
    # THEN the header and its blank line are gone, the program's own comment stays, the values are in
    assert shipped == "set -eu\n# a comment of the program\necho hello world\n"
    # AND without a blank line after the header the program starts right after it
    assert render("# doc\nimport os\n", "x.py", {}) == "import os\n"
    # AND a file without a header is shipped whole, a leading blank line included
    assert render("\necho hi\n", "x.sh", {}) == "\necho hi\n"


@pytest.mark.parametrize(
    "values, message",
    [
        ({}, r"hello.sh: its placeholders are \['WHO'\], values were given for \[\]"),
        ({"WHO": "world", "WHOM": "you"}, r"hello.sh: its placeholders are \['WHO'\], values were given for \['WHO', 'WHOM'\]"),
    ],
    ids=["missing", "unused"],
)
def test_a_missing_or_unused_value_is_refused(values: dict[str, str], message: str) -> None:
    # GIVEN a template with one placeholder, WHEN rendered with a value missing or one too many,
    # THEN it refuses, naming the file, its placeholders and the values given
    with pytest.raises(ValueError, match=message):
        render("echo @WHO@\n", "hello.sh", values)


def test_the_wheel_ships_every_script(tmp_path: Path) -> None:
    # GIVEN the project's sources as the wheel is built from them (a clean copy: no build/ folder)
    source = tmp_path / "source"
    source.mkdir()
    for file in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / file, source / file)
    for folder in ("hybridai", "blueprints", "modules", "policy"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # WHEN the wheel is built (offline: the test environment's setuptools)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--disable-pip-version-check", "--wheel-dir", str(tmp_path / "wheel"), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    # THEN every file of the scripts folder is in it, where `script()` reads it
    members = set(zipfile.ZipFile(wheel).namelist())
    assert {f"hybridai/modules/scripts/{p.name}" for p in SCRIPTS.iterdir() if p.is_file()} <= members
    # AND byte for byte as in the checkout
    with zipfile.ZipFile(wheel) as archive:
        assert all(archive.read(f"hybridai/modules/scripts/{p.name}") == p.read_bytes() for p in [*SHELL, *PYTHON])
