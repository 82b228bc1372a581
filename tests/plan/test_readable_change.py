"""A reviewer sees what a change does on the first screen: field changes, quota and pool deltas,
cost by team, replacements, and a budget overrun at the top."""
from __future__ import annotations

from pathlib import Path

import yaml

from hybridai.plan.artifacts import render, write
from hybridai.plan.engine import run_plan


def edit(project: Path, stack: str, change) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document))


def test_a_quota_change_shows_the_field_the_quota_delta_and_the_cost_delta(project: Path, tmp_path: Path) -> None:
    # GIVEN healthcare-prod planned as it is
    base = tmp_path / "base"
    write(run_plan("healthcare-prod", project), base, project=project)
    before = yaml.safe_load((project / "stacks" / "Pulumi.healthcare-prod.yaml").read_text())["config"]["hybrid-ai:teams"]
    [research] = [i for i, t in enumerate(before) if t["name"] == "clinical-research"]
    [platform] = [i for i, t in enumerate(before) if t["name"] == "ml-platform"]
    research_gpus, platform_gpus = before[research]["quota"].get("gpus", 0), before[platform]["quota"].get("gpus", 0)

    # WHEN ml-platform hands one whole GPU of its explicit quota to clinical-research
    def move(config: dict) -> None:
        config["hybrid-ai:teams"][research]["quota"]["gpus"] = research_gpus + 1
        config["hybrid-ai:teams"][platform]["quota"]["gpus"] = platform_gpus - 1

    edit(project, "healthcare-prod", move)
    files = render(run_plan("healthcare-prod", project), base)
    change, summary = files.change, files[Path("summary.md")]
    # THEN the ResourceQuota's changed field reads old → new
    [quota] = [u for u in change["changed"] if u.endswith("::hc-prod-dc1-tenancy-clinical-research-quota")]
    [field] = [f for f in change["fields"][quota] if f["path"] == "spec.hard.requests.nvidia.com/gpu"]
    assert (int(field["new"]) - int(field["old"])) == 1
    assert f"`spec.hard.requests.nvidia.com/gpu`: `{field['old']}` → `{field['new']}`" in summary
    # AND the quota table shows the team namespace's delta
    [row] = [q for q in change["quotas"] if q["name"] == "dc1/clinical-research" and q["resource"] == "nvidia.com/gpu"]
    assert row["delta"] == 1
    assert [q["delta"] for q in change["quotas"] if q["name"] == "dc1/ml-platform" and q["resource"] == "nvidia.com/gpu"] == [-1]
    # AND the cost moves by team (its share of the amortized GPUs grows), not only in total
    assert any(t["team"] == "clinical-research" and t["delta"] > 0 for t in change["cost"]["by_team"])
    # AND nothing is replaced by a quota change
    assert change["replacements"] == []


