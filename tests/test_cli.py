"""The `hybridai` command: exit codes, files written, error text."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridai.blueprints import BLUEPRINTS
from hybridai.cli import app
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
    # AND the terminal gets a few plain lines (the same in CI logs): counts by placement, cost,
    # whether a comparison was made, and where summary.md is
    assert result.stdout.splitlines()[0] == "healthcare-prod (healthcare-onprem): 251 resources — onprem 251"
    assert "no comparison (pass --compare BASE_DIR to review a change)" in result.stdout
    assert f"summary: {out / 'summary.md'}" in result.stdout
    assert "NetworkPolicy" not in result.stdout
    # AND --verbose adds the table by kind
    verbose = invoke("plan", "healthcare-prod", "--out", str(tmp_path / "again"), "--project-dir", str(project), "--verbose")
    assert "NetworkPolicy" in verbose.stdout


def test_plan_json_puts_one_document_on_stdout(project: Path, tmp_path: Path) -> None:
    # GIVEN an example stack WHEN it is planned with --json
    out = tmp_path / "out"
    result = invoke("plan", "healthcare-dev", "--out", str(out), "--project-dir", str(project), "--json")
    # THEN stdout is one JSON document and nothing else (the usual lines went to stderr)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "resources —" in result.stderr and "resources —" not in result.stdout
    # AND it says what CI needs: the outcome, where the plan is, counts that match resources.json, the cost
    recorded = json.loads((out / "resources.json").read_text())
    cost = json.loads((out / "cost.json").read_text())
    assert (doc["stack"], doc["blueprint"], doc["status"], doc["exit_code"]) == ("healthcare-dev", "healthcare-onprem", "planned", 0)
    assert doc["out"] == str(out) and doc["summary"] == str(out / "summary.md")
    assert doc["resources"]["total"] == len(recorded["resources"]) == sum(doc["resources"]["by_placement"].values())
    assert doc["cost"]["monthly"] == cost["total"]["estimate"] and doc["change"] is None
    assert doc["policy"] == {"mandatory_violations": 0, "findings": json.loads((out / "policy.json").read_text())["findings"]}


def test_plan_json_reports_violations_and_invalid_files_without_values(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-dev with a ceiling below its estimate WHEN planned with --json
    path = project / "stacks" / "Pulumi.finance-dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:cost"] = {"monthlyCeilingUsd": 100}
    path.write_text(yaml.safe_dump(document))
    result = invoke("plan", "finance-dev", "--out", str(tmp_path / "a"), "--project-dir", str(project), "--json")
    # THEN exit 1 and the document names the outcome and the rule
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and (doc["status"], doc["exit_code"]) == ("policy_violations", 1)
    assert [f["rule"] for f in doc["policy"]["findings"] if f["enforcement"] == "mandatory"] == ["cost-under-ceiling"]
    # AND GIVEN a stack file with a bad value WHEN planned with --json THEN exit 2, each problem's key
    # and type, and no value of the file (it may be a credential)
    document["config"]["hybrid-ai:costCenter"] = "not a label value!"
    path.write_text(yaml.safe_dump(document))
    result = invoke("plan", "finance-dev", "--out", str(tmp_path / "b"), "--project-dir", str(project), "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and (doc["status"], doc["stack_file"]) == ("invalid_stack_file", "stacks/Pulumi.finance-dev.yaml")
    assert [p["key"] for p in doc["problems"]] == ["hybrid-ai:costCenter"]
    assert "not a label value!" not in result.stdout


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
    assert (
        "stacks/Pulumi.healthcare-prod.yaml: hybrid-ai:teams[2].quota.gpus: team clinical-research: teams ask for 101 GPUs beyond their catalogs' 14, "
        "but the on-prem cluster offers 16 (2 left)"
    ) in result.stderr
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
    assert [line.split()[0] for line in lines] == ["finance-hybrid", "healthcare-onprem", "manufacturing-edge"]
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


def test_plan_in_a_fresh_process_prints_no_noise(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hybridai.cli", "plan", "healthcare-dev", "--out", str(tmp_path / "out"), "--project-dir", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_mandatory_violation_exits_1_naming_rule_and_resource(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-dev with a ceiling below its estimate
    path = project / "stacks" / "Pulumi.finance-dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:cost"] = {"monthlyCeilingUsd": 100}
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    result = invoke("plan", "finance-dev", "--out", str(out), "--project-dir", str(project))
    # THEN exit 1, the rule and resource named; artifacts are still written for review
    assert result.exit_code == 1
    assert "policy mandatory: cost-under-ceiling: stack: estimated" in result.stderr
    report = json.loads((out / "policy.json").read_text())
    assert report["mandatory_violations"] == 1
    assert "**Policy: 1 mandatory violation**" in (out / "summary.md").read_text()


def test_compare_reports_added_changed_removed_and_cost_delta(project: Path, tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-dev
    base = tmp_path / "base"
    assert invoke("plan", "healthcare-dev", "--out", str(base), "--project-dir", str(project)).exit_code == 0
    # WHEN a team is removed and another's CPU quota changes
    path = project / "stacks" / "Pulumi.healthcare-dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:teams"] = document["config"]["hybrid-ai:teams"][:1]
    document["config"]["hybrid-ai:teams"][0]["quota"]["cpu"] = "24"
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    result = invoke("plan", "healthcare-dev", "--out", str(out), "--project-dir", str(project), "--compare", str(base))
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text()
    # THEN the removed team's 9 objects and its backup schedule, and the changed quota and NVSentinel's
    # drain policy (which no longer lists the removed team's namespace) show; the protected namespace is called out
    assert "| added | 0 |" in summary
    assert "| changed | 2 |" in summary
    assert "`kubernetes:helm.sh/v3:Release` hc-dev-lab-nvsentinel-release" in summary
    assert "| removed | 10 |" in summary
    assert "`kubernetes:velero.io/v1:Schedule` hc-dev-lab-backup-schedule-team-pathology-dev" in summary
    assert "Removing protected resources fails until they are unprotected: `hc-dev-lab-tenancy-pathology-dev`" in summary
    assert "`kubernetes:core/v1:ResourceQuota` hc-dev-lab-tenancy-radiology-dev-quota" in summary
    before = json.loads((base / "cost.json").read_text())["total"]["estimate"]
    after = json.loads((out / "cost.json").read_text())["total"]["estimate"]
    assert after == before, "on-prem GPUs cost the same; the freed quota becomes unallocated"
    assert f"| monthly cost | {before:,.0f} → {after:,.0f} USD (+0) |" in summary


def test_compare_needs_an_earlier_plan(project: Path, tmp_path: Path) -> None:
    result = invoke("plan", "healthcare-dev", "--out", str(tmp_path / "o"), "--project-dir", str(project), "--compare", str(tmp_path))
    assert result.exit_code == 2 and "no resources.json there" in result.stderr


@pytest.mark.parametrize("stack", ["finance-prod", "healthcare-prod"])
def test_summary_diagram_shows_every_cluster_under_its_placement(stack: str) -> None:
    from tests.conftest import planned

    plan, files = planned(stack)
    summary = files[Path("summary.md")]
    mermaid = summary.split("```mermaid\n", 1)[1].split("```", 1)[0]
    targets = {r.inputs["target"]: r.inputs["placement"] for r in plan.resources if r.type == "hybrid-ai:target:Target"}
    for target, placement in targets.items():
        assert f't_{target}["{target}' in mermaid, target
    for placement in set(targets.values()):
        assert f'["{placement}"]' in mermaid
    assert mermaid.count("subgraph") == mermaid.count("  end")
    if stack == "finance-prod":
        assert "t_aws -->|creates| t_training" in mermaid


def test_summary_shows_what_the_planner_made_of_the_cluster_for_review() -> None:
    from tests.conftest import planned

    summary = planned("healthcare-prod")[1][Path("summary.md")]
    # GIVEN healthcare-prod's catalog, THEN reviewers see each pool split into MIG and whole GPUs...
    assert "### GPU capacity of `dc1` (MIG strategy `mixed`)" in summary
    assert "| a100-mig | A100-80GB | 16 | 8 | 8 |" in summary
    assert "| h100 | H100-80GB | 8 | 0 | 8 |" in summary
    # ...and each team's quota as the planner derived it
    assert "| radiology | 4 × 1g.10gb, 5 × 3g.40gb |" in summary
    assert "| clinical-research | 14 GPUs |" in summary
    finance = planned("finance-prod")[1][Path("summary.md")]
    assert "Training sent to the cloud burst pool: credit 16 GPUs (384 GPU-hours/week), fraud 32 GPUs (1,536 GPU-hours/week)." in finance


def test_workflow_passes_zizmor(tmp_path: Path) -> None:
    import shutil

    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    result = subprocess.run([zizmor, "--offline", "--config", str(ROOT / ".github" / "zizmor.yml"), str(ROOT / ".github" / "workflows")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    assert set(workflow["jobs"]) == {"test", "plan", "sign-evidence", "preview"}
    preview = next(s for s in workflow["jobs"]["preview"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions"))
    assert preview["with"]["policyPacks"] == "policy"


def test_rules_lists_every_rule_with_level_and_profile() -> None:
    from hybridai.policy.rules import RULES

    result = invoke("rules")
    assert result.exit_code == 0
    lines = {line.split()[0]: line.split()[1:3] for line in result.stdout.splitlines()}
    assert set(lines) == set(RULES)
    assert lines["hipaa-no-phi-in-cloud"] == ["mandatory", "hipaa"]
    assert lines["gpu-training-scales-to-zero"] == ["advisory", "baseline"]


def test_compare_warns_which_nodes_a_catalog_change_repartitions(project: Path, tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-prod
    base = tmp_path / "base"
    assert invoke("plan", "healthcare-prod", "--out", str(base), "--project-dir", str(project)).exit_code == 0
    # WHEN ml-platform reserves two 1g.10gb slices fewer (the catalog still fills 8 A100s)
    path = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:teams"][3]["quota"]["mig"]["1g.10gb"] = 6
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    assert invoke("plan", "healthcare-prod", "--out", str(out), "--project-dir", str(project), "--compare", str(base)).exit_code == 0
    # THEN the summary names the A100 nodes whose MIG layout changes, and not the H100 node
    summary = (out / "summary.md").read_text()
    warning = next(line for line in summary.splitlines() if line.startswith("> MIG layouts change on"))
    assert "`dc1/dc1-gpu-a100-0" in warning and "h100" not in warning
    # AND an unchanged catalog warns about nothing
    again = tmp_path / "again"
    assert invoke("plan", "healthcare-prod", "--out", str(again), "--project-dir", str(project), "--compare", str(out)).exit_code == 0
    assert "MIG layouts change" not in (again / "summary.md").read_text()


def _complete(words: str, cwd: Path) -> list[str]:
    env = {"_HYBRIDAI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(Path(sys.executable).parent / "hybridai")], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_shell_completion_offers_commands_stacks_and_blueprints(project: Path) -> None:
    # GIVEN the installed command, run from inside a project
    # WHEN the shell asks to complete a command, a stack of `plan` and a blueprint of `new`
    # THEN it offers the commands, the project's own stack files and the blueprints
    assert _complete("hybridai pl", project) == ["plan"]
    assert _complete("hybridai plan fin", project) == ["finance-dev", "finance-prod"]
    assert _complete("hybridai new man", project) == ["manufacturing-edge"]
    # AND the install and show options are there for every shell typer knows
    assert "--install-completion" in invoke("--help").stdout
    assert "_hybridai_completion" in runner.invoke(app, ["--show-completion", "bash"], prog_name="hybridai").stdout


def test_help_has_no_line_breaks_mid_sentence() -> None:
    # GIVEN the top-level help on a terminal wide enough for every summary
    wide = CliRunner(env={"COLUMNS": "400"}).invoke(app, ["--help"]).stdout
    rows = {line.split()[1]: line for line in wide.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    # WHEN the commands are listed THEN each summary is on its command's row, whole: the
    # docstrings' own line breaks are not shown
    assert rows["plan"].rstrip(" │").endswith("(unless --allow-renames).")
    assert rows["versions"].rstrip(" │").endswith("(plans every stack).")
    assert rows["comment"].rstrip(" │").endswith("with a pointer.")


def test_every_command_is_in_the_command_table() -> None:
    # GIVEN the CLI's commands, THEN the command table of docs/plan.md has a row for each
    readme = (ROOT / "docs" / "plan.md").read_text()
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert {"plan", "evidence", "verify-evidence"} <= names
    assert [name for name in sorted(names) if f"`hybridai {name}" not in readme] == []
