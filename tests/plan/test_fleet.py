"""A fleet planned as many stacks (hybridai/plan/fleet.py): the hub and one stack per site, the
StackReference answered from the hub's plan, each member cached by the hash of its inputs, identity
against the single-stack plan, failures reported by name."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pulumi
import pytest
import yaml

from hybridai.config import StackConfigError
from hybridai.config.fleet import HUB_OUTPUT
from hybridai.plan import PlanError
from hybridai.plan.engine import ORGANIZATION, execute
from hybridai.plan.fleet import FLEET_FILE, FleetError, FleetOutError, hub_references, input_hash, member_config, plan_fleet, reference_name, split
from hybridai.program import read_stack_file
from tests.conftest import ROOT, planned

STACK = "manufacturing-prod"
SITES = ["line-1", "line-2", "line-3"]


def fleet_project(tmp_path: Path, edit=None) -> Path:  # noqa: ANN001 - edit(config) changes the fleet file
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project)
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
    if edit:
        edit(document["config"])
    (project / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return project


def rewrite(project: Path, edit) -> None:  # noqa: ANN001
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manufacturing-prod planned as one stack, written as `hybridai plan` writes it."""
    from hybridai.plan import artifacts

    out = tmp_path_factory.mktemp("single") / "plan"
    plan, _ = planned(STACK)
    artifacts.write(plan, out)
    return out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, single: Path):  # noqa: ANN201
    """manufacturing-prod planned as a fleet, compared with its single-stack plan."""
    out = tmp_path_factory.mktemp("fleet") / "plan"
    return plan_fleet(STACK, ROOT, out, jobs=2, base=single), out


def test_split_makes_a_hub_and_a_stack_per_site() -> None:
    # GIVEN manufacturing-prod's stack file
    config = read_stack_file(ROOT / "stacks" / f"Pulumi.{STACK}.yaml", "x").config
    # WHEN it is split into a fleet
    members = split(STACK, config)
    # THEN the hub keeps the stack's name and every site; each site stack holds its one site, backs up only it, names the hub
    assert [m.stack for m in members] == [STACK, *(f"{STACK}.{s}" for s in SITES)]
    hub, line2 = members[0], members[2]
    assert hub.config["hybrid-ai:fleet"] == {} and len(hub.config["hybrid-ai:sites"]) == 3
    assert [s["name"] for s in line2.config["hybrid-ai:sites"]] == ["line-2"]
    assert line2.config["hybrid-ai:backups"]["sites"] == ["line-2"]
    assert line2.config["hybrid-ai:fleet"] == {"site": "line-2", "hubStack": STACK}
    assert line2.folder == "sites/line-2"


def test_fleet_keeps_every_resource_identity_of_the_single_stack(fleet) -> None:  # noqa: ANN001
    # GIVEN manufacturing-prod planned as one stack and as a fleet
    result, out = fleet
    identity = result.identity
    # THEN every resource is in exactly one member, same URN (the stack aside), inputs and options
    assert identity["same"] is True
    assert identity["missing"] == identity["added"] == identity["changed"] == identity["in_two_members"] == []
    assert identity["matched"] == len(planned(STACK)[0].resources)
    # AND each site's resources are listed for `pulumi state move`, in the engine's URN form of the single stack
    moves = identity["moves"]
    assert sorted(moves) == [f"{STACK}.{s}" for s in SITES]
    assert all(urn.startswith(f"urn:pulumi:{STACK}::hybrid-ai::") for urns in moves.values() for urn in urns)
    assert any(urn.endswith("hybrid-ai:target:Target$hybrid-ai:gpu_platform:GpuPlatform::mfg-prod-line-1") for urn in moves[f"{STACK}.line-1"])


