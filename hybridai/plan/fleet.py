"""A fleet planned as many stacks: the hub stack (plant, cloud) and one stack per edge site,
generated from the fleet's one stack file, planned in parallel processes and re-planned only where
their inputs changed.

The same program plans each member as `pulumi up` runs it in that member's stack: the site stacks'
`pulumi.StackReference` to the hub is answered, under the mocks, with the hub's own plan outputs.
Each member's artifacts are an ordinary plan folder (`hub/`, `sites/<site>/`); `fleet.json` holds
each member's input hash (what makes its cached plan still valid), its counts and cost, and the
hub outputs the sites read. See docs/fleets.md and docs/design/fleets.md.
"""
from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from hybridai.config import StackConfigError
from hybridai.config.base import NO_VALUE, Problem, stack_name_problem
from hybridai.config.codec import decode_config, encode_config, stack_file_label
from hybridai.config.fleet import HUB_FACTS, HUB_OUTPUT
from hybridai.plan.engine import ORGANIZATION, PlanError, inputs_as_of, project_name
from hybridai.supply.images import LOCK_FILE

FLEET_FILE = "fleet.json"
"""The fleet's index in its plan folder: members, their input hashes, counts, cost, hub outputs."""

FORMAT = 1

FLEET_KEY = "hybrid-ai:fleet"
SITES_KEY = "hybrid-ai:sites"
BACKUPS_KEY = "hybrid-ai:backups"

TASKS_PER_WORKER = 50
"""Site plans one worker process runs before it is replaced by a fresh one: what one plan leaves
behind in a process (the SDK's module state, fragmented heaps) can't add up over a thousand sites,
so each worker's memory stays that of a few small plans. A fresh worker forks from a server that
has already imported the program, so the replacement costs milliseconds."""


class FleetError(Exception):
    """The fleet can't be planned as given (its hub fails or exports too little); the message says what to do."""


class FleetOutError(FleetError):
    """The folder given for the fleet's plan can't take it."""


@dataclass(frozen=True)
class Member:
    """One stack of the fleet: the hub (`site` None) or one site's."""

    stack: str
    site: str | None
    config: dict[str, Any]
    """Its config as a stack file's `config:` map reads (`StackFile.config`), the fleet's with the member's changes."""
    folder: str
    """Its plan folder inside the fleet's: `hub` or `sites/<site>`."""

    @property
    def is_hub(self) -> bool:
        return self.site is None


def site_stack(fleet_stack: str, site: str) -> str:
    """The stack name of a site's stack: `<fleet stack>.<site>` (a period: never in a site name)."""
    return f"{fleet_stack}.{site}"


def member_config(config: Mapping[str, Any], hub_stack: str, site: str | None) -> dict[str, Any]:
    """A member's config from the fleet's: the hub's is the fleet's marked `fleet: {}`; a site's holds
    that site alone (and backs up only it, when the fleet backs it up) and names its hub."""
    if site is None:
        member = copy.deepcopy(dict(config))
        member[FLEET_KEY] = member.get(FLEET_KEY) or {}
        return member
    # Every key but the site list copied whole; of the sites, only this one (a copy per site of a
    # thousand-site list would make splitting a fleet quadratic).
    member = copy.deepcopy({key: value for key, value in config.items() if key != SITES_KEY})
    member[SITES_KEY] = [copy.deepcopy(s) for s in config[SITES_KEY] if isinstance(s, dict) and s.get("name") == site]
    backups = member.get(BACKUPS_KEY)
    if isinstance(backups, dict) and "sites" in backups:
        backups["sites"] = [name for name in backups["sites"] if name == site]
    member[FLEET_KEY] = {"site": site, "hubStack": hub_stack}
    return member


