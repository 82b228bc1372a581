"""The evidence bundle: a manifest that shows any changed, missing or added file, the controls whose
evidence changed against a base plan, what CI records, reproducible dates, and a report that renders."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.evidence import bundle
from hybridai.plan import artifacts, run_plan
from tests.conftest import planned
from tests.helpers import chromium, unavailable

runner = CliRunner()


def written(project: Path, stack: str, out: Path, base: Path | None = None, context: tuple[str, int | None] | None = None) -> artifacts.Artifacts:
    return artifacts.write(run_plan(stack, project), out, base, project, context)


def test_the_manifest_shows_a_changed_a_missing_and_an_added_file(project: Path, tmp_path: Path) -> None:
    # GIVEN a plan folder as healthcare-dev's plan wrote it
    out = tmp_path / "plan"
    files = written(project, "healthcare-dev", out)
    # THEN the manifest lists every file of the folder but itself, and it verifies, with sha256sum too
    listed = (out / "evidence" / "manifest.sha256").read_text().splitlines()
    assert {line.split("  ", 1)[1] for line in listed} == {p.as_posix() for p in files} - {"evidence/manifest.sha256"}
    assert bundle.verify(out) == []
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "-c", "--quiet", "evidence/manifest.sha256"], cwd=out, capture_output=True).returncode == 0
    # WHEN a file is changed, one removed and one added
    (out / "policy.json").write_text((out / "policy.json").read_text().replace('"mandatory"', '"advisory"'))
    (out / "cost.json").unlink()
    (out / "helm" / "extra.yaml").write_text("x: 1\n")
    # THEN each is named
    assert bundle.verify(out) == ["cost.json: missing", "policy.json: changed since the plan wrote it", "helm/extra.yaml: not in the manifest"]
    # AND the command says so with exit 1, and exit 2 for a folder without a manifest
    result = runner.invoke(app, ["verify-evidence", str(out)])
    assert result.exit_code == 1 and "policy.json: changed since the plan wrote it" in result.output
    assert runner.invoke(app, ["verify-evidence", str(tmp_path)]).exit_code == 2


def test_compare_lists_a_lowered_archive_retention_as_a_control_change(project: Path, tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-prod whose archive locks records for 2557 days
    stack_file = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    original = stack_file.read_text()
    assert "objectLock: {mode: COMPLIANCE, retentionDays: 2190}" in original
    stack_file.write_text(original.replace("retentionDays: 2190}", "retentionDays: 2557}"))
    written(project, "healthcare-prod", tmp_path / "base")
    # WHEN the stack goes back to HIPAA's 2190 days and is planned against that base
    stack_file.write_text(original)
    files = written(project, "healthcare-prod", tmp_path / "now", base=tmp_path / "base")
    # THEN the controls holding the archive say their evidence changed, the retention lowered
    changed = {c["id"]: c["changes"] for c in files.change["controls"]}
    assert set(changed) == {"hipaa-164.312-b", "hipaa-164.312-c-1"}
    assert changed["hipaa-164.312-b"] == ["`audit-archive.onprem.days`: 2557 → 2190 (lowered)"]
    # AND summary.md says it before the rest of the change
    summary = files[Path("summary.md")]
    assert "**Compliance evidence changed for 2 controls**" in summary
    assert summary.index("Compliance evidence changed") < summary.index("### Change against the base plan")
    assert "| 45 CFR 164.312(b) Audit controls | `audit-archive.onprem.days`: 2557 → 2190 (lowered) |" in summary


def test_a_rule_newly_failing_is_a_control_change(tmp_path: Path) -> None:
    # GIVEN a base plan's evidence where the decision-logging rule failed
    evidence = json.loads(planned("healthcare-prod")[1][Path("evidence/controls.json")])
    base = json.loads(json.dumps(evidence))
    audit = next(c for c in base["controls"] if c["id"] == "hipaa-164.312-b")
    audit["status"] = "not-satisfied"
    next(r for r in audit["rules"] if r["id"] == "decision-logging")["result"] = "fail"
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "controls.json").write_text(json.dumps(base))
    # WHEN compared THEN the control says its status and the rule changed, and nothing else changed
    assert bundle.changes(tmp_path, evidence) == [
        {"id": "hipaa-164.312-b", "title": "Audit controls", "source": "45 CFR 164.312(b)", "changes": ["status: not-satisfied → satisfied", "rule `decision-logging`: fail → pass"]}
    ]
    # AND a base without evidence (a plan written before evidence existed) compares nothing
    assert bundle.changes(tmp_path / "none", evidence) is None


def test_ci_records_the_commit_the_pull_request_and_the_plan_hash(project: Path, tmp_path: Path) -> None:
    # GIVEN CI's evidence command for a pull request's commit
    out = tmp_path / "plan"
    result = runner.invoke(app, ["evidence", "healthcare-dev", "--out", str(out), "--project-dir", str(project), "--commit", "0123abc", "--pull-request", "42"])
    assert result.exit_code == 0, result.output
    # THEN context.json holds them with the hash of resources.json and the policy results, and the manifest covers it
    context = json.loads((out / "evidence" / "context.json").read_text())
    assert context == {"commit": "0123abc", "pull_request": 42, "plan_sha256": bundle.sha256((out / "resources.json").read_text()), "mandatory_violations": 0, "findings": context["findings"]}
    assert "evidence/context.json" in (out / "evidence" / "manifest.sha256").read_text() and bundle.verify(out) == []
    # AND the command reports each framework's controls
    assert "hybrid-ai platform baseline (every stack): 2 satisfied, 0 not satisfied, 0 manual" in result.output


@pytest.mark.parametrize(("args", "says"), [(["--commit", "main; rm -rf /"], "not a git commit id"), (["--pull-request", "3"], "--pull-request needs --commit")])
def test_a_bad_commit_or_a_pull_request_alone_is_refused_before_anything_is_written(args: list[str], says: str, project: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evidence", "healthcare-dev", "--out", str(tmp_path / "plan"), "--project-dir", str(project), *args])
    assert result.exit_code == 2 and says in result.output and not (tmp_path / "plan").exists()


def test_the_dates_are_the_inputs_so_a_plan_is_reproducible(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN SOURCE_DATE_EPOCH (reproducible builds' date), WHEN planned twice
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796601600")
    first, second = written(project, "healthcare-dev", tmp_path / "a"), written(project, "healthcare-dev", tmp_path / "b")
    # THEN the evidence carries that date and both plans are byte-identical
    results = json.loads(first[Path("evidence/assessment-results.json")])["assessment-results"]
    assert results["metadata"]["last-modified"] == results["results"][0]["start"] == "2026-12-07T00:00:00+00:00"
    assert dict(first) == dict(second)


def test_the_report_renders_in_chromium_with_each_status_and_escapes_what_it_shows(tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        unavailable("chromium (Debian package `chromium`) not installed; .ci/run installs it")
    # GIVEN healthcare-prod's evidence with a finding whose message holds markup
    evidence = json.loads(planned("healthcare-prod")[1][Path("evidence/controls.json")])
    access = next(c for c in evidence["controls"] if c["id"] == "hipaa-164.312-a-1")
    access["status"], access["why"] = "not-satisfied", ["rule k8s-no-rbac-wildcards found 1 problem"]
    access["rules"][0].update(result="fail", findings=[{"urn": "urn:x", "message": "<script>alert(1)</script> Role dev"}])
    evidence["frameworks"]["hipaa"].update({"satisfied": 6, "not-satisfied": 1})
    files = bundle.render(evidence, json.loads(planned("healthcare-prod")[1][Path("resources.json")])["resources"], bundle_as_of(), "0" * 64)
    page = tmp_path / "report.html"
    page.write_text(files[Path("evidence/report.html")])
    # WHEN Chromium renders it
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    subprocess.run([*common, f"--screenshot={tmp_path / 'report.png'}", "--window-size=1280,900", page.as_uri()], capture_output=True, timeout=120)
    # THEN the glance shows each framework's counts and a tile per control in its status' colour
    assert "6 satisfied" in dom and "1 not satisfied" in dom and "1 manual" in dom
    # (a tile for the failing control, and for integrity, whose images the example images.lock leaves unresolved)
    unsatisfied = sum(c["status"] == "not-satisfied" for c in evidence["controls"])
    assert unsatisfied == 2 and dom.count('class="not-satisfied"') == unsatisfied and dom.count('class="manual"') == 1
    # AND the failing control is open with its finding, shown as text, not run
    assert '<details id="hipaa-164.312-a-1" open="">' in dom and "&lt;script&gt;alert(1)&lt;/script&gt; Role dev" in dom
    assert (tmp_path / "report.png").stat().st_size > 10_000


def bundle_as_of():  # noqa: ANN201 - a datetime
    from datetime import datetime, timezone

    return datetime(2026, 12, 7, tzinfo=timezone.utc)
