"""The evidence as OSCAL 1.2.1 documents, built with compliance-trestle's models (which validate
every field as they are made):

- a component-definition: each hybrid-ai component of the plan (a module's ComponentResource type,
  `hybrid-ai:<module>:<Class>`) with the controls its resources implement, per framework;
- an assessment-results: one result for this plan, an observation per rule of each control (what
  it examined and found), a finding per control whose objective status is the control's — a manual
  control is `not-satisfied` with reason `other` and says what the auditor must examine, so no
  reader of the OSCAL counts it as passing.

UUIDs are version-5 UUIDs of the stack and the item, so the same plan gives the same documents.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from importlib.metadata import version
from typing import Any

from trestle.oscal import OSCAL_VERSION
from trestle.oscal import assessment_results as ar
from trestle.oscal import common
from trestle.oscal import component as cd


NAMESPACE = uuid.UUID("5b0f1b8e-3c59-4d7c-9a61-6b8f0e2f7a10")
"""Namespace of every UUID in hybrid-ai's OSCAL documents (fixed: it makes them reproducible)."""
PROPS_NS = "https://github.com/hybrid-ai/hybrid-ai/ns/oscal"
"""Namespace of hybrid-ai's own OSCAL properties (rule results, 800-53 mappings)."""
COMPONENT_PREFIX = "hybrid-ai:"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _prop(name: str, value: str) -> common.Property:
    return common.Property(name=name, value=value, ns=PROPS_NS)


def _metadata(title: str, as_of: datetime) -> common.Metadata:
    return common.Metadata(title=title, last_modified=as_of, version=version("hybrid-ai"), oscal_version=OSCAL_VERSION)


def _framework_resources(evidence: dict[str, Any], stack: str) -> tuple[dict[str, str], common.BackMatter]:
    """A back-matter resource per framework (its title and crosswalk): what control ids refer to."""
    refs = {name: _uuid(stack, "framework", name) for name in evidence["frameworks"]}
    resources = [
        common.Resource(uuid=refs[name], title=f["title"], description=f"hybrid-ai controls (hybridai/data/controls.yaml). NIST SP 800-53 mappings: {f['crosswalk']}")
        for name, f in evidence["frameworks"].items()
    ]
    return refs, common.BackMatter(resources=resources)


def _component_of(urn: str, parents: dict[str, str | None], types: dict[str, str]) -> str | None:
    """The nearest hybrid-ai component type above a resource (a cluster's Target excepted)."""
    current = parents.get(urn)
    while current:
        type_ = types.get(current, "")
        if type_.startswith(COMPONENT_PREFIX) and not type_.endswith(":target:Target"):
            return type_
        current = parents.get(current)
    return None


def component_definition(evidence: dict[str, Any], records: list[dict[str, Any]], as_of: datetime) -> cd.ComponentDefinition:
    stack = evidence["stack"]
    parents = {r["urn"]: r.get("parent") for r in records}
    types = {r["urn"]: r["type"] for r in records}
    refs, back_matter = _framework_resources(evidence, stack)
    implements: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for control in evidence["controls"]:
        for resource in control["resources"]:
            owner = _component_of(resource["urn"], parents, types)
            if owner is not None:
                implements.setdefault(owner, {}).setdefault(control["id"], []).append(resource)
    components = []
    for type_ in sorted(implements):
        by_framework: dict[str, list[cd.ImplementedRequirement]] = {}
        for control in (c for c in evidence["controls"] if c["id"] in implements[type_]):
            resources = implements[type_][control["id"]]
            by_framework.setdefault(control["framework"], []).append(
                cd.ImplementedRequirement(
                    uuid=_uuid(stack, "component", type_, control["id"]),
                    control_id=control["id"],
                    description=f"{control['title']} ({control['source']}): {len(resources)} resource{'s' if len(resources) != 1 else ''} of this component implement it.",
                    props=[_prop("policy-rule", rule["id"]) for rule in control["rules"]] + [_prop("nist-sp800-53r5", nist) for nist in control["nist"]],
                )
            )
        components.append(
            cd.DefinedComponent(
                uuid=_uuid(stack, "component", type_),
                type="software",
                title=type_.removeprefix(COMPONENT_PREFIX),
                description=f"The hybrid-ai component {type_} as the stack {stack} deploys it.",
                control_implementations=[
                    cd.ControlImplementation(
                        uuid=_uuid(stack, "component", type_, framework),
                        source=f"#{refs[framework]}",
                        description=f"What {type_} implements of {evidence['frameworks'][framework]['title']}.",
                        implemented_requirements=requirements,
                    )
                    for framework, requirements in by_framework.items()
                ],
            )
        )
    return cd.ComponentDefinition(
        uuid=_uuid(stack, "component-definition"),
        metadata=_metadata(f"hybrid-ai components of {stack}", as_of),
        components=components or None,
        back_matter=back_matter,
    )