def split(stack: str, config: Mapping[str, Any]) -> list[Member]:
    """The fleet's members: its hub and a stack per site, in the fleet file's order. Raises
    StackConfigError when the file isn't a fleet definition (no sites, a site stack's file) or a
    site's stack name would break Pulumi's rule."""
    label = stack_file_label(stack)
    fleet = config.get(FLEET_KEY)
    if isinstance(fleet, dict) and fleet.get("site") is not None:
        raise StackConfigError(label, [Problem(("fleet", "site"), "fleet_site_stack", "is a generated site stack, not a fleet definition: plan the fleet's stack file", fleet.get("site"))])
    sites = config.get(SITES_KEY)
    if not isinstance(sites, list) or not sites:
        raise StackConfigError(label, [Problem(("sites",), "fleet_without_sites", "a fleet is planned as a hub and a stack per site: the stack has no `sites`", NO_VALUE)])
    members = [Member(stack, None, member_config(config, stack, None), "hub")]
    problems = []
    for i, site in enumerate(sites):
        name = site.get("name") if isinstance(site, dict) else None
        if not isinstance(name, str):
            continue  # the fleet's own validation reports it
        if (problem := stack_name_problem(site_stack(stack, name))) is not None:
            problems.append(Problem(("sites", i, "name"), "fleet_stack_name", f"its site stack {site_stack(stack, name)!r} breaks Pulumi's rule: {problem}; shorten the stack or the site name", name))
            continue
        members.append(Member(site_stack(stack, name), name, member_config(config, stack, name), f"sites/{name}"))
    if problems:
        raise StackConfigError(label, problems)
    return members


def reference_name(project: str, hub_stack: str) -> str:
    """The StackReference name a site stack reads its hub by (blueprints/manufacturing_edge.py)."""
    return f"{ORGANIZATION}/{project}/{hub_stack}"


