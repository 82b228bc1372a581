"""`hybridai plan --out DIR` never deletes anything the plan did not write.

A plan replaces only a folder that holds its marker and nothing but a plan's files; it refuses
everything else (exit 2, nothing touched), writes beside the target and swaps the result in, so an
interrupted plan leaves the earlier one as it was.
"""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.plan import artifacts
from hybridai.plan.artifacts import MARKER, OutDirError, write
from tests.conftest import ROOT, planned

runner = CliRunner()


def plan(project: Path, out: Path | str, stack: str = "healthcare-dev"):
    return runner.invoke(app, ["plan", stack, "--out", str(out), "--project-dir", str(project)])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if ".hybridai-" in p.name)


def test_a_fresh_folder_gets_the_plan_and_its_marker(project: Path, tmp_path: Path) -> None:
    # GIVEN an --out that doesn't exist yet
    out = tmp_path / "plans" / "dev"
    # WHEN the stack is planned there
    result = plan(project, out)
    # THEN the artifacts are there with the marker (stack and format), and nothing is left beside it
    assert result.exit_code == 0, result.output
    assert (out / "resources.json").is_file() and (out / "summary.md").is_file()
    assert json.loads((out / MARKER).read_text()) == {"format": 1, "stack": "healthcare-dev"}
    assert leftovers(out) == []


def test_an_earlier_plan_is_replaced_byte_identical_without_stale_files(project: Path, tmp_path: Path) -> None:
    # GIVEN a folder holding a plan of healthcare-dev
    out = tmp_path / "out"
    assert plan(project, out).exit_code == 0
    first = snapshot(out)
    # WHEN the same stack is planned there again
    assert plan(project, out).exit_code == 0
    # THEN every file is byte-identical
    assert snapshot(out) == first
    # AND WHEN another stack is planned there, THEN nothing of the earlier plan is left
    result = plan(project, out, "healthcare-prod")
    assert result.exit_code == 0, result.output
    assert not list(out.glob("manifests/lab/**/*.yaml")) and list(out.glob("manifests/dc1/**/*.yaml"))
    assert json.loads((out / MARKER).read_text())["stack"] == "healthcare-prod"
    assert leftovers(out) == []


def test_an_earlier_plan_with_a_foreign_file_is_refused_and_kept(project: Path, tmp_path: Path) -> None:
    # GIVEN an earlier plan with someone's notes beside it
    out = tmp_path / "out"
    assert plan(project, out).exit_code == 0
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)
    # WHEN it is planned again
    result = plan(project, out)
    # THEN exit 2 naming the foreign file, and nothing touched
    assert result.exit_code == 2
    assert f"--out {out} holds an earlier plan, but also files a plan doesn't write: notes.txt" in result.stderr
    assert "nothing was touched" in result.stderr and "Traceback" not in result.output
    assert snapshot(out) == before


def test_a_foreign_file_inside_a_plan_folder_is_refused(project: Path, tmp_path: Path) -> None:
    # GIVEN an earlier plan with a README inside manifests/ and a symbolic link inside helm/
    out = tmp_path / "out"
    assert plan(project, out).exit_code == 0
    (out / "manifests" / "README.md").write_text("hand-written")
    (out / "helm" / "lab" / "extra.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    # WHEN it is planned again, THEN both are named and kept
    result = plan(project, out)
    assert result.exit_code == 2
    assert "manifests/README.md" in result.stderr and "helm/lab/extra.yaml (symbolic link)" in result.stderr
    assert (out / "manifests" / "README.md").read_text() == "hand-written"


@pytest.mark.parametrize("with_plan", [True, False], ids=["beside-a-plan", "alone"])
def test_a_git_repository_is_never_replaced(project: Path, tmp_path: Path, with_plan: bool) -> None:
    # GIVEN a folder holding a .git (with or without an earlier plan)
    out = tmp_path / "out"
    if with_plan:
        assert plan(project, out).exit_code == 0
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    # WHEN it is used as --out
    result = plan(project, out)
    # THEN exit 2, .git named and untouched
    assert result.exit_code == 2
    assert ".git/" in result.stderr
    assert ("holds an earlier plan, but also files a plan doesn't write" if with_plan else "is not empty and holds no earlier plan (no .hybridai-plan)") in result.stderr
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"


def test_out_dot_inside_a_plan_folder_is_refused(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an earlier plan, and a shell inside it
    out = tmp_path / "out"
    assert plan(project, out).exit_code == 0
    before = snapshot(out)
    monkeypatch.chdir(out)
    # WHEN it is planned with --out .
    result = plan(project, ".")
    # THEN exit 2: the current folder is never replaced; no traceback, nothing touched
    assert result.exit_code == 2, result.output
    assert "--out . is the current folder or holds it" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(out) == before


def test_a_file_as_out_is_refused(project: Path, tmp_path: Path) -> None:
    # GIVEN --out naming a file
    out = tmp_path / "plan.txt"
    out.write_text("not a folder")
    # WHEN planned, THEN exit 2, no traceback, the file as it was
    result = plan(project, out)
    assert result.exit_code == 2
    assert f"--out {out} is a file, not a folder; nothing was touched" in result.stderr
    assert "Traceback" not in result.output
    assert out.read_text() == "not a folder"


def test_a_symlink_as_out_is_refused(project: Path, tmp_path: Path) -> None:
    # GIVEN an earlier plan and a symbolic link to it
    real = tmp_path / "real"
    assert plan(project, real).exit_code == 0
    before = snapshot(real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    # WHEN the link is --out
    result = plan(project, link)
    # THEN exit 2; the link and the plan it points at are as they were
    assert result.exit_code == 2
    assert f"--out {link} is a symbolic link" in result.stderr
    assert link.is_symlink() and snapshot(real) == before


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda project: project, "is the project folder"),
        (lambda project: project.parent, "or one above it"),
        (lambda project: project / "stacks", "is inside stacks/"),
        (lambda project: project / "stacks" / "plans", "is inside stacks/"),
    ],
    ids=["project", "above-the-project", "stacks", "inside-stacks"],
)
def test_the_project_and_its_stacks_are_refused(project: Path, where, says: str) -> None:
    # GIVEN --out at the project, above it or in stacks/
    out = where(project)
    before = snapshot(project)
    # WHEN planned, THEN exit 2 saying why, before anything is planned or written
    result = plan(project, out)
    assert result.exit_code == 2
    assert says in result.stderr and "Traceback" not in result.output
    assert snapshot(project) == before


