"""`hybridai`: plan stacks offline, list blueprints, start new stacks, print the config reference."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Infrastructure-as-code generator for hybrid AI stacks on Pulumi.", no_args_is_help=True, rich_markup_mode="markdown")
out = Console()
err = Console(stderr=True)

EXIT_INVALID = 2


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def find_project(start: Path) -> Path:
    for folder in [start, *start.parents]:
        if (folder / "Pulumi.yaml").is_file():
            return folder
    fail(f"no Pulumi.yaml in {start} or above; run hybridai inside the project (or pass --project-dir)")


def complete_stack(incomplete: str) -> list[str]:
    """Shell completion of a stack name: the stack files of the project around the current folder."""
    folder = next((f for f in [Path.cwd(), *Path.cwd().parents] if (f / "Pulumi.yaml").is_file()), None)
    names = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (folder / "stacks").glob("Pulumi.*.yaml")) if folder else []
    return [n for n in names if n.startswith(incomplete)]


def complete_blueprint(incomplete: str) -> list[str]:
    """Shell completion of a blueprint name."""
    from hybridai.blueprints import BLUEPRINTS

    return [name for name in BLUEPRINTS if name.startswith(incomplete)]


Environment = Literal["dev", "staging", "prod"]
"""A stack's environment, as `hybridai.config.base.Environment` has it (typer needs the literal here)."""

ProjectDir = Annotated[Path | None, typer.Option("--project-dir", help="Folder holding Pulumi.yaml and stacks/ (default: found from the current folder up).")]


@app.command()
def plan(
    stack: Annotated[str, typer.Argument(help="Stack name: plans `stacks/Pulumi.<STACK>.yaml`.", autocompletion=complete_stack)],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Where artifacts go (default: `build/<STACK>/`): a new or empty folder, or one holding an earlier plan and nothing else."),
    ] = None,
    compare: Annotated[Path | None, typer.Option("--compare", help="An earlier plan's folder: summary.md shows the change against it.")] = None,
    allow_renames: Annotated[
        bool, typer.Option("--allow-renames", help="With --compare: don't fail when protected resources get a new URN (they are still listed).")
    ] = False,
    project_dir: ProjectDir = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print the resource counts by placement and kind.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout for CI: the outcome, counts, cost, findings, change or the stack file's problems; the usual lines go to stderr.")
    ] = False,
) -> None:
    """Run the stack's program offline and write its artifacts: resources.json, manifests/, helm/,
    cost.json, policy.json and summary.md. Exit 1 when a mandatory policy rule is violated, or when
    --compare finds protected resources whose URN changes (unless --allow-renames)."""
    from hybridai.config.base import stack_name_problem

    def stop(status: str, message: str, code: int = EXIT_INVALID) -> NoReturn:
        if as_json:
            typer.echo(json.dumps({"stack": stack, "status": status, "exit_code": code, "message": message}, indent=2, sort_keys=True))
        fail(message, code)

    if (problem := stack_name_problem(stack)) is not None:
        stop("invalid_stack_name", f"{problem}; nothing was written")
    project = project_dir or find_project(Path.cwd())
    target = out_dir or project / "build" / stack
    result, files = _planned(stack, project, target, compare, stop, as_json)
    # A few plain lines, the same on a terminal and in CI logs: summary.md has the detail. With
    # --json they go to stderr, and stdout holds the document alone.
    by_placement = _say_planned(stack, result, files, target, compare, verbose, as_json)
    status, report = _verdict(files, target, compare, allow_renames)
    code = 0 if status == "planned" else 1
    if as_json:
        cost = json.loads(files[Path("cost.json")]) if Path("cost.json") in files else None
        typer.echo(json.dumps(plan_document(stack, result.blueprint, status, code, target, by_placement, cost, report, files.change), indent=2, sort_keys=True))
    if code:
        raise typer.Exit(code)