def hub_references(project: str, hub_stack: str, outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the site stacks' StackReference to the hub reads: the hub plan's HUB_OUTPUT. Raises
    FleetError naming what the hub doesn't export."""
    facts = outputs.get(HUB_OUTPUT)
    missing = [key for key in HUB_FACTS if not isinstance(facts, Mapping) or key not in facts]
    if missing:
        raise FleetError(
            f"the hub stack {hub_stack} exports no {', '.join(f'{HUB_OUTPUT}.{key}' for key in missing)}, which every site stack reads "
            f"through its StackReference; the hub's program must `pulumi.export({HUB_OUTPUT!r}, …)` them (blueprints/manufacturing_edge.py hub_facts)"
        )
    return {reference_name(project, hub_stack): {HUB_OUTPUT: {key: facts[key] for key in HUB_FACTS}}}


@cache
def program_version() -> str:
    """A hash of everything besides a stack's config that makes its plan what it is: the program's
    source and data (the hybridai packages: code, pinned versions, prices, templates) and the
    Pulumi SDK and provider versions. A changed file anywhere in them re-plans every member."""
    import hybridai
    import hybridai.blueprints
    import hybridai.modules
    import hybridai.policy

    digest = hashlib.sha256()
    roots = sorted({Path(p).resolve() for package in (hybridai, hybridai.blueprints, hybridai.modules, hybridai.policy) for p in package.__path__})
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(f"{path.relative_to(root.parent).as_posix()}\0".encode())
                digest.update(path.read_bytes())
    for distribution in ("pulumi", "pulumi-kubernetes", "pulumi-aws"):
        digest.update(f"{distribution}=={metadata.version(distribution)}\0".encode())
    return digest.hexdigest()


def input_hash(member: Member, secret_keys: list[str], references: Mapping[str, Any], project: str, image_lock: str | None = None) -> str:
    """The hash of everything a member's plan is a function of: its config, which keys are secret,
    the hub outputs it reads, the program's version, the project and the project's images.lock
    (`image_lock`: its sha256; the summary and the supply rule read it). Not the time its evidence is
    dated as of (the commit's): a member whose inputs are unchanged keeps its plan and its date,
    which is when its inputs last changed — otherwise every commit would re-plan every site."""
    document = {
        "stack": member.stack,
        "project": project,
        "config": encode_config(member.config),
        "secret_keys": sorted(secret_keys),
        "references": references,
        "program": program_version(),
        "image_lock": image_lock,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Outcome:
    """What planning one member gave: its counts and cost, or why it failed."""

    stack: str
    site: str | None
    folder: str
    inputs: str
    status: str = "planned"
    """`planned` (this run), `cached` (inputs unchanged: the earlier plan kept) or `failed`."""
    resources: int = 0
    by_placement: dict[str, int] = field(default_factory=dict)
    monthly_cost: float | None = None
    mandatory_violations: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    """The hub's HUB_OUTPUT (what its sites read); empty for a site."""
    error: str | None = None
    seconds: float = 0.0
    """How long its plan took in its worker (0 for a cached member)."""
    peak_mb: float = 0.0
    """The peak resident memory of the worker process that planned it, so far (0 for a cached member)."""


@dataclass(frozen=True)
class Job:
    member: Member
    secret_keys: list[str]
    references: dict[str, Any]
    inputs: str
    project_dir: str
    out: str
    as_of: str
    label: str


def plan_member(job: Job) -> Outcome:
    """Plan one member and write its artifacts to its folder (in a worker process); never raises:
    a failure is the outcome, by name, so the other members' results are kept."""
    from collections import Counter

    from hybridai.plan import artifacts
    from hybridai.plan.engine import run_config

    member = job.member
    outcome = Outcome(member.stack, member.site, member.folder, job.inputs)
    started = time.perf_counter()
    try:
        plan = run_config(member.stack, member.config, job.secret_keys, Path(job.project_dir), datetime.fromisoformat(job.as_of), job.label, references=job.references)
        files = artifacts.write(plan, Path(job.out) / member.folder, project=Path(job.project_dir))
    except StackConfigError as error:
        return _failed(outcome, error.render())
    except (PlanError, ValueError, OSError) as error:  # PlanError: the graph; ValueError: args a member's config breaks; OSError: its folder
        return _failed(outcome, str(error))
    except Exception as error:  # noqa: BLE001 - one member's bug must not lose the others' plans
        return _failed(outcome, "".join(traceback.format_exception_only(error)).strip())
    outcome.seconds = round(time.perf_counter() - started, 3)
    outcome.peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes
    outcome.resources = len(plan.resources)
    outcome.by_placement = dict(sorted(Counter(r.placement for r in plan.resources).items()))
    if Path("cost.json") in files:
        outcome.monthly_cost = json.loads(files[Path("cost.json")])["total"]["estimate"]
    if Path("policy.json") in files:
        outcome.mandatory_violations = json.loads(files[Path("policy.json")])["mandatory_violations"]
    if member.is_hub and HUB_OUTPUT in plan.outputs:
        outcome.outputs = {HUB_OUTPUT: artifacts.clean(plan.outputs[HUB_OUTPUT])}
    return outcome


def _failed(outcome: Outcome, message: str) -> Outcome:
    outcome.status, outcome.error = "failed", message
    return outcome


@dataclass
class FleetPlan:
    stack: str
    members: list[Outcome]
    removed: list[str]
    """Member stacks of the earlier plan in the folder that the fleet no longer has (their folders deleted)."""
    identity: dict[str, Any] | None = None
    """With a base (a single-stack plan): how the members' resources match its resources."""

    @property
    def failed(self) -> list[Outcome]:
        return [m for m in self.members if m.status == "failed"]

    def totals(self) -> dict[str, Any]:
        costs = [m.monthly_cost for m in self.members if m.monthly_cost is not None]
        return {
            "members": len(self.members),
            "sites": sum(1 for m in self.members if m.site is not None),
            "planned": sum(1 for m in self.members if m.status == "planned"),
            "cached": sum(1 for m in self.members if m.status == "cached"),
            "failed": len(self.failed),
            "removed": len(self.removed),
            "resources": sum(m.resources for m in self.members),
            "monthly_cost": round(sum(costs), 2) if costs else None,
            "cost_complete": len(costs) == len(self.members),
        }


def default_jobs() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pool(jobs: int) -> ProcessPoolExecutor:
    # forkserver: workers fork from a clean server process that has imported the program once
    # (not from this one, whose threads and gRPC state a fork would copy half-way).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["hybridai.plan.fleet", "hybridai.plan.artifacts", "hybridai.program"])
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=TASKS_PER_WORKER)


def check_fleet_out(out: Path, project: Path) -> dict[str, Any]:
    """The earlier fleet plan's index in `out` ({} when `out` is new or empty); FleetError unless
    `out` is new, empty, or a fleet plan's folder."""
    from hybridai.plan import artifacts

    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FleetOutError(f"--out {out}: not a folder a fleet plan may write (a file or a symbolic link)")
    if not out.exists() or not any(out.iterdir()):
        artifacts.check_out(out, project)
        return {}
    index = out / FLEET_FILE
    if not index.is_file():
        raise FleetOutError(f"--out {out}: holds files but no {FLEET_FILE}, so not an earlier fleet plan; pass a new or empty folder")
    try:
        earlier = json.loads(index.read_text())
    except (OSError, ValueError) as error:
        raise FleetOutError(f"--out {out}: {FLEET_FILE} can't be read ({error}); remove the folder or pass another") from None
    if earlier.get("format") != FORMAT:
        return {}  # another format: nothing of it is reused, every member re-planned
    earlier["by_stack"] = {record.get("stack"): record for record in earlier.get("members", [])}
    return earlier


def _cached(earlier: Mapping[str, Any], out: Path, stack: str, inputs: str) -> Outcome | None:
    """The earlier run's outcome of a member, when its inputs are the same and its folder still holds its plan."""
    from hybridai.plan.artifacts import MARKER

    record = earlier.get("by_stack", {}).get(stack)
    if record is not None and record.get("inputs") == inputs and record.get("status") != "failed":
        if (out / record["folder"] / MARKER).is_file() and (out / record["folder"] / "resources.json").is_file():
            return Outcome(**{**record, "status": "cached", "seconds": 0.0, "peak_mb": 0.0})
    return None


def plan_fleet(
    stack: str,
    project_dir: Path,
    out: Path,
    jobs: int | None = None,
    base: Path | None = None,
    on_member: Callable[[Outcome], None] | None = None,
) -> FleetPlan:
    """Plan the fleet of `stacks/Pulumi.<stack>.yaml` into `out`: the hub first (its outputs are the
    sites' inputs), then every site whose inputs changed, `jobs` at a time in worker processes.
    Raises StackConfigError for a bad fleet file (every site checked once, as one stack), FleetError
    for a folder it can't write or a hub whose outputs the sites can't read."""
    from hybridai.program import prepare, read_stack_file

    label = stack_file_label(stack)
    if (problem := stack_name_problem(stack)) is not None:
        raise StackConfigError(label, [Problem(("<file>",), "stack_name", problem, NO_VALUE)])
    path = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    stack_file = read_stack_file(path, label)
    members = split(stack, stack_file.config)
    # The whole fleet validated once, as its hub: duplicate site names, every site's values.
    prepare(stack, decode_config(encode_config(members[0].config)), label)
    earlier = check_fleet_out(out, project_dir)
    project = project_name(project_dir)
    as_of = inputs_as_of(project_dir, path)
    lock = project_dir / LOCK_FILE
    image_lock = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None

    def job(member: Member, references: dict[str, Any]) -> Job:
        inputs = input_hash(member, stack_file.secret_keys, references, project, image_lock)
        return Job(member, stack_file.secret_keys, references, inputs, str(project_dir), str(out), as_of.isoformat(), label)

    out.mkdir(parents=True, exist_ok=True)
    hub_job = job(members[0], {})
    results: list[Outcome] = []
    with _pool(max(1, jobs or default_jobs())) as pool:
        hub = _cached(earlier, out, stack, hub_job.inputs)
        hub_future = pool.submit(plan_member, hub_job) if hub is None else None
        # While the hub is planned, its sites whose inputs changed are planned on the other workers
        # with the hub outputs of the earlier plan: kept when the hub's new outputs are the same
        # (the usual case: a site's own change), planned again when they aren't.
        ahead = _plan_ahead(pool, earlier, out, members[1:], job, project, stack) if hub_future is not None else {}
        if hub is None:
            hub = hub_future.result()
        _report(hub, on_member)
        results.append(hub)
        if hub.status == "failed":
            raise FleetError(f"the hub stack {stack} can't be planned, so neither can its sites (they read its outputs):\n{hub.error}")
        references = hub_references(project, stack, hub.outputs)
        pending = {}
        for member in members[1:]:
            site_job = job(member, references)
            if member.stack in ahead:
                guessed, future = ahead[member.stack]
                if guessed.inputs == site_job.inputs:
                    pending[future] = member
                    continue
                future.result()  # planned with outputs the hub no longer has: its folder is written again below
            if (cached := _cached(earlier, out, member.stack, site_job.inputs)) is not None:
                _report(cached, on_member)
                results.append(cached)
            else:
                pending[pool.submit(plan_member, site_job)] = member
        for future in as_completed(pending):
            outcome = future.result()
            _report(outcome, on_member)
            results.append(outcome)
    order = {m.stack: i for i, m in enumerate(members)}
    results.sort(key=lambda o: order[o.stack])
    removed = _remove_departed(earlier, out, order)
    fleet = FleetPlan(stack, results, removed)
    if base is not None:
        fleet.identity = identity(fleet, out, base)
    _write_generated_stacks(out, path, members, stack)
    _write_index(out, fleet, project)
    return fleet


def _plan_ahead(pool: ProcessPoolExecutor, earlier: Mapping[str, Any], out: Path, sites: list[Member], job: Callable[[Member, dict[str, Any]], Job], project: str, stack: str) -> dict[str, tuple[Job, Any]]:
    """Submit the sites whose inputs changed, reading the earlier plan's hub outputs: stack → (job, future)."""
    record = earlier.get("by_stack", {}).get(stack) or {}
    outputs = record.get("outputs") if record.get("status") != "failed" else None
    if not outputs:
        return {}
    try:
        guessed = hub_references(project, stack, outputs)
    except FleetError:
        return {}
    ahead = {}
    for member in sites:
        site_job = job(member, guessed)
        if _cached(earlier, out, member.stack, site_job.inputs) is None:
            ahead[member.stack] = (site_job, pool.submit(plan_member, site_job))
    return ahead


def _report(outcome: Outcome, on_member: Callable[[Outcome], None] | None) -> None:
    if on_member is not None:
        on_member(outcome)


def _remove_departed(earlier: Mapping[str, Any], out: Path, current: Mapping[str, int]) -> list[str]:
    """Delete the folders of members the fleet no longer has (a site removed from the fleet file)."""
    removed = []
    for record in earlier.get("members", []):
        if record.get("stack") not in current:
            folder = (out / record["folder"]).resolve()
            if folder.is_dir() and out.resolve() in folder.parents:
                shutil.rmtree(folder)
            removed.append(record["stack"])
    return sorted(removed)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter when PyYAML has it: a thousand site stack files written in a fraction of the time."""

GENERATED = "# Generated by `hybridai fleet plan {stack}` from stacks/Pulumi.{stack}.yaml: the {what}. Don't edit;\n# change the fleet's file and plan again. Copy it into stacks/ to deploy it with `pulumi up --stack {member}`.\n"


def _write_generated_stacks(out: Path, fleet_file: Path, members: Iterable[Member], stack: str) -> None:
    """Each member's stack file, from the fleet file's own YAML (its `secure:` values as written: they
    are encrypted for the fleet's stack, so a member stack needs them set again, docs/fleets.md)."""
    document = yaml.safe_load(fleet_file.read_text())
    folder = out / "stacks"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for member in members:
        config = member_config(document["config"], stack, member.site)
        what = "fleet's hub stack (plant and cloud)" if member.is_hub else f"stack of site {member.site}"
        text = GENERATED.format(stack=stack, what=what, member=member.stack) + yaml.dump({"config": config}, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
        (folder / f"Pulumi.{member.stack}.yaml").write_text(text)


def _write_index(out: Path, fleet: FleetPlan, project: str) -> None:
    from hybridai.rendering import template

    index = {
        "format": FORMAT,
        "stack": fleet.stack,
        "project": project,
        "program": program_version(),
        "totals": fleet.totals(),
        "members": [asdict(m) for m in fleet.members],
        "removed": fleet.removed,
        "identity": fleet.identity,
    }
    (out / FLEET_FILE).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    (out / "summary.md").write_text(template("fleet.md.j2").render(fleet=fleet, totals=fleet.totals()))


def _records(folder: Path, member_stack: str, base_stack: str, project: str) -> list[dict[str, Any]]:
    """A member's recorded resources with its URNs as they read in the base stack: the stack's name
    (and its root resource's, `<project>-<stack>`) is the only part of a URN that differs between a
    member stack and the single stack."""
    text = (folder / "resources.json").read_text()
    text = text.replace(f"urn:pulumi:{member_stack}::", f"urn:pulumi:{base_stack}::").replace(f"pulumi:pulumi:Stack::{project}-{member_stack}\"", f"pulumi:pulumi:Stack::{project}-{base_stack}\"")
    return json.loads(text)["resources"]


def identity(fleet: FleetPlan, out: Path, base: Path) -> dict[str, Any]:
    """How the members' resources match a single-stack plan's (`base`): each base resource in exactly
    one member, with the same URN but for the stack, the same inputs and options. `moves`: per site
    stack, the engine-form URNs `pulumi state move` takes out of the single stack into it."""
    from hybridai.plan.aliases import Urns

    base_document = json.loads((base / "resources.json").read_text())
    base_stack = base_document["stack"]
    project = base_document["resources"][0]["urn"].split("::")[1] if base_document["resources"] else ""
    base_records = {r["urn"]: r for r in base_document["resources"]}
    engine = Urns.of_records(base_document["resources"])
    seen: dict[str, str] = {}
    twice, changed, moves = [], [], {}
    for member in fleet.members:
        if member.status == "failed":
            continue
        for record in _records(out / member.folder, member.stack, base_stack, project):
            urn = record["urn"]
            if urn in seen:
                twice.append(urn)
            seen[urn] = member.stack
            before = base_records.get(urn)
            # Dependencies aside: a site's resources that read the hub's output depend on its StackReference.
            if before is not None and {k: v for k, v in before.items() if k != "dependencies"} != {k: v for k, v in record.items() if k != "dependencies"}:
                changed.append(urn)
            if before is not None and member.site is not None:
                moves.setdefault(member.stack, []).append(engine.real(urn))
    failed = [m.stack for m in fleet.failed]
    return {
        "base": str(base),
        "base_stack": base_stack,
        "matched": sum(1 for urn in seen if urn in base_records),
        "missing": sorted(urn for urn in base_records if urn not in seen),
        "added": sorted(urn for urn in seen if urn not in base_records),
        "changed": sorted(changed),
        "in_two_members": sorted(twice),
        "unchecked_members": failed,
        "moves": {stack: sorted(urns) for stack, urns in sorted(moves.items())},
        "same": not failed and not twice and not changed and len(seen) == len(base_records) and all(urn in base_records for urn in seen),
    }
