"""`hybridai fleet up`: deploy a planned fleet with `pulumi up` per member stack, through the Pulumi
Automation API — the hub first (its sites read its outputs), then the sites, a bounded number at
once, each site's failure recorded by name while the others go on (docs/fleets.md).

The engine is Pulumi's: each member's `up` is the Pulumi CLI's own run (state, locking, retries of
its providers), started by the Automation API; this module only chooses the order and reports.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from hybridai.plan.fleet import FLEET_FILE


class DeployError(Exception):
    """The fleet can't be deployed as planned; the message says what to do."""


@dataclass
class Run:
    """One member's `pulumi up`."""

    stack: str
    site: str | None
    status: str
    """`succeeded`, `failed`, or `skipped` (a site whose hub failed)."""
    changes: dict[str, int] | None = None
    """Resources by operation (`create`, `update`, `same`, …) as Pulumi's update summary counts them."""
    error: str | None = None


Up = Callable[[str, Path], dict[str, int]]
"""Runs `pulumi up` of one stack of the project; returns its resource changes or raises."""


def automation_up(stack: str, project_dir: Path) -> dict[str, int]:
    """`pulumi up --yes` of `stack` through the Automation API (a local workspace on the project:
    its Pulumi.yaml, its `stacks/` config, the logged-in backend)."""
    from pulumi import automation

    try:
        selected = automation.select_stack(stack_name=stack, work_dir=str(project_dir))
        result = selected.up(on_output=lambda _line: None)
    except FileNotFoundError as error:
        raise DeployError(f"the Pulumi CLI is needed to deploy ({error}); install it (https://www.pulumi.com/docs/install/) and log in to the fleet's backend") from None
    return dict(result.summary.resource_changes or {})


def members(plan_dir: Path) -> list[dict[str, Any]]:
    """The planned fleet's members, refusing a plan with a failed member or a mandatory violation."""
    index_path = plan_dir / FLEET_FILE
    if not index_path.is_file():
        raise DeployError(f"{plan_dir}: no {FLEET_FILE}; pass the folder `hybridai fleet plan` wrote")
    index = json.loads(index_path.read_text())
    bad = [m["stack"] for m in index["members"] if m["status"] == "failed" or m["mandatory_violations"]]
    if bad:
        raise DeployError(f"the plan in {plan_dir} has members that failed or violate a mandatory policy rule: {', '.join(bad)}; fix them and plan again")
    return index["members"]


def check_stack_files(plan_dir: Path, project_dir: Path, planned: list[dict[str, Any]]) -> None:
    """Every member's stack file in the project's stacks/ holds the config the plan planned (the
    generated file, in `<plan>/stacks/`): `pulumi up` deploys what was reviewed, or nothing."""
    stale = []
    for member in planned:
        name = f"Pulumi.{member['stack']}.yaml"
        generated = yaml.safe_load((plan_dir / "stacks" / name).read_text())["config"]
        deployed = project_dir / "stacks" / name
        if not deployed.is_file() or (yaml.safe_load(deployed.read_text()) or {}).get("config") != generated:
            stale.append(name)
    if stale:
        raise DeployError(
            f"stacks/ doesn't hold the planned config of {', '.join(stale)}: copy them from {plan_dir / 'stacks'} "
            "(the fleet's own file needs `fleet: {}` to deploy as the hub) and plan again if the fleet file changed"
        )


def deploy(plan_dir: Path, project_dir: Path, parallel: int, up: Up = automation_up, on_run: Callable[[Run], None] | None = None) -> list[Run]:
    """Deploy the planned fleet: the hub, then its sites `parallel` at a time; every site is tried
    whatever happens to the others, and none when the hub fails."""
    planned = members(plan_dir)
    check_stack_files(plan_dir, project_dir, planned)
    hub, sites = planned[0], planned[1:]

    def run(member: dict[str, Any]) -> Run:
        try:
            done = Run(member["stack"], member["site"], "succeeded", changes=up(member["stack"], project_dir))
        except Exception as error:  # noqa: BLE001 - one site's failure is its report, not the fleet's end
            done = Run(member["stack"], member["site"], "failed", error=str(error) or type(error).__name__)
        if on_run is not None:
            on_run(done)
        return done

    first = run(hub)
    if first.status == "failed":
        skipped = [Run(m["stack"], m["site"], "skipped", error=f"its hub {hub['stack']} failed") for m in sites]
        return [first, *skipped]
    # Each `up` is a Pulumi CLI process of its own: the threads only wait for them.
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return [first, *pool.map(run, sites)]