def test_fleet_summary_aggregates_members_and_their_cost(fleet) -> None:  # noqa: ANN001
    # GIVEN the fleet's plan
    result, out = fleet
    index = json.loads((out / FLEET_FILE).read_text())
    single_cost = json.loads(planned(STACK)[1][Path("cost.json")])["total"]["estimate"]
    # THEN the totals are the members' and the fleet costs what the single stack does
    totals = index["totals"]
    assert (totals["members"], totals["sites"], totals["planned"], totals["cached"], totals["failed"]) == (4, 3, 4, 0, 0)
    assert totals["resources"] == len(planned(STACK)[0].resources)
    assert totals["monthly_cost"] == pytest.approx(single_cost, abs=0.01)
    # AND each member has its counts by placement and its own plan folder and stack file
    by_stack = {m["stack"]: m for m in index["members"]}
    assert set(by_stack[f"{STACK}.line-3"]["by_placement"]) == {"edge:line-3"}
    assert set(by_stack[STACK]["by_placement"]) == {"cloud", "onprem"}
    for m in index["members"]:
        assert (out / m["folder"] / "resources.json").is_file()
        assert (out / "stacks" / f"Pulumi.{m['stack']}.yaml").is_file()
    summary = (out / "summary.md").read_text()
    assert f"| {STACK}.line-2 | line-2 | planned | {by_stack[f'{STACK}.line-2']['resources']} |" in summary


def test_site_stack_reads_the_hub_output_through_its_stack_reference(fleet) -> None:  # noqa: ANN001
    # GIVEN the fleet's plan
    result, out = fleet
    hub_outputs = json.loads((out / "hub" / "outputs.json").read_text())
    # THEN the hub exports what sites read, and a site's Prometheus agent remote-writes to exactly that URL
    url = hub_outputs[HUB_OUTPUT]["remoteWriteUrl"]
    assert url == "https://metrics.plant-a.example/api/v1/write"
    records = json.loads((out / "sites" / "line-1" / "resources.json").read_text())["resources"]
    prometheus = next(r for r in records if r["type"] == "kubernetes:monitoring.coreos.com/v1alpha1:PrometheusAgent" or ("remoteWrite" in json.dumps(r["inputs"]) and r["type"].startswith("kubernetes:")))
    assert url in json.dumps(prometheus["inputs"])
    # AND the generated site stack file names its hub, so `pulumi up` reads the same output
    generated = yaml.safe_load((out / "stacks" / f"Pulumi.{STACK}.line-1.yaml").read_text())
    assert generated["config"]["hybrid-ai:fleet"] == {"site": "line-1", "hubStack": STACK}


def test_stack_reference_reads_the_given_outputs_and_an_unknown_stack_fails() -> None:
    # GIVEN a program reading a stack reference, and the outputs the plan is given for that stack
    seen = {}

    def program() -> None:
        ref = pulumi.StackReference("hub", reference_name("hybrid-ai", "plant"))
        ref.require_output(HUB_OUTPUT).apply(lambda facts: seen.update(facts))

    references = hub_references("hybrid-ai", "plant", {HUB_OUTPUT: {"remoteWriteUrl": "https://hub.example/api/v1/write"}})
    # WHEN it runs under the plan's mocks
    execute(program, project="hybrid-ai", stack="site", references=references)
    # THEN it reads exactly those outputs, named in the plan's organization
    assert seen == {"remoteWriteUrl": "https://hub.example/api/v1/write"}
    assert list(references) == [f"{ORGANIZATION}/hybrid-ai/plant"]
    # AND a reference to a stack the plan has no outputs of fails the plan, naming it
    with pytest.raises(PlanError, match="reads stack 'organization/hybrid-ai/other'"):
        execute(lambda: pulumi.StackReference("hub", reference_name("hybrid-ai", "other")), project="hybrid-ai", stack="site", references=references)


def test_a_hub_without_the_output_sites_read_is_refused() -> None:
    # GIVEN a hub whose outputs lack the remote-write URL WHEN the sites' references are made THEN the error names it
    with pytest.raises(FleetError, match=r"exports no fleetHub\.remoteWriteUrl"):
        hub_references("hybrid-ai", "plant", {HUB_OUTPUT: {}})
    with pytest.raises(FleetError, match=r"exports no fleetHub\.remoteWriteUrl"):
        hub_references("hybrid-ai", "plant", {})