def test_the_repository_root_is_refused(tmp_path: Path) -> None:
    # GIVEN a project in a subfolder of a git repository
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    project = repository / "infra"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copy(ROOT / "stacks" / "Pulumi.healthcare-dev.yaml", project / "stacks")
    # WHEN --out is the repository root, THEN exit 2
    result = plan(project, repository)
    assert result.exit_code == 2
    assert f"--out {repository} is the project folder {project.resolve()} or one above it" in result.stderr
    assert (repository / ".git").is_dir() and (project / "Pulumi.yaml").is_file()


def test_plan_files_without_the_marker_are_refused(project: Path, tmp_path: Path) -> None:
    # GIVEN a folder of plan files without the marker (a plan written before plans marked folders)
    out = tmp_path / "out"
    assert plan(project, out).exit_code == 0
    (out / MARKER).unlink()
    before = snapshot(out)
    # WHEN planned there, THEN exit 2: only a marked folder is replaced
    result = plan(project, out)
    assert result.exit_code == 2
    assert f"holds plan files but no {MARKER} marker" in result.stderr
    assert snapshot(out) == before


def test_the_earlier_plan_survives_a_failure_mid_write(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an earlier plan
    out = tmp_path / "out"
    assert plan(project, out, "healthcare-prod").exit_code == 0
    before = snapshot(out)
    # WHEN the disk fills up after a few files of the next plan
    written = []
    real_write = artifacts._write_file

    def failing(path: Path, content: str) -> None:
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        real_write(path, content)

    monkeypatch.setattr(artifacts, "_write_file", failing)
    result = plan(project, out, "healthcare-dev")
    # THEN exit 2 naming the path and the fix, no traceback
    assert result.exit_code == 2, result.output
    assert f"--out {out}: can't write the plan: No space left on device" in result.stderr
    assert "check that the folder and its parent are writable and have space" in result.stderr
    assert "Traceback" not in result.output
    # AND the earlier plan is exactly as it was, with nothing left beside it
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_the_earlier_plan_survives_an_exception_raised_mid_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an earlier plan
    out = tmp_path / "out"
    write(planned("healthcare-dev")[0], out)
    before = snapshot(out)

    # WHEN writing the next one raises something unexpected halfway
    def boom(path: Path, content: str) -> None:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(artifacts, "_write_file", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        write(planned("healthcare-prod")[0], out)
    # THEN the earlier plan is untouched and no half-written folder is left
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_refusals_are_plan_errors_for_library_callers(tmp_path: Path) -> None:
    # GIVEN a non-empty folder that holds no plan, WHEN write() is called, THEN OutDirError, and it is a PlanError
    (tmp_path / "keep.txt").write_text("x")
    from hybridai.plan import PlanError

    with pytest.raises(OutDirError, match="is not empty and holds no earlier plan") as caught:
        write(planned("healthcare-dev")[0], tmp_path)
    assert isinstance(caught.value, PlanError)
    assert (tmp_path / "keep.txt").read_text() == "x"


def test_a_failed_plan_leaves_no_summary_that_reads_as_current(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a folder holding an earlier plan of healthcare-dev
    out = tmp_path / "out"
    assert plan(project, out).exit_code == 0
    earlier = snapshot(out)
    # WHEN the next plan stops with a program that can't be planned (two resources writing one object)
    from hybridai.plan import PlanError

    def conflict(*_args, **_kwargs):
        raise PlanError("urn:a and urn:b both write manifests/onprem/x/Secret-s.yaml: two resources would fight over one object")

    monkeypatch.setattr(artifacts, "render", conflict)
    result = plan(project, out)
    # THEN it exits 1 saying so, and the earlier plan's summary.md is gone, saying why
    assert result.exit_code == 1
    assert "two resources would fight" in result.output and "its summary.md was removed" in result.output
    assert not (out / "summary.md").exists()
    # AND every other file of the earlier plan is as it was (nothing the plan didn't write is touched)
    assert snapshot(out) == {k: v for k, v in earlier.items() if k != "summary.md"}


def test_a_failed_plan_touches_nothing_in_a_folder_without_a_plan(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a new --out WHEN the plan stops with a program that can't be planned
    from hybridai.plan import PlanError

    out = tmp_path / "new"
    monkeypatch.setattr(artifacts, "render", lambda *a, **k: (_ for _ in ()).throw(PlanError("boom")))
    result = plan(project, out)
    # THEN exit 1, no mention of an earlier plan, and no folder was made
    assert result.exit_code == 1 and "earlier plan" not in result.output
    assert not out.exists()
