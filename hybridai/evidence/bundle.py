"""The evidence bundle a plan writes into evidence/: the evidence by control (controls.json), its
OSCAL documents, a report for people (report.md, report.html), and a sha256 manifest of every file
of the plan folder, so a changed file is evident (`hybridai verify-evidence`, or `sha256sum -c
evidence/manifest.sha256` in the folder). With `--compare`, the controls whose evidence changed."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from hybridai.evidence import oscal
from hybridai.rendering import html_template, template

FOLDER = "evidence"
CONTROLS = "controls.json"
COMPONENTS = "component-definition.json"
RESULTS = "assessment-results.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CONTEXT = "context.json"
MANIFEST = "manifest.sha256"
FILES = (CONTROLS, COMPONENTS, RESULTS, REPORT_MD, REPORT_HTML, CONTEXT, MANIFEST)
"""Every file evidence/ may hold (context.json only when CI gives the commit and pull request)."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render(evidence: dict[str, Any], records: list[dict[str, Any]], as_of: datetime, plan_hash: str) -> dict[Path, str]:
    """The evidence files, path → content (the manifest is added once every plan file is known)."""
    folder = Path(FOLDER)
    return {
        folder / CONTROLS: json.dumps({**evidence, "as_of": as_of.isoformat(), "plan_sha256": plan_hash}, indent=2) + "\n",
        folder / COMPONENTS: oscal.to_json(oscal.component_definition(evidence, records, as_of), "component-definition"),
        folder / RESULTS: oscal.to_json(oscal.assessment_results(evidence, as_of, plan_hash), "assessment-results"),
        folder / REPORT_MD: template("evidence.md.j2").render(evidence=evidence, as_of=as_of, plan_hash=plan_hash),
        folder / REPORT_HTML: html_template("evidence.html.j2").render(evidence=evidence, as_of=as_of, plan_hash=plan_hash),
    }


def context(commit: str, pull_request: int | None, plan_hash: str, policy: dict[str, Any]) -> str:
    """What CI records beside a plan's evidence: the commit, the pull request, the plan's hash and
    the policy results."""
    return json.dumps(
        {"commit": commit, "pull_request": pull_request, "plan_sha256": plan_hash, "mandatory_violations": policy["mandatory_violations"], "findings": len(policy["findings"])},
        indent=2,
        sort_keys=True,
    ) + "\n"


def manifest(files: dict[Path, str]) -> str:
    """`sha256sum`'s format for every file of the plan folder but the manifest itself, by path."""
    lines = [f"{sha256(content)}  {path.as_posix()}" for path, content in sorted(files.items(), key=lambda item: item[0].as_posix()) if path != Path(FOLDER, MANIFEST)]
    return "\n".join(lines) + "\n"


class ManifestError(Exception):
    """The manifest can't be read."""


def verify(folder: Path) -> list[str]:
    """What differs between a plan folder and its evidence manifest: each file changed, missing or
    not in the manifest; empty when the folder is as the plan wrote it."""
    path = folder / FOLDER / MANIFEST
    try:
        listed = dict(reversed(line.split("  ", 1)) for line in path.read_text(encoding="utf-8").splitlines() if line)
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: can't read the manifest ({error})") from None
    problems = []
    for name, digest in sorted(listed.items()):
        file = folder / name
        if not file.is_file():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(file.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: changed since the plan wrote it")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed) - {f"{FOLDER}/{MANIFEST}"})]
    return problems


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _parameter_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    old, new = _flatten(before), _flatten(after)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        lowered = isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and b < a
        changes.append(f"`{key}`: {json.dumps(a)} → {json.dumps(b)}" + (" (lowered)" if lowered else ""))
    return changes


def changes(base_dir: Path, evidence: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The controls whose evidence changed against the plan in `base_dir`: status, rules newly
    failing or passing, parameters (a lowered number says so), resources added or removed, controls
    added or gone. None when the base plan has no evidence."""
    path = base_dir / FOLDER / CONTROLS
    if not path.is_file():
        return None
    base = {c["id"]: c for c in json.loads(path.read_text(encoding="utf-8"))["controls"]}
    now = {c["id"]: c for c in evidence["controls"]}
    out = []
    for control_id in sorted(base.keys() | now.keys()):
        before, after = base.get(control_id), now.get(control_id)
        if before is None or after is None:
            c = after or before
            out.append({"id": control_id, "title": c["title"], "source": c["source"], "changes": ["new control of this stack" if before is None else "no longer a control of this stack"]})
            continue
        said = []
        if before["status"] != after["status"]:
            said.append(f"status: {before['status']} → {after['status']}")
        was = {r["id"]: r["result"] for r in before["rules"]}
        for rule in after["rules"]:
            if was.get(rule["id"]) != rule["result"] and rule["result"] in ("fail", "pass", "disabled"):
                said.append(f"rule `{rule['id']}`: {was.get(rule['id'], 'absent')} → {rule['result']}")
        said += _parameter_changes(before["parameters"], after["parameters"])
        urns_before, urns_after = {r["urn"] for r in before["resources"]}, {r["urn"] for r in after["resources"]}
        if urns_after - urns_before:
            said.append(f"{len(urns_after - urns_before)} implementing resource(s) added")
        if urns_before - urns_after:
            said.append(f"{len(urns_before - urns_after)} implementing resource(s) removed")
        if said:
            out.append({"id": control_id, "title": after["title"], "source": after["source"], "changes": said})
    return out