def test_input_hash_changes_with_each_input() -> None:
    # GIVEN a site member and its inputs
    config = read_stack_file(ROOT / "stacks" / f"Pulumi.{STACK}.yaml", "x").config
    member = split(STACK, config)[1]
    refs = hub_references("hybrid-ai", STACK, {HUB_OUTPUT: {"remoteWriteUrl": "https://a.example/w"}})
    base = input_hash(member, [], refs, "hybrid-ai")
    # THEN the same inputs give the same hash, and each input changes it
    assert input_hash(member, [], refs, "hybrid-ai") == base
    other_refs = hub_references("hybrid-ai", STACK, {HUB_OUTPUT: {"remoteWriteUrl": "https://b.example/w"}})
    assert input_hash(member, [], other_refs, "hybrid-ai") != base
    assert input_hash(member, ["hybrid-ai:x"], refs, "hybrid-ai") != base
    assert input_hash(member, [], refs, "other-project") != base
    changed = type(member)(member.stack, member.site, {**member.config, "hybrid-ai:costCenter": "cc-1"}, member.folder)
    assert input_hash(changed, [], refs, "hybrid-ai") != base


def test_only_what_changed_is_planned_again(tmp_path: Path) -> None:
    # GIVEN a fleet planned once
    project = fleet_project(tmp_path)
    out = tmp_path / "fleet"
    assert plan_fleet(STACK, project, out, jobs=2).totals()["planned"] == 4
    # WHEN it is planned again unchanged THEN nothing is planned, every member's earlier plan kept
    again = plan_fleet(STACK, project, out, jobs=2)
    assert [m.status for m in again.members] == ["cached"] * 4
    # WHEN one site changes THEN that site alone of the sites is planned again (and the hub, whose
    # config holds every site: its artifacts and rules read them), the hub's outputs being the same
    rewrite(project, lambda c: c["hybrid-ai:sites"][1].update(cacheSize="60Gi"))
    one = plan_fleet(STACK, project, out, jobs=2)
    assert {m.stack: m.status for m in one.members} == {STACK: "planned", f"{STACK}.line-1": "cached", f"{STACK}.line-2": "planned", f"{STACK}.line-3": "cached"}
    assert "60Gi" in (out / "sites" / "line-2" / "resources.json").read_text()
    # WHEN the hub's output every site reads changes THEN the hub and every site are planned again
    rewrite(project, lambda c: c.update({"hybrid-ai:hubRemoteWriteUrl": "https://metrics2.plant-a.example/api/v1/write"}))
    hub_changed = plan_fleet(STACK, project, out, jobs=2)
    assert [m.status for m in hub_changed.members] == ["planned"] * 4
    assert "metrics2.plant-a.example" in (out / "sites" / "line-3" / "resources.json").read_text()
    # WHEN a site leaves the fleet THEN its stack and folder go, the rest stays cached
    rewrite(project, lambda c: (c["hybrid-ai:sites"].pop(0), c["hybrid-ai:backups"].update(sites=["line-2", "line-3"])))
    smaller = plan_fleet(STACK, project, out, jobs=2)
    assert smaller.removed == [f"{STACK}.line-1"] and not (out / "sites" / "line-1").exists()
    assert {m.stack: m.status for m in smaller.members}[f"{STACK}.line-3"] == "cached"