def _planned(stack: str, project: Path, target: Path, compare: Path | None, stop, as_json: bool, context: tuple[str, int | None] | None = None):  # noqa: ANN001, ANN202 - plan's stop(); (Plan, Artifacts)
    """Plan the stack and write its artifacts to `target`; every way that can fail ends the command
    here with its exit code (2: the stack file or --out/--compare; 1: a program that can't be planned)."""
    from hybridai.config import StackConfigError
    from hybridai.config.codec import key_path
    from hybridai.plan import PlanError, artifacts, run_plan
    from hybridai.plan.review import BasePlanError

    try:
        # Before planning: a refused --out or --compare costs nothing and touches nothing.
        artifacts.check_out(target, project)
        if compare is not None and not (compare / "resources.json").is_file():
            stop("refused", f"--compare {compare}: no resources.json there; pass the folder of an earlier plan")
        with Progress(SpinnerColumn(), TextColumn("planning {task.description}: {task.completed} resources"), TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task(stack, total=None)
            result = run_plan(stack, project, on_register=lambda _type: progress.advance(task))
        return result, artifacts.write(result, target, compare, project, context)
    except StackConfigError as error:
        if as_json:
            # Keys, codes and messages only: a problem's value may be a credential, and CI logs are read widely.
            problems = [{"key": key_path(p.loc) if p.loc != ("<file>",) else None, "type": p.type, "message": p.message} for p in error.problems]
            typer.echo(json.dumps({"stack": stack, "status": "invalid_stack_file", "exit_code": EXIT_INVALID, "stack_file": error.stack_file, "problems": problems}, indent=2, sort_keys=True))
        typer.echo(error.render(), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except (artifacts.OutDirError, BasePlanError) as error:
        stop("refused", str(error))
    except PlanError as error:
        retired = artifacts.retire_summary(target)
        stale = f"\n{target} holds an earlier plan: its summary.md was removed so it isn't read as this run's; its other files are that plan's." if retired else ""
        stop("not_planned", f"{error}{stale}", code=1)


def _say_planned(stack: str, result, files, target: Path, compare: Path | None, verbose: bool, as_json: bool) -> Counter:  # noqa: ANN001 - Plan, Artifacts
    """The plan's lines: resources by placement (by kind too with --verbose), the cost, the change,
    where the files are. Returns the resource counts by placement."""
    from hybridai.plan import artifacts

    def say(line: str) -> None:
        typer.echo(line, err=as_json)

    by_placement = Counter(placement for placement, _ in artifacts.counts(result).elements())
    say(f"{stack} ({result.blueprint}): {len(result.resources)} resources — " + ", ".join(f"{p} {n}" for p, n in sorted(by_placement.items())))
    if verbose:
        table = Table()
        for column in ("placement", "kind", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for (placement, kind), count in sorted(artifacts.counts(result).items()):
            table.add_row(placement, kind, str(count))
        (err if as_json else out).print(table)
    if Path("cost.json") in files:
        say(cost_line(json.loads(files[Path("cost.json")])))
    change = files.change
    if change is not None:
        replaced = len(change["replacements"])
        say(
            f"compared with {compare}: {len(change['added'])} added, {len(change['changed'])} changed ({replaced} replaced), "
            f"{len(change['removed'])} removed, {len(change['moved'])} moved"
        )
    else:
        say("no comparison (pass --compare BASE_DIR to review a change)")
    say(f"wrote {len(files)} files to {target}; summary: {target / 'summary.md'}")
    for line in result.warnings:
        typer.echo(f"warning: {line}", err=True)
    return by_placement


def _verdict(files, target: Path, compare: Path | None, allow_renames: bool) -> tuple[str, dict]:  # noqa: ANN001 - Artifacts
    """The plan's outcome (`planned`, `policy_violations`, `protected_renames`) and its policy
    report, each finding and warning printed on stderr."""
    from hybridai.plan.aliases import renames_message

    status = "planned"
    report = json.loads(files[Path("policy.json")]) if Path("policy.json") in files else {"findings": [], "mandatory_violations": 0}
    for finding in report["findings"]:
        where = finding["urn"].rsplit("::", 1)[-1] if finding["urn"] else "stack"
        typer.echo(f"policy {finding['enforcement']}: {finding['rule']}: {where}: {finding['message']}", err=True)
    if report["mandatory_violations"]:
        typer.echo(f"error: {report['mandatory_violations']} mandatory policy violation(s); see {target / 'policy.json'}", err=True)
        status = "policy_violations"
    change = files.change
    if change and change["removed_protected"]:
        names = ", ".join(urn.rsplit("::", 1)[-1] for urn in change["removed_protected"])
        typer.echo(f"warning: protected resources leave the plan: {names}; `pulumi up` fails to delete them until they are unprotected (`pulumi state unprotect`), which only you may decide", err=True)
    if change and change["renamed"]:
        typer.echo(renames_message(change["renamed"], compare, allowed=allow_renames), err=True)
        if not allow_renames and status == "planned":
            status = "protected_renames"
    return status, report


def plan_document(stack: str, blueprint: str, status: str, code: int, target: Path, by_placement: Counter, cost: dict | None, report: dict, change: dict | None) -> dict:
    """`hybridai plan --json`: what a CI step needs to decide and report, without parsing the lines."""
    return {
        "stack": stack,
        "blueprint": blueprint,
        "status": status,
        "exit_code": code,
        "out": str(target),
        "summary": str(target / "summary.md"),
        "resources": {"total": sum(by_placement.values()), "by_placement": dict(sorted(by_placement.items()))},
        "cost": None if cost is None else {"currency": cost["currency"], "monthly": cost["total"]["estimate"], "at_on_demand": cost["total"]["at_on_demand"], "by_placement": cost["by_placement"], "ceiling": cost["ceiling"], "complete": cost["complete"]},
        "policy": {"mandatory_violations": report["mandatory_violations"], "findings": report["findings"]},
        "change": None
        if change is None
        else {
            **{key: len(change[key]) for key in ("added", "changed", "removed", "moved")},
            "replaced": len(change["replacements"]),
            "renamed": change["renamed"],
            "removed_protected": change["removed_protected"],
        },
    }


def cost_line(cost: dict) -> str:
    total = cost["total"]
    parts = [f"estimated monthly cost: {total['estimate']:,.0f} USD"]
    if total["at_on_demand"] != total["estimate"]:
        parts.append(f"({total['at_on_demand']:,.0f} USD at on-demand prices)")
    parts.append("— " + ", ".join(f"{placement} {amount:,.0f}" for placement, amount in cost["by_placement"].items()))
    if cost["ceiling"]:
        ceiling = cost["ceiling"]
        parts.append(f"; ceiling {ceiling['monthly']:,.0f} USD: {'within' if ceiling['within'] else 'OVER'}")
    if not cost["complete"]:
        parts.append(f"; unpriced: {', '.join(cost['unpriced'])}")
    return " ".join(parts)


fleet_app = typer.Typer(help="Plan a stack with edge sites as a fleet of stacks: its hub and one stack per site (docs/fleets.md).", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")


@fleet_app.command("plan")
def fleet_plan(
    stack: Annotated[str, typer.Argument(help="The fleet's stack: plans `stacks/Pulumi.<STACK>.yaml` as its hub and a stack per site.", autocompletion=complete_stack)],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where the fleet's plan goes (default: `build/<STACK>-fleet/`): a new or empty folder, or an earlier fleet plan's, whose unchanged members are kept.")
    ] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Site plans run at once, each in a worker process (default: one per core).")] = None,
    compare: Annotated[
        Path | None, typer.Option("--compare", help="A single-stack plan's folder of the same stack: check every resource keeps its URN (the stack aside), inputs and options in the fleet.")
    ] = None,
    project_dir: ProjectDir = None,
) -> None:
    """Plan the hub (plant, cloud) and then each site whose inputs changed, in parallel; write each
    member's plan (`hub/`, `sites/<site>/`), its stack file (`stacks/`), `fleet.json` and summary.md.
    Exit 1 when a member fails to plan (the others' plans are kept), breaks a mandatory policy rule,
    or --compare finds a resource whose identity changes; 2 for a bad stack file or folder."""
    from hybridai.config import StackConfigError
    from hybridai.plan.artifacts import OutDirError
    from hybridai.plan.fleet import FleetError, FleetOutError, plan_fleet

    check_stack_name(stack)
    project = project_dir or find_project(Path.cwd())
    target = out_dir or project / "build" / f"{stack}-fleet"
    if compare is not None and not (compare / "resources.json").is_file():
        fail(f"--compare {compare}: no resources.json there; pass the folder of a single-stack plan (`hybridai plan {stack}`)")

    def said(member) -> None:  # noqa: ANN001 - an Outcome
        where = member.site or "hub"
        typer.echo(f"{member.stack} ({where}): {member.status}" + (f", {member.resources} resources" if member.status != "failed" else ""), err=True)

    try:
        fleet = plan_fleet(stack, project, target, jobs, compare, on_member=said)
    except StackConfigError as error:
        typer.echo(error.render(), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except (FleetOutError, OutDirError) as error:
        fail(str(error))
    except FleetError as error:
        fail(str(error), code=1)
    totals = fleet.totals()
    cost = "unpriced" if totals["monthly_cost"] is None else f"{totals['monthly_cost']:,.0f} USD/month"
    typer.echo(
        f"{stack} fleet: {totals['members']} stacks ({totals['sites']} sites): {totals['planned']} planned, {totals['cached']} unchanged, "
        f"{totals['failed']} failed; {totals['resources']} resources; {cost}; summary: {target / 'summary.md'}"
    )
    code = 0
    for member in fleet.failed:
        typer.echo(f"error: {member.stack} not planned:\n{member.error}", err=True)
        code = 1
    for member in fleet.members:
        if member.mandatory_violations:
            typer.echo(f"error: {member.stack}: {member.mandatory_violations} mandatory policy violation(s); see {target / member.folder / 'policy.json'}", err=True)
            code = 1
    if fleet.identity is not None:
        identity = fleet.identity
        if identity["same"]:
            typer.echo(f"identity: all {identity['matched']} resources of {compare} keep their URN (the stack aside), inputs and options")
        else:
            typer.echo(
                f"error: identity changes against {compare}: {len(identity['missing'])} missing, {len(identity['added'])} added, {len(identity['changed'])} changed, "
                f"{len(identity['in_two_members'])} in two stacks; see {target / 'fleet.json'}",
                err=True,
            )
            code = 1
    if code:
        raise typer.Exit(code)


@fleet_app.command("up")
def fleet_up(
    plan_dir: Annotated[Path, typer.Argument(help="The folder `hybridai fleet plan` wrote.")],
    parallel: Annotated[int, typer.Option("--parallel", "-p", min=1, help="Site stacks deployed at once (each a `pulumi up` of its own).")] = 4,
    project_dir: ProjectDir = None,
) -> None:
    """Deploy a planned fleet with `pulumi up` per stack through the Pulumi Automation API: the hub,
    then its sites `--parallel` at a time, every site tried whatever happens to the others. Needs the
    Pulumi CLI, logged in. Exit 1 naming each site that failed; 2 when the plan or stacks/ isn't ready."""
    from hybridai.fleet_deploy import DeployError, deploy

    project = project_dir or find_project(Path.cwd())

    def said(run) -> None:  # noqa: ANN001 - a Run
        changes = ", ".join(f"{op} {n}" for op, n in sorted((run.changes or {}).items()))
        typer.echo(f"{run.stack}: {run.status}" + (f" ({changes})" if changes else "") + (f": {run.error}" if run.error else ""), err=run.status != "succeeded")

    try:
        runs = deploy(plan_dir, project, parallel, on_run=said)
    except DeployError as error:
        fail(str(error))
    failed = [r.stack for r in runs if r.status != "succeeded"]
    typer.echo(f"{len(runs) - len(failed)} of {len(runs)} stacks deployed" + (f"; not deployed: {', '.join(failed)}" if failed else ""))
    if failed:
        raise typer.Exit(1)


COMMIT = r"^[0-9a-f]{7,64}$"
"""A git commit id (abbreviated or whole; SHA-1 or SHA-256)."""


@app.command()
def evidence(
    stack: Annotated[str, typer.Argument(help="Stack name: plans `stacks/Pulumi.<STACK>.yaml`.", autocompletion=complete_stack)],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where the plan and its evidence go (default: `build/<STACK>/`), as for `plan`.")] = None,
    compare: Annotated[Path | None, typer.Option("--compare", help="An earlier plan's folder: summary.md lists the controls whose evidence changed.")] = None,
    commit: Annotated[str | None, typer.Option("--commit", help="The commit planned (CI: the pull request's head), recorded in evidence/context.json.")] = None,
    pull_request: Annotated[int | None, typer.Option("--pull-request", min=1, help="The pull request planned, recorded with --commit.")] = None,
    project_dir: ProjectDir = None,
) -> None:
    """Plan the stack and write its compliance evidence by control into `evidence/`: controls.json,
    OSCAL component-definition.json and assessment-results.json, report.md, report.html and a sha256
    manifest of the plan folder (`hybridai verify-evidence`). Exit 1 when a mandatory policy rule is
    violated, as `plan`."""
    import re

    from hybridai.config.base import stack_name_problem
    from hybridai.evidence import bundle

    def stop(status: str, message: str, code: int = EXIT_INVALID) -> NoReturn:
        fail(message, code)

    if (problem := stack_name_problem(stack)) is not None:
        stop("invalid_stack_name", f"{problem}; nothing was written")
    if commit is not None and not re.fullmatch(COMMIT, commit):
        stop("refused", f"--commit {commit!r}: not a git commit id (7 to 64 lower-case hex digits, as `git rev-parse HEAD` prints it); nothing was written")
    if pull_request is not None and commit is None:
        stop("refused", "--pull-request needs --commit: the evidence records the pull request's commit with it; nothing was written")
    project = project_dir or find_project(Path.cwd())
    target = out_dir or project / "build" / stack
    result, files = _planned(stack, project, target, compare, stop, False, (commit, pull_request) if commit else None)
    _say_planned(stack, result, files, target, compare, False, False)
    document = json.loads(files[Path(bundle.FOLDER, bundle.CONTROLS)])
    for f in document["frameworks"].values():
        typer.echo(f"{f['title']}: {f['satisfied']} satisfied, {f['not-satisfied']} not satisfied, {f['manual']} manual")
    changed = (files.change or {}).get("controls") or []
    for c in changed:
        typer.echo(f"evidence changed: {c['source']} {c['title']}: " + "; ".join(c["changes"]))
    typer.echo(f"evidence: {target / bundle.FOLDER / bundle.REPORT_HTML}")
    status, _ = _verdict(files, target, compare, False)
    if status != "planned":
        raise typer.Exit(1)


@app.command("verify-evidence")
def verify_evidence(
    plan_dir: Annotated[Path, typer.Argument(help="A plan's folder (holding evidence/manifest.sha256).")],
) -> None:
    """Check a plan folder against its evidence manifest: exit 0 when every file is as the plan
    wrote it, 1 naming each file changed, missing or added."""
    from hybridai.evidence import bundle

    try:
        problems = bundle.verify(plan_dir)
    except bundle.ManifestError as error:
        fail(f"{error}; pass the folder of a plan written by `hybridai plan` or `hybridai evidence`")
    for problem in problems:
        typer.echo(f"{plan_dir}/{problem}", err=True)
    if problems:
        fail(f"{len(problems)} file(s) differ from {plan_dir / bundle.FOLDER / bundle.MANIFEST}", code=1)
    typer.echo(f"{plan_dir}: every file matches {bundle.FOLDER}/{bundle.MANIFEST}")


@app.command()
def blueprints() -> None:
    """List the blueprints a stack can use."""
    from hybridai.blueprints import BLUEPRINTS

    for name, blueprint in sorted(BLUEPRINTS.items()):
        typer.echo(f"{name:<22} {blueprint.summary}")


@app.command()
def versions(
    project_dir: ProjectDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """List every pinned version — charts, images, Kubernetes and AWS pins, provider plugins — with
    the file that pins it and the stacks and targets whose plans deploy it (plans every stack)."""
    import json

    from hybridai.config import StackConfigError
    from hybridai.plan import PlanError, run_plan
    from hybridai.versions import with_usage

    project = project_dir or find_project(Path.cwd())
    plans = []
    for path in sorted((project / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        try:
            plans.append(run_plan(stack, project))
        except (StackConfigError, PlanError) as error:
            typer.echo(f"warning: {stack} not planned, its uses aren't counted: {str(error).splitlines()[0]}", err=True)
    table = with_usage(plans)
    if as_json:
        typer.echo(json.dumps([{**p.__dict__, "used_by": sorted(p.used_by)} for p in table], indent=2))
        return
    for p in table:
        used = ", ".join(sorted(p.used_by)) or "unused by these stacks"
        typer.echo(f"{p.kind:<10} {p.name:<22} {p.version:<18} {p.where:<28} {used}")


@app.command("comment")
def pr_comment(
    folders: Annotated[list[Path], typer.Argument(help="Plan folders (`build/<STACK>`), in the order to show them.")],
    artifacts_url: Annotated[str | None, typer.Option("--artifacts-url", help="Where the full summaries are (the CI run's artifacts).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most characters of the comment (GitHub refuses more than 65,536).")] = 65_536,
) -> None:
    """Print one pull-request comment for several stacks' plans, within the size limit: whole
    summaries while they fit, then each stack's verdict, warnings and cost with a pointer."""
    from hybridai.plan.comment import from_folders

    typer.echo(from_folders(folders, artifacts_url, limit), nl=False)


@app.command()
def rules() -> None:
    """List the policy rules: id, default enforcement, compliance profile, what each checks."""
    from hybridai.policy.rules import RULES
    from hybridai.policy.rules.evaluate import profiles

    profile_of = {rule: name for name, p in profiles().items() for rule in p["rules"]}
    for rule_id, rule in sorted(RULES.items()):
        typer.echo(f"{rule_id:<44} {rule.level:<10} {profile_of.get(rule_id, 'baseline'):<10} {rule.description}")


def check_stack_name(stack: str) -> None:
    """Exit 2 unless `stack` is a valid stack name (see hybridai.config.base.stack_name_problem)."""
    from hybridai.config.base import stack_name_problem

    if (problem := stack_name_problem(stack)) is not None:
        fail(f"{problem}; nothing was written")


@app.command()
def new(
    blueprint: Annotated[str, typer.Argument(help="Blueprint name (see `hybridai blueprints`).", autocompletion=complete_blueprint)],
    stack: Annotated[str, typer.Argument(help="Name of the new stack: writes `stacks/Pulumi.<STACK>.yaml`.")],
    project_dir: ProjectDir = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing stack file.")] = False,
    environment: Annotated[
        Environment,
        typer.Option(help="Environment of the stack: a `prod` file also gets everything prod requires (a secret store and a source for every credential Secret, a backup of every edge site)."),
    ] = "dev",
    minimal: Annotated[bool, typer.Option("--minimal", help="Only the keys the stack sets, without the optional ones and their descriptions (`hybridai reference` has them).")] = False,
) -> None:
    """Write a new stack file with every key of the blueprint, described, that plans as written once
    its example values are replaced."""
    from hybridai.blueprints import BLUEPRINTS
    from hybridai.reference import new_stack

    check_stack_name(stack)
    if blueprint not in BLUEPRINTS:
        fail(f"unknown blueprint {blueprint!r}; use one of {', '.join(sorted(BLUEPRINTS))}")
    project = project_dir or find_project(Path.cwd())
    stacks = project / "stacks"
    path = stacks / f"Pulumi.{stack}.yaml"
    if path.resolve().parent != stacks.resolve():  # the name check makes this impossible; never write elsewhere
        fail(f"{path} is not in {stacks}; nothing was written")
    if path.exists() and not force:
        fail(f"{path} exists; pass --force to overwrite it")
    bp = BLUEPRINTS[blueprint]
    stacks.mkdir(parents=True, exist_ok=True)
    path.write_text(new_stack(bp.spec, blueprint, bp.summary, stack, environment, minimal))
    typer.echo(f"wrote {path}; edit it, then run `hybridai plan {stack}`")


@app.command()
def reference(
    blueprint: Annotated[str | None, typer.Argument(help="Only this blueprint's own keys (see `hybridai blueprints`).", autocompletion=complete_blueprint)] = None,
    key: Annotated[str | None, typer.Option("--key", metavar="PATH", help="Only this key and the keys under it, e.g. cloud.gpuNodePools.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Rewrite docs/reference.md of the project instead of printing.")] = False,
    project_dir: ProjectDir = None,
) -> None:
    """Print the stack config reference (Markdown) generated from the config models: every key, one
    blueprint's own keys, or one key with everything under it."""
    from hybridai import reference as ref

    model = ref.project_reference()
    if write:
        if blueprint or key:
            fail(f"--write rewrites the whole {ref.REFERENCE_FILE}; drop the blueprint and --key to use it")
        path = (project_dir or find_project(Path.cwd())) / ref.REFERENCE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ref.document(model))
        typer.echo(f"wrote {path}")
        return
    if blueprint is not None and blueprint not in model.own:
        fail(ref.unknown_blueprint(model, blueprint))
    if key is None:
        sys.stdout.write(ref.document(model) if blueprint is None else ref.blueprint_section(model, blueprint, footer=True))
        return
    matches = ref.find(model, key, blueprint)
    if not matches:
        fail(ref.unknown_key(model, key, blueprint))
    sys.stdout.write("\n".join(ref.key_section(model, m) for m in matches))


if __name__ == "__main__":
    app()


charts_app = typer.Typer(help="The pinned charts: fetch and verify them into the local cache the validation reads.", no_args_is_help=True)
app.add_typer(charts_app, name="charts")

CacheDir = Annotated[Path | None, typer.Option("--cache", help="The chart cache (default: $HYBRIDAI_CHART_CACHE, else the user's XDG cache, ~/.cache/hybridai/charts on Linux).")]


@charts_app.command("pull")
def charts_pull(cache: CacheDir = None) -> None:
    """Fetch every chart hybridai/data/versions.yaml pins, exactly at its version, verify it against
    the digest its repository publishes, and extract its Chart.yaml, values.yaml and CRDs into the
    cache ([supply chain](docs/supply-chain.md)). Exit 2, the cache as it was, if any can't be."""
    from hybridai import catalog
    from hybridai.supply.charts import cache_dir, pull
    from hybridai.supply.transport import SupplyError

    folder = cache_dir(cache)
    try:
        pulled = pull(catalog.versions().charts, folder)
    except SupplyError as error:
        fail(f"{error} (nothing written to {folder})")
    for chart in pulled:
        typer.echo(f"{chart.name:<26} {chart.version:<10} {chart.digest}  {chart.source}")
    typer.echo(f"{len(pulled)} charts verified into {folder}")


@app.command()
def images(
    stack: Annotated[str, typer.Argument(help="Stack name: lists the images `stacks/Pulumi.<STACK>.yaml`'s plan runs.", autocompletion=complete_stack)],
    write_lock: Annotated[bool, typer.Option("--lock", help="Resolve each image's digest from its registry into images.lock (`unresolved` where it can't be reached).")] = False,
    cache: CacheDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """List every image the stack's plan runs — our workloads' and the charts' from their values
    with ours — with its digest in images.lock; `--lock` resolves them ([supply chain](docs/supply-chain.md))."""
    from hybridai.config import StackConfigError
    from hybridai.plan import PlanError, run_plan
    from hybridai.supply import images as supply_images
    from hybridai.supply.reference import missing_reason, reference_data

    project = project_dir or find_project(Path.cwd())
    check_stack_name(stack)
    try:
        result = run_plan(stack, project)
    except (StackConfigError, PlanError) as error:
        fail(str(error))
    data = reference_data(cache)
    if data is None:
        typer.echo(f"warning: {missing_reason(cache)}; the charts' images are read from the values hybrid-ai sets only", err=True)
    found = supply_images.stack_images([r.record() for r in result.resources], data.root if data else None)
    locked = supply_images.lock(project, found) if write_lock else supply_images.read_lock(project)
    entries = locked.images if locked else {}
    for use in found.images:
        entry = entries.get(use.reference)
        state = "pinned in its reference" if "@" in use.reference else "not in images.lock" if entry is None else entry.digest
        typer.echo(f"{use.reference:<80} {use.origin:<36} {state}")
    for image in found.unlisted:
        typer.echo(f"{image.repository:<80} {image.origin:<36} not from values: `{image.where}` leaves its tag to the chart's templates")
    for origin in found.charts_without_reference:
        typer.echo(f"{'(no default values)':<80} {origin:<36} only the values hybrid-ai sets were read")
    for origin in found.charts_without_images:
        typer.echo(f"{'(no image in its values)':<80} {origin:<36} a CRD-only chart, or its templates compose its images' names")
    if write_lock:
        by_tag = {u.reference for u in found.images if "@" not in u.reference}
        unresolved = sum(1 for ref in by_tag if entries[ref].digest == supply_images.UNRESOLVED)
        typer.echo(f"{len(by_tag)} images by tag locked in {project / supply_images.LOCK_FILE}, {unresolved} unresolved")
