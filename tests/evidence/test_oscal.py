"""The OSCAL documents validate — with compliance-trestle's models and against NIST's OSCAL 1.2.1
JSON schemas — and say of each control what the evidence says, a manual one never satisfied."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import re2
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.component import ComponentDefinition

from tests.conftest import planned
from tests.harness.upstream import upstream


def _pattern(validator, pattern: str, instance, schema):  # noqa: ANN001 - jsonschema's keyword signature
    # OSCAL's patterns use Unicode classes (\p{L}, \p{N}) that Python's re lacks; RE2 has them.
    if validator.is_type(instance, "string") and not re2.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


OscalValidator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})
"""Draft 7, as OSCAL's schemas declare, with `pattern` evaluated by RE2."""


def validate(instance: dict, name: str) -> None:
    OscalValidator(schema(name), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(instance)


@cache
def schema(name: str) -> dict:
    return json.loads((upstream() / "oscal" / "v1.2.1" / f"oscal_{name}_schema.json").read_text())


def document(stack: str, name: str) -> dict:
    return json.loads(planned(stack)[1][Path("evidence", name)])


@pytest.mark.parametrize("stack", ["healthcare-prod", "finance-prod", "manufacturing-prod"])
def test_the_oscal_documents_validate_with_trestle_and_nists_schemas(stack: str) -> None:
    # GIVEN the plan's OSCAL documents
    components, results = document(stack, "component-definition.json"), document(stack, "assessment-results.json")
    # THEN compliance-trestle reads them back (its models check every field and its OSCAL version)
    assert ComponentDefinition.model_validate(components["component-definition"]).components
    assert AssessmentResults.model_validate(results["assessment-results"]).results
    # AND they validate against the OSCAL 1.2.1 JSON schemas, patterns and formats included
    validate(components, "component")
    validate(results, "assessment-results")


def test_a_broken_document_fails_the_schema() -> None:
    # GIVEN an assessment-results whose finding has a status OSCAL doesn't know, THEN the schema refuses it
    results = document("healthcare-prod", "assessment-results.json")
    results["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "passing"
    with pytest.raises(jsonschema.ValidationError, match="passing"):
        validate(results, "assessment-results")
    # AND so does a control id OSCAL's token pattern refuses
    results = document("healthcare-prod", "assessment-results.json")
    results["assessment-results"]["results"][0]["findings"][0]["target"]["target-id"] = "1 bad id"
    with pytest.raises(jsonschema.ValidationError, match="1 bad id"):
        validate(results, "assessment-results")


def test_each_control_is_a_finding_with_its_status_and_a_manual_one_is_not_satisfied() -> None:
    # GIVEN healthcare-prod's assessment results and evidence
    result = document("healthcare-prod", "assessment-results.json")["assessment-results"]["results"][0]
    evidence = document("healthcare-prod", "controls.json")
    findings = {f["target"]["target-id"]: f["target"]["status"] for f in result["findings"]}
    # THEN every control of the evidence is a finding, satisfied exactly when the evidence says so
    assert set(findings) == {c["id"] for c in evidence["controls"]}
    for control in evidence["controls"]:
        assert (findings[control["id"]]["state"] == "satisfied") == (control["status"] == "satisfied")
    # AND the manual control is not-satisfied for reason `other`, saying what the auditor examines
    manual = findings["hipaa-164.308-a-1-ii-d"]
    assert (manual["state"], manual["reason"]) == ("not-satisfied", "other") and manual["remarks"].startswith("manual: ")
    # AND each rule of a control is an observation of the automated test, linked from its finding
    observations = {o["uuid"]: o for o in result["observations"]}
    audit = next(f for f in result["findings"] if f["target"]["target-id"] == "hipaa-164.312-b")
    titles = {observations[o["observation-uuid"]]["title"] for o in audit["related-observations"]}
    assert "policy rule decision-logging" in titles and all(observations[o["observation-uuid"]]["methods"] == ["TEST"] for o in audit["related-observations"])
    # AND the result names the plan it assessed
    assert {"name": "plan-sha256", "ns": "https://github.com/hybrid-ai/hybrid-ai/ns/oscal", "value": evidence["plan_sha256"]} in result["props"]


def test_the_components_are_hybrid_ais_modules_with_the_controls_they_implement() -> None:
    # GIVEN finance-prod's component-definition
    components = {c["title"]: c for c in document("finance-prod", "component-definition.json")["component-definition"]["components"]}
    # THEN the EKS audit archive implements SOX change management (its subscription filter and stream)
    audit = components["eks_audit:EksAuditArchive"]
    implemented = {r["control-id"] for ci in audit["control-implementations"] for r in ci["implemented-requirements"]}
    assert {"sox-itgc-change", "sox-802-records"} <= implemented
    # AND a cluster's Target is no component (it holds every resource of the cluster)
    assert not any(title.startswith("target:") for title in components)