def test_an_overrun_of_the_stacks_budget_is_a_warning_at_the_top(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-prod with an AWS budget below its cloud estimate
    edit(project, "finance-prod", lambda c: c["hybrid-ai:cloud"]["budget"].update(monthlyLimitUsd=10000))
    summary = render(run_plan("finance-prod", project))[Path("summary.md")]
    # THEN the warning comes before the cost and everything else
    warning = summary.index("**Over budget**")
    assert warning < summary.index("**Estimated monthly cost")
    assert "exceeds the stack's AWS budget of 10,000 USD (142 %)" in summary


def test_the_resource_table_is_folded_and_the_summary_stays_short() -> None:
    # GIVEN the largest example stack, THEN the per-kind table sits in a fold and the summary is
    # short enough to post for several stacks in one PR comment
    from tests.conftest import planned

    _, files = planned("manufacturing-prod")
    summary = files[Path("summary.md")]
    assert "<details><summary>Resources (" in summary
    assert len(summary.encode()) < 20000


def test_a_longer_training_job_shows_its_models_cost_before_and_after(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-prod planned as it is
    base = tmp_path / "base"
    write(run_plan("finance-prod", project), base, project=project)

    # WHEN credit-retrain trains a quarter longer each week (384 → 480 GPU-hours)
    def longer(config: dict) -> None:
        [job] = [j for j in config["hybrid-ai:training"] if j["name"] == "credit-retrain"]
        job["gpuHoursPerWeek"] = 480

    edit(project, "finance-prod", longer)
    files = render(run_plan("finance-prod", project), base)
    change, summary = files.change, files[Path("summary.md")]
    # THEN only that job's cost moves, by a quarter, and the summary shows it before → after
    [row] = change["cost"]["by_model"]
    assert row["model"] == "credit-retrain (training, training)"
    assert round(row["after"] / row["before"], 2) == 1.25
    assert f"| credit-retrain (training, training) | {row['before']:,.0f} → {row['after']:,.0f} (+{row['delta']:,.0f}) |" in summary


def test_a_changed_multi_line_value_shows_the_lines_that_changed(project: Path, tmp_path: Path) -> None:
    # GIVEN healthcare-dev planned with its A30s cut in four 1g.6gb slices
    base = tmp_path / "base"
    write(run_plan("healthcare-dev", project), base, project=project)
    # WHEN the pool's GPUs are cut in two 2g.12gb slices instead (the teams' quotas lowered to fit)
    def recut(config: dict) -> None:
        config["hybrid-ai:onprem"]["gpuPools"][0]["mig"] = {"2g.12gb": 2}
        for team in config["hybrid-ai:teams"]:
            team["quota"]["gpus"] = min(team["quota"].get("gpus", 0), 2)

    edit(project, "healthcare-dev", recut)
    files = render(run_plan("healthcare-dev", project), base)
    change, summary = files.change, files[Path("summary.md")]
    # THEN the mig-manager's config (a multi-line text) changed, and its field carries the diff of
    # the lines that changed: the old layout out, the new one in
    [config] = [u for u in change["changed"] if u.endswith("-mig-config")]
    [field] = [f for f in change["fields"][config] if f["path"].endswith("config.yaml")]
    assert any(line.startswith("-") and "1g.6gb" in line for line in field["diff"])
    assert any(line.startswith("+") and "2g.12gb" in line for line in field["diff"])
    assert field["lines"]["+"] >= 1 and field["lines"]["-"] >= 1
    # AND the summary shows it as a folded unified diff, not two values cut to the same prefix
    shown = summary.split(f"`{field['path']}`:", 1)[1].split("</details>", 1)[0]
    assert "<details><summary>diff</summary>" in shown and "```diff" in shown
    assert any(f"    {line}" in shown for line in field["diff"] if "2g.12gb" in line)
    assert f"`{field['old']}` → `{field['new']}`" not in summary


def test_a_base_of_another_stack_is_compared_without_the_stack_name_and_claims_no_renames(project: Path, tmp_path: Path) -> None:
    # GIVEN a plan of healthcare-prod as the base, and a copy of that stack file as stack `hospital-b`
    # with the same prefix (every protected resource's URN differs by the stack name alone)
    base = tmp_path / "base"
    write(run_plan("healthcare-prod", project), base, project=project)
    (project / "stacks" / "Pulumi.hospital-b.yaml").write_text((project / "stacks" / "Pulumi.healthcare-prod.yaml").read_text())
    # WHEN hospital-b is planned against it
    files = render(run_plan("hospital-b", project), base)
    change, summary = files.change, files[Path("summary.md")]
    # THEN nothing is added, removed, changed or renamed: the same resources, matched without the stack name
    assert (change["added"], change["removed"], change["changed"], change["renamed"], change["removed_protected"]) == ([], [], [], [], [])
    assert change["other_stack"] == "healthcare-prod"
    # AND the summary says what was compared, and why no rename can be claimed
    assert "The base is a plan of another stack, `healthcare-prod`" in summary
    assert "would get a new URN" not in summary
