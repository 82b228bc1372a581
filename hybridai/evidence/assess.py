"""Evidence by control: for each control of the stack's frameworks (hybridai/data/controls.yaml),
its status, the rules that check it and what they found, the resources that implement it, the
values that matter and the plan files that document it.

Statuses, strictest reading first:
- `manual`: no rule checks it; what the auditor must examine is listed. Never counted as satisfied.
- `not-satisfied`: a rule of it found something (at any enforcement level), a rule of it is disabled
  by the stack, none of its rules applies to the stack, or nothing in the plan implements it — a
  control is never satisfied by rules that examined nothing.
- `satisfied`: every rule of it that applies ran and found nothing, and resources implement it.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from hybridai import catalog, recorded
from hybridai.catalog import Control, ResourceSelector
from hybridai.evidence.parameters import PARAMETERS, Inputs

SATISFIED, NOT_SATISFIED, MANUAL = "satisfied", "not-satisfied", "manual"
STATUSES = (SATISFIED, NOT_SATISFIED, MANUAL)


def frameworks_of(profiles: tuple[str, ...] | list[str]) -> list[str]:
    """The frameworks whose controls a stack with these compliance profiles gets: the platform's
    own (no profile) and each selected profile's, in controls.yaml's order."""
    return [name for name, f in catalog.controls().frameworks.items() if f.profile is None or f.profile in profiles]


def _matches(selector: ResourceSelector, record: dict[str, Any]) -> bool:
    inputs = record["inputs"]
    if selector.type is not None and record["type"] != selector.type:
        return False
    if selector.kind is not None and not (record["type"].startswith("kubernetes:") and inputs.get("kind") == selector.kind):
        return False
    if selector.name is not None and (inputs.get("metadata") or {}).get("name") != selector.name:
        return False
    if selector.chart is not None:
        release = recorded.release_of(record["type"], inputs)
        if release is None or release[0] != selector.chart:
            return False
    return True


def _rule_results(control: Control, policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rule of the control: its enforcement for the stack and what it found; `not-applied`
    when the stack doesn't run it (a rule of a profile it doesn't select)."""
    levels = {r["id"]: r["enforcement"] for r in policy["rules"]}
    results = []
    for rule in control.rules:
        findings = [{"urn": f["urn"], "message": f["message"]} for f in policy["findings"] if f["rule"] == rule]
        level = levels.get(rule)
        if level is None:
            result = "not-applied"
        elif level == "disabled":
            result = "disabled"
        else:
            result = "fail" if findings else "pass"
        results.append({"id": rule, "enforcement": level, "result": result, "findings": findings})
    return results


def _status(control: Control, rules: list[dict[str, Any]], resources: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The control's status and, when it isn't satisfied, why."""
    if not control.rules:
        return MANUAL, []
    why = [f"rule {r['id']} found {len(r['findings'])} problem{'s' if len(r['findings']) != 1 else ''}" for r in rules if r["result"] == "fail"]
    why += [f"rule {r['id']} is disabled by the stack" for r in rules if r["result"] == "disabled"]
    if all(r["result"] == "not-applied" for r in rules):
        why.append("none of its rules applies to this stack")
    if not resources:
        why.append("nothing in the plan implements it")
    return (NOT_SATISFIED, why) if why else (SATISFIED, [])


def assess(inputs: Inputs, policy: dict[str, Any], files: dict[str, str], plan_files: list[str]) -> dict[str, Any]:
    """The evidence document of a plan (evidence/controls.json): `policy` is its policy report,
    `files` the plan file each resource is written to (URN → path), for every resource written to one,
    and `plan_files` every file of the plan (the artifacts controls point to)."""
    data = catalog.controls()
    names = frameworks_of(policy["profiles"])
    paths = sorted(plan_files)
    controls = []
    for control_id, control in data.controls.items():
        if control.framework not in names:
            continue
        rules = _rule_results(control, policy)
        resources = [
            {"urn": r["urn"], "type": r["type"], "file": files.get(r["urn"])}
            for r in inputs.records
            if any(_matches(s, r) for s in control.resources)
        ]
        status, why = _status(control, rules, resources)
        controls.append(
            {
                "id": control_id,
                "framework": control.framework,
                "title": control.title,
                "source": control.source,
                "statement": control.statement,
                "nist": list(control.nist),
                "status": status,
                "why": why,
                "rules": rules,
                "resources": resources,
                "parameters": {name: PARAMETERS[name](inputs) for name in control.parameters},
                "artifacts": [p for p in paths if any(fnmatchcase(p, pattern) for pattern in control.artifacts)],
                "manual": control.manual,
            }
        )
    return {
        "stack": policy["stack"],
        "blueprint": inputs.spec.blueprint,
        "environment": inputs.spec.environment,
        "profiles": list(policy["profiles"]),
        "frameworks": {
            name: {
                "title": data.frameworks[name].title,
                "crosswalk": data.frameworks[name].crosswalk,
                **{status: sum(c["status"] == status for c in controls if c["framework"] == name) for status in STATUSES},
            }
            for name in names
        },
        "controls": controls,
    }
