"""Write a plan's artifacts: resources.json, one manifest per Kubernetes object, one file per Helm release.

Everything is canonical (sorted keys, fixed formatting, no timestamps), so two plans of the same
stack are byte-identical and a diff between two plans shows exactly what changed.

A plan only ever replaces a folder it wrote itself: one that holds its marker (`.hybridai-plan`)
and nothing but the files a plan writes. It writes into a new folder beside the target and swaps
it in at the end, so an interrupted plan leaves the previous one as it was.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime import rpc

from hybridai import audit_policy, registry_mirror, restore_runbook
from hybridai.evidence import Inputs, assess
from hybridai.evidence import bundle as evidence_bundle
from hybridai.cost import estimate
from hybridai.plan import review
from hybridai.plan.engine import Plan, PlanError
from hybridai.recorded import REDACTED_SECRET, TARGET_TYPE, Resource

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = REDACTED_SECRET
# Inputs the provider uses itself; the API server never receives them.
_PROVIDER_ONLY = {"compat"}

MARKER = ".hybridai-plan"
"""Written into every plan folder: the stack and the format version. Only a folder holding it is replaced."""
MARKER_FORMAT = 1
PLAN_FILES = frozenset({"resources.json", "outputs.json", "cost.json", "policy.json", "policy-config.json", "summary.md", MARKER})
"""What a plan writes at the top of its folder, beside PLAN_FOLDERS."""
PLAN_FOLDERS: dict[str, tuple[str, ...]] = {
    "manifests": ("*.yaml",),
    "helm": ("*.yaml",),
    "gitops": ("*.yaml",),
    "audit": ("*.yaml", "enable.md"),
    restore_runbook.FOLDER: (restore_runbook.RUNBOOK,),
    evidence_bundle.FOLDER: evidence_bundle.FILES,
    registry_mirror.FOLDER: (registry_mirror.REGISTRIES_YAML, registry_mirror.HOSTS_TOML, registry_mirror.ENABLE),
}
"""Folders a plan writes, with the names of the files in them (fnmatch patterns): YAML (one file per
Kubernetes object or Helm release, or an audit policy), under audit/ each cluster's enable.md,
under restore/ each backed-up cluster's runbook.md, and under mirror/ each edge site's containerd
registry mirror settings (registries.yaml, or certs.d/<registry>/hosts.toml) and enable.md."""


class OutDirError(PlanError):
    """--out names a folder a plan may not replace, or writing there failed; nothing was touched."""


class Artifacts(dict):
    """Path → content of every artifact; `change` is the change against the base plan, if any."""

    change: dict[str, Any] | None = None


def clean(value: Any) -> Any:
    """Plain JSON-able data: secrets redacted, integral floats back to ints (the wire format has
    only doubles), dict keys sorted."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: clean(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_manifest(resource: Resource) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:") and resource.type != HELM_RELEASE


