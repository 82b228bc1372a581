"""`hybridai fleet up` (hybridai/fleet_deploy.py): the order of a fleet's `pulumi up` runs, bounded
concurrency, a failed site reported while the others deploy, and what is refused before any run.
The runs themselves are the Pulumi CLI's (Automation API), which this machine doesn't have: they are
replaced here by a recording function, and the real one is checked to say the CLI is missing."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml

from hybridai.fleet_deploy import DeployError, automation_up, deploy
from hybridai.plan.fleet import FLEET_FILE

HUB = "plant"
SITES = [f"site-{i}" for i in range(5)]


def planned_fleet(tmp_path: Path, failed: str | None = None) -> tuple[Path, Path]:
    """A fleet plan's folder (fleet.json, generated stack files) and a project whose stacks/ holds them."""
    plan, project = tmp_path / "plan", tmp_path / "project"
    (plan / "stacks").mkdir(parents=True)
    (project / "stacks").mkdir(parents=True)
    members = [{"stack": HUB, "site": None}] + [{"stack": f"{HUB}.{s}", "site": s} for s in SITES]
    records = [{**m, "folder": "hub" if m["site"] is None else f"sites/{m['site']}", "status": "failed" if m["stack"] == failed else "planned", "mandatory_violations": 0} for m in members]
    (plan / FLEET_FILE).write_text(json.dumps({"members": records}))
    for m in members:
        text = yaml.safe_dump({"config": {"hybrid-ai:fleet": {} if m["site"] is None else {"site": m["site"], "hubStack": HUB}}})
        (plan / "stacks" / f"Pulumi.{m['stack']}.yaml").write_text(text)
        (project / "stacks" / f"Pulumi.{m['stack']}.yaml").write_text(text)
    return plan, project


class Recorder:
    """Stands in for `pulumi up`: records the order and the most runs at once; fails the stacks named."""

    def __init__(self, failing: set[str] = frozenset()):
        self.order: list[str] = []
        self.running = self.most = 0
        self.failing = failing
        self._lock = threading.Lock()

    def __call__(self, stack: str, project_dir: Path) -> dict[str, int]:
        with self._lock:
            self.order.append(stack)
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1
        if stack in self.failing:
            raise RuntimeError(f"update of {stack} failed: provider error")
        return {"create": 3, "same": 10}


def test_hub_first_then_sites_bounded_and_a_failed_site_reported(tmp_path: Path) -> None:
    # GIVEN a planned fleet of a hub and five sites, one of which fails to deploy
    plan, project = planned_fleet(tmp_path)
    up = Recorder(failing={f"{HUB}.site-2"})
    # WHEN it is deployed two sites at a time
    runs = deploy(plan, project, parallel=2, up=up)
    # THEN the hub runs first and alone, every site is tried, never more than two at once
    assert up.order[0] == HUB and sorted(up.order[1:]) == sorted(f"{HUB}.{s}" for s in SITES)
    assert up.most == 2
    # AND each stack has its report, the failed site's with its error, the others deployed
    by_stack = {r.stack: r for r in runs}
    assert by_stack[f"{HUB}.site-2"].status == "failed" and "provider error" in by_stack[f"{HUB}.site-2"].error
    assert [r.status for r in runs].count("succeeded") == 5
    assert by_stack[f"{HUB}.site-4"].changes == {"create": 3, "same": 10}


def test_a_failed_hub_skips_every_site(tmp_path: Path) -> None:
    # GIVEN a hub that fails to deploy WHEN the fleet is deployed THEN no site runs, each is skipped saying why
    plan, project = planned_fleet(tmp_path)
    up = Recorder(failing={HUB})
    runs = deploy(plan, project, parallel=4, up=up)
    assert up.order == [HUB]
    assert [r.status for r in runs] == ["failed"] + ["skipped"] * len(SITES)
    assert runs[1].error == f"its hub {HUB} failed"


def test_stale_stack_files_and_failed_plans_are_refused_before_any_run(tmp_path: Path) -> None:
    # GIVEN a project whose stack file of one site differs from the planned one
    plan, project = planned_fleet(tmp_path)
    (project / "stacks" / f"Pulumi.{HUB}.site-1.yaml").write_text(yaml.safe_dump({"config": {"hybrid-ai:fleet": {"site": "site-1", "hubStack": "other"}}}))
    up = Recorder()
    # WHEN deployed THEN refused naming it, nothing run
    with pytest.raises(DeployError, match=rf"Pulumi\.{HUB}\.site-1\.yaml"):
        deploy(plan, project, parallel=2, up=up)
    assert up.order == []
    # GIVEN a plan in which a member failed WHEN deployed THEN refused naming it
    shutil.rmtree(tmp_path / "plan")
    shutil.rmtree(tmp_path / "project")
    plan, project = planned_fleet(tmp_path, failed=f"{HUB}.site-3")
    with pytest.raises(DeployError, match=rf"{HUB}\.site-3"):
        deploy(plan, project, parallel=2, up=up)


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="the Pulumi CLI is installed: a real `pulumi up` would run")
def test_the_automation_api_run_says_the_pulumi_cli_is_needed(tmp_path: Path) -> None:
    # GIVEN no Pulumi CLI on this machine WHEN a member is deployed through the Automation API THEN the error says what to install
    with pytest.raises(DeployError, match="the Pulumi CLI is needed"):
        automation_up("plant", tmp_path)