def test_a_failed_site_is_reported_by_name_and_the_others_kept(tmp_path: Path) -> None:
    # GIVEN a fleet planned once, then line-2's folder replaced by a file (its plan can't be written) and line-1 changed
    project = fleet_project(tmp_path)
    out = tmp_path / "fleet"
    plan_fleet(STACK, project, out, jobs=2)
    shutil.rmtree(out / "sites" / "line-2")
    (out / "sites" / "line-2").write_text("not a plan")
    rewrite(project, lambda c: [s.update(cacheSize="70Gi") for s in c["hybrid-ai:sites"][:2]])
    # WHEN it is planned again
    result = plan_fleet(STACK, project, out, jobs=2)
    # THEN line-2 failed, saying why, and line-1's new plan is written
    statuses = {m.stack: m.status for m in result.members}
    assert statuses == {STACK: "planned", f"{STACK}.line-1": "planned", f"{STACK}.line-2": "failed", f"{STACK}.line-3": "cached"}
    failed = result.failed[0]
    assert failed.stack == f"{STACK}.line-2" and "is a file, not a folder" in failed.error
    assert "70Gi" in (out / "sites" / "line-1" / "resources.json").read_text()
    # AND the failure is not cached: the index records it, and the summary names it
    index = json.loads((out / FLEET_FILE).read_text())
    assert index["totals"]["failed"] == 1
    assert f"**{STACK}.line-2**" in (out / "summary.md").read_text()


def test_bad_fleets_are_refused_at_their_keys(tmp_path: Path) -> None:
    # GIVEN a fleet whose two sites share a name WHEN planned THEN the fleet file's problem is at the second's name
    project = fleet_project(tmp_path, lambda c: c["hybrid-ai:sites"][1].update(name="line-1"))
    with pytest.raises(StackConfigError) as error:
        plan_fleet(STACK, project, tmp_path / "out", jobs=1)
    assert ("sites", 1, "name") in [p.loc for p in error.value.problems]
    # GIVEN a site whose stack name would break Pulumi's limit of 100 characters
    config = read_stack_file(ROOT / "stacks" / f"Pulumi.{STACK}.yaml", "x").config
    with pytest.raises(StackConfigError) as error:
        split("s" * 94, config)
    assert [(p.loc, p.type) for p in error.value.problems] == [(("sites", i, "name"), "fleet_stack_name") for i in range(3)]
    # GIVEN a generated site stack's config planned as if it were a fleet
    with pytest.raises(StackConfigError) as error:
        split(f"{STACK}.line-1", member_config(config, STACK, "line-1"))
    assert [(p.loc, p.type) for p in error.value.problems] == [(("fleet", "site"), "fleet_site_stack")]


def test_a_folder_that_is_not_a_fleet_plan_is_refused(tmp_path: Path) -> None:
    # GIVEN a folder holding something else WHEN a fleet is planned into it THEN it is refused, untouched
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FleetOutError, match="no fleet.json"):
        plan_fleet(STACK, ROOT, out, jobs=1)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_cli_reports_the_fleet_and_its_identity(fleet, single: Path) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from hybridai.cli import app

    # GIVEN the fleet's earlier plan WHEN `hybridai fleet plan` runs again into it, compared with the single stack
    _, out = fleet
    result = CliRunner().invoke(app, ["fleet", "plan", STACK, "--project-dir", str(ROOT), "--out", str(out), "--compare", str(single)])
    # THEN nothing is planned again, and the lines say so, with the identity kept
    assert result.exit_code == 0, result.output
    assert f"{STACK} fleet: 4 stacks (3 sites): 0 planned, 4 unchanged, 0 failed;" in result.stdout
    assert f"identity: all {len(planned(STACK)[0].resources)} resources of {single} keep their URN" in result.stdout


def test_cli_refuses_a_foreign_folder_and_a_missing_base(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hybridai.cli import app

    # GIVEN a folder holding something else WHEN planned into THEN exit 2 naming it
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["fleet", "plan", STACK, "--project-dir", str(ROOT), "--out", str(out)])
    assert result.exit_code == 2 and "no fleet.json" in result.output
    # GIVEN a --compare folder without a plan WHEN planned THEN exit 2 before anything runs
    result = CliRunner().invoke(app, ["fleet", "plan", STACK, "--project-dir", str(ROOT), "--out", str(tmp_path / "new"), "--compare", str(tmp_path)])
    assert result.exit_code == 2 and "no resources.json there" in result.output
    assert not (tmp_path / "new").exists()