def manifest(resource: Resource, cleaned: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object as the API server receives it: apiVersion, kind, metadata first."""
    inputs = cleaned if cleaned is not None else clean(resource.inputs)
    body = {k: v for k, v in inputs.items() if k not in _PROVIDER_ONLY}
    head = {k: body.pop(k) for k in ("apiVersion", "kind", "metadata") if k in body}
    return {**head, **body}


def manifest_path(resource: Resource, obj: dict[str, Any]) -> Path:
    metadata = obj.get("metadata") or {}
    if "name" not in metadata:
        raise PlanError(f"{resource.urn}: Kubernetes object without metadata.name (auto-named objects change name on every deploy)")
    return Path("manifests") / resource.target / (metadata.get("namespace") or "_cluster") / f"{obj['kind']}-{metadata['name']}.yaml"


def helm_release(resource: Resource, cleaned: dict[str, Any] | None = None) -> dict[str, Any]:
    inputs = cleaned if cleaned is not None else clean(resource.inputs)
    chart, repository = inputs.get("chart"), (inputs.get("repositoryOpts") or {}).get("repo")
    if chart and chart.startswith("oci://"):
        repository, chart = chart.rsplit("/", 1)
    return {
        "release": inputs.get("name"),
        "chart": chart,
        "repository": repository,
        "version": inputs.get("version"),
        "namespace": inputs.get("namespace"),
        "values": inputs.get("values") or {},
    }


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml's emitter when PyYAML has it: ~5x faster
    """Block style, multi-line strings as literal blocks (ConfigMap payloads stay readable)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def records(plan: Plan) -> list[dict[str, Any]]:
    """The resources as resources.json holds them: what the cost model and policy rules read."""
    return [{**r.record(), "inputs": clean(r.inputs)} for r in plan.resources]


def render(plan: Plan, base: Path | None = None, context: tuple[str, int | None] | None = None) -> Artifacts:
    """Every artifact of the plan, path → content, before anything touches the disk. With `base`
    (an earlier plan's folder), summary.md also shows the change against it; with `context` (the
    commit and pull request CI plans), the evidence records them."""
    files = Artifacts()
    recorded = records(plan)
    document = {"stack": plan.stack, "blueprint": plan.blueprint, "resources": recorded}
    files[Path("resources.json")] = json.dumps(document, indent=2, sort_keys=False) + "\n"
    # What `pulumi stack output` will show, secrets redacted (the EKS kubeconfig is one).
    files[Path("outputs.json")] = json.dumps(clean(plan.outputs), indent=2, sort_keys=True) + "\n"
    owners = _objects(plan, recorded, files)
    files.update(restore_runbook.render(recorded))
    if plan.spec is not None:
        estimate_ = estimate(recorded, plan.spec.cost, plan.capacity.cloud_training_hours, capacity=plan.capacity, spec=plan.spec)
        policy = review.policy_report(plan, recorded, estimate_)
        files[Path("cost.json")] = json.dumps(estimate_, indent=2) + "\n"
        files[Path("policy.json")] = json.dumps(policy, indent=2) + "\n"
        files[Path("policy-config.json")] = json.dumps(review.crossguard_config(plan, estimate_), indent=2) + "\n"
        files.update(audit_policy.render(plan.spec))
        files.update(registry_mirror.render(plan.spec, recorded))
        evidence_ = assess(Inputs(plan.spec, recorded, estimate_), policy, {urn: path.as_posix() for path, urn in owners.items()}, [path.as_posix() for path in files])
        files.change = review.compare(plan.resources, recorded, estimate_, base) if base else None
        if files.change is not None:
            files.change["controls"] = evidence_bundle.changes(base, evidence_)
        files[Path("summary.md")] = review.summary(plan, recorded, estimate_, policy, files.change)
        plan_hash = evidence_bundle.sha256(files[Path("resources.json")])
        files.update(evidence_bundle.render(evidence_, recorded, plan.as_of or datetime.now(timezone.utc), plan_hash))
        if context is not None:
            files[Path(evidence_bundle.FOLDER, evidence_bundle.CONTEXT)] = evidence_bundle.context(*context, plan_hash, policy)
        files[Path(evidence_bundle.FOLDER, evidence_bundle.MANIFEST)] = evidence_bundle.manifest(files)
    return files


def _objects(plan: Plan, recorded: list[dict[str, Any]], files: Artifacts) -> dict[Path, str]:
    """Add the file of each Kubernetes object and Helm release to `files`; the path → URN of each."""
    owners: dict[Path, str] = {}
    # GitOps targets: their manifests again under gitops/<target>/, the folder to commit for the
    # site's Argo CD (under `pulumi up` the provider renders the same objects there).
    gitops = {r.inputs["target"] for r in plan.resources if r.type == TARGET_TYPE and r.inputs.get("delivery") == "gitops"}
    for resource, record in zip(plan.resources, recorded):
        if resource.type == HELM_RELEASE:
            release = helm_release(resource, record["inputs"])
            path = Path("helm") / resource.target / f"{release['release']}.yaml"
        elif is_manifest(resource):
            release = manifest(resource, record["inputs"])
            path = manifest_path(resource, release)
        else:
            continue
        if path in owners:
            raise PlanError(f"{owners[path]} and {resource.urn} both write {path}: two resources would fight over one object")
        owners[path] = resource.urn
        files[path] = to_yaml(release)
        if resource.target in gitops and path.parts[0] == "manifests":
            files[Path("gitops", *path.parts[1:])] = files[path]
    return owners


def _refuse(out: Path, why: str) -> OutDirError:
    return OutDirError(f"--out {out} {why}; nothing was touched. Choose another --out (default: build/<STACK>/ in the project)")


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _foreign(out: Path) -> list[str]:
    """What in `out` a plan doesn't write: anything but PLAN_FILES and, under PLAN_FOLDERS, files of
    the kinds each holds; and any symbolic link."""
    found: list[str] = []
    for entry in sorted(os.scandir(out), key=lambda e: e.name):
        if entry.is_symlink():
            found.append(f"{entry.name} (symbolic link)")
        elif entry.name in PLAN_FILES and entry.is_file():
            continue
        elif entry.name in PLAN_FOLDERS and entry.is_dir():
            for root, dirs, names in os.walk(entry.path):  # symbolic links to folders aren't followed
                for name in sorted(dirs):
                    if Path(root, name).is_symlink():
                        found.append(f"{Path(root, name).relative_to(out)} (symbolic link)")
                for name in sorted(names):
                    path = Path(root, name)
                    if path.is_symlink():
                        found.append(f"{path.relative_to(out)} (symbolic link)")
                    elif not any(fnmatchcase(name, pattern) for pattern in PLAN_FOLDERS[entry.name]) or not path.is_file():
                        found.append(str(path.relative_to(out)))
        else:
            found.append(entry.name + ("/" if entry.is_dir() else ""))
    return found


def check_out(out: Path, project: Path | None = None, cwd: Path | None = None) -> None:
    """Raise OutDirError unless `out` is a folder a plan may write: a new path, an empty folder, or
    a folder that holds an earlier plan (its marker) and nothing else than a plan's files. Never
    a file or a symbolic link, the current folder or one above it, the project folder (or the
    repository's) or one above it, or a place inside the project's stacks/."""
    try:
        if out.is_symlink():
            raise _refuse(out, "is a symbolic link; a plan replaces only a real folder it wrote")
        if out.exists() and not out.is_dir():
            raise _refuse(out, "is a file, not a folder")
        above = next((a for a in out.absolute().parents if a.exists()), None)
        if above is not None and not above.is_dir():
            raise _refuse(out, f"is under {above}, which is a file, not a folder")
        resolved = out.resolve()
        here = (cwd or Path.cwd()).resolve()
        if here == resolved or resolved in here.parents:
            raise _refuse(out, "is the current folder or holds it; a plan replaces its whole folder")
        if project is not None:
            project = project.resolve()
            # (The repository's root is the project folder or one above it.)
            if resolved == project or resolved in project.parents:
                raise _refuse(out, f"is the project folder {project} or one above it")
            if _is_within(resolved, project / "stacks"):
                raise _refuse(out, "is inside stacks/, where the stack files live")
        if not out.exists():
            return
        foreign = _foreign(out)
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        if (out / MARKER).is_file() and not (out / MARKER).is_symlink():
            if foreign:
                raise _refuse(out, f"holds an earlier plan, but also files a plan doesn't write: {listed}; a plan replaces only a folder of its own files (move them elsewhere)")
            return
        if not foreign and (out / "resources.json").is_file():
            raise _refuse(out, f"holds plan files but no {MARKER} marker (a plan written before plans marked their folder?), so it holds no earlier plan this command may replace; delete it yourself if it may go")
        if foreign or any(out.iterdir()):
            raise _refuse(out, f"is not empty and holds no earlier plan (no {MARKER}): {listed or 'plan files without the marker'}")
    except OSError as error:
        raise _os_error(out, error) from None


def _os_error(out: Path, error: OSError) -> OutDirError:
    where = f" ({error.filename})" if error.filename else ""
    return OutDirError(f"--out {out}: can't write the plan: {error.strerror or error}{where}; check that the folder and its parent are writable and have space, or choose another --out")


def _dir_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _write_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8", newline="\n")


def write(plan: Plan, out: Path, base: Path | None = None, project: Path | None = None, context: tuple[str, int | None] | None = None) -> Artifacts:
    """Write the plan's artifacts to `out`, replacing an earlier plan there (see check_out for
    what is refused). The files go to a new folder beside `out` first, which is swapped in when
    complete: until then the earlier plan stays as it was."""
    check_out(out, project)
    files = render(plan, base, context)
    target = out.resolve()
    staging = old = None
    swapped = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Beside the target: one filesystem, so each rename below is atomic.
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.hybridai-new-", dir=target.parent))
        os.chmod(staging, _dir_mode())
        for path, content in files.items():
            _write_file(staging / path, content)
        _write_file(staging / MARKER, json.dumps({"format": MARKER_FORMAT, "stack": plan.stack}, sort_keys=True) + "\n")
        check_out(out, project)  # again: nothing foreign arrived while the plan was written
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.hybridai-old-", dir=target.parent))
            os.rename(target, old / target.name)
        os.rename(staging, target)
        swapped = True
    except OSError as error:
        problem = _os_error(out, error)
        if old is not None and not _restore(old / target.name, target):
            problem = OutDirError(f"{problem}. The earlier plan is in {old / target.name}: move it back to {target}")
        raise problem from None
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if old is not None and (swapped or _restore(old / target.name, target)):
            shutil.rmtree(old, ignore_errors=True)
    return files


def retire_summary(out: Path) -> Path | None:
    """After a plan failed: remove the summary.md of the earlier plan in `out`, so the folder doesn't
    read as this run's result (CI posts summary.md; a reviewer opens it first). Only a plan folder's
    own summary goes (the marker says so); its other files stay as the earlier plan wrote them.
    Returns the path removed, or None when there was none."""
    summary = out / "summary.md"
    try:
        if not (out / MARKER).is_file() or (out / MARKER).is_symlink() or summary.is_symlink() or not summary.is_file():
            return None
        summary.unlink()
    except OSError:
        return None
    return summary


def _restore(previous: Path, target: Path) -> bool:
    """Put the earlier plan back where it was, unless the swap got that far; True when nothing of
    it is left at `previous`."""
    if not previous.exists():
        return True
    if target.exists():
        return False
    try:
        os.rename(previous, target)
    except OSError:
        return False
    return True


def counts(plan: Plan) -> Counter[tuple[str, str]]:
    """Resources by (placement, kind): Kubernetes kind, or the type's last segment."""
    tally: Counter[tuple[str, str]] = Counter()
    for r in plan.resources:
        # Kubernetes objects by kind, everything else by its full type token (unambiguous).
        kind = r.inputs.get("kind") if is_manifest(r) else r.type
        tally[(r.placement, str(kind))] += 1
    return tally