def _observation(stack: str, control: dict[str, Any], rule: dict[str, Any], as_of: datetime) -> common.Observation:
    found = "; ".join(f["message"] for f in rule["findings"])
    said = {"pass": "found nothing", "fail": f"found: {found}", "disabled": "is disabled by the stack", "not-applied": "does not apply to this stack"}[rule["result"]]
    return common.Observation(
        uuid=_uuid(stack, "observation", control["id"], rule["id"]),
        title=f"policy rule {rule['id']}",
        description=f"The policy rule {rule['id']} {said}.",
        methods=["TEST"],
        props=[_prop("rule-result", rule["result"])],
        collected=as_of,
    )


def _finding(stack: str, control: dict[str, Any], observations: list[common.Observation]) -> common.Finding:
    status = control["status"]
    if status == "manual":
        state, reason, remarks = "not-satisfied", "other", f"manual: {control['manual']}"
    else:
        state, reason = ("satisfied", "pass") if status == "satisfied" else ("not-satisfied", "fail")
        remarks = "; ".join(control["why"]) or None
    return common.Finding(
        uuid=_uuid(stack, "finding", control["id"]),
        title=f"{control['source']} {control['title']}",
        description=control["statement"],
        target=common.FindingTarget(type="objective-id", target_id=control["id"], status=common.ObjectiveStatus(state=state, reason=reason, remarks=remarks)),
        related_observations=[common.RelatedObservation(observation_uuid=o.uuid) for o in observations] or None,
        props=[_prop("evidence-status", status)],
    )


def assessment_results(evidence: dict[str, Any], as_of: datetime, plan_hash: str) -> ar.AssessmentResults:
    stack = evidence["stack"]
    observations: list[common.Observation] = []
    findings = []
    for control in evidence["controls"]:
        mine = [_observation(stack, control, rule, as_of) for rule in control["rules"]]
        observations += mine
        findings.append(_finding(stack, control, mine))
    _, back_matter = _framework_resources(evidence, stack)
    result = ar.Result(
        uuid=_uuid(stack, "result", plan_hash),
        title=f"hybrid-ai plan of {stack}",
        description=f"The policy checks of the offline plan of {stack} (resources.json sha256 {plan_hash}), by control.",
        start=as_of,
        props=[_prop("plan-sha256", plan_hash)],
        reviewed_controls=common.ReviewedControls(
            control_selections=[common.ControlSelections(include_controls=[common.SelectControlById(control_id=c["id"]) for c in evidence["controls"]])]
        ),
        observations=observations or None,
        findings=findings or None,
    )
    return ar.AssessmentResults(
        uuid=_uuid(stack, "assessment-results"),
        metadata=_metadata(f"hybrid-ai evidence of {stack}", as_of),
        # The assessment plan is the plan's policy configuration: which rules run, at what level.
        import_ap=ar.ImportAp(href="../policy-config.json"),
        results=[result],
        back_matter=back_matter,
    )


def to_json(document: cd.ComponentDefinition | ar.AssessmentResults, root: str) -> str:
    """The OSCAL JSON of a document: `{root: …}`, aliases (kebab-case), no empty fields."""
    return json.dumps({root: document.model_dump(mode="json", by_alias=True, exclude_none=True)}, indent=2, sort_keys=True) + "\n"
