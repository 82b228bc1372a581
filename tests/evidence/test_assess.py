"""Evidence by control: every rule in a control, every control of a profile in the evidence, and
statuses that never call a control satisfied on checks that found something or examined nothing."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from hybridai import catalog
from hybridai.evidence import Inputs, assess, frameworks_of
from hybridai.evidence.parameters import PARAMETERS
from hybridai.policy.rules.base import RULES
from tests.conftest import planned


def evidence_of(stack: str) -> dict:
    return json.loads(planned(stack)[1][Path("evidence/controls.json")])


def test_every_policy_rule_is_in_a_control_and_every_control_names_real_rules_and_parameters() -> None:
    # GIVEN the controls and the policy rules
    data = catalog.controls()
    mapped = {rule for c in data.controls.values() for rule in c.rules}
    # THEN every rule checks at least one control, and controls name only rules and parameters that exist
    assert set(RULES) - mapped == set()
    assert mapped - set(RULES) == set()
    assert {p for c in data.controls.values() for p in c.parameters} <= set(PARAMETERS)
    # AND every control belongs to a framework, and every compliance profile has its framework
    assert {c.framework for c in data.controls.values()} <= set(data.frameworks)
    assert set(catalog.compliance_profiles()) == {f.profile for f in data.frameworks.values() if f.profile}


def test_every_control_of_the_stacks_profiles_appears_and_no_other() -> None:
    # GIVEN healthcare-prod (hipaa) and finance-prod (sox, residency) WHEN planned
    for stack, frameworks in (("healthcare-prod", {"hipaa", "platform"}), ("finance-prod", {"sox", "residency", "platform"})):
        evidence = evidence_of(stack)
        expected = {cid for cid, c in catalog.controls().controls.items() if c.framework in frameworks}
        # THEN the evidence holds exactly the controls of their frameworks
        assert {c["id"] for c in evidence["controls"]} == expected
        assert set(evidence["frameworks"]) == frameworks == set(frameworks_of(evidence["profiles"]))


def test_the_example_prod_stacks_satisfy_their_automated_controls_with_the_resources_that_implement_them() -> None:
    # GIVEN healthcare-prod WHEN planned
    controls = {c["id"]: c for c in evidence_of("healthcare-prod")["controls"]}
    # THEN audit controls pass every rule, the clinical notes summarizer's prompts (an LLMInferenceService,
    # through the inference gateway's spans) among the decisions kept
    audit = controls["hipaa-164.312-b"]
    assert audit["status"] == "satisfied"
    assert {r["result"] for r in audit["rules"]} <= {"pass", "not-applicable"}
    assert next(r for r in audit["rules"] if r["id"] == "llm-decision-logging")["result"] == "pass"
    # (with the collector, Loki, the decision sink and the archive check)
    assert {"helm/dc1/fluent-bit.yaml", "helm/dc1/loki.yaml", "helm/dc1/vector.yaml", "manifests/dc1/logging/CronJob-audit-archive-check.yaml"} <= {r["file"] for r in audit["resources"]}
    # AND its parameters are the stack's: HIPAA's six years in the store and the locked archive
    assert audit["parameters"]["log-retention"]["audit_days"] == 2190
    assert audit["parameters"]["audit-archive"]["onprem"] == {"endpoint_host": "s3.hospital.example", "bucket": "hc-prod-audit", "mode": "COMPLIANCE", "days": 2190}
    assert audit["artifacts"] == ["audit/dc1/audit-policy.yaml", "audit/dc1/enable.md"]
    # AND the contingency plan is its Velero schedules against the profile's RPO, with the runbooks
    contingency = controls["hipaa-164.308-a-7"]
    assert contingency["status"] == "satisfied"
    assert contingency["parameters"]["backups"]["required"] == {"rpo_hours": 24, "retention_days": 35}
    assert contingency["artifacts"] == ["restore/dc1/runbook.md"]


def test_the_activity_review_is_manual_and_never_counted_as_satisfied() -> None:
    # GIVEN healthcare-prod WHEN planned
    evidence = evidence_of("healthcare-prod")
    review = next(c for c in evidence["controls"] if c["id"] == "hipaa-164.308-a-1-ii-d")
    # THEN the control no rule checks is manual, says what to examine, and is counted as manual only
    assert review["status"] == "manual" and review["rules"] == [] and "who reviews" in review["manual"]
    hipaa = evidence["frameworks"]["hipaa"]
    assert hipaa["manual"] == 1 and hipaa["satisfied"] + hipaa["not-satisfied"] + hipaa["manual"] == sum(c["framework"] == "hipaa" for c in evidence["controls"])


def inputs_and_policy(stack: str) -> tuple[Inputs, dict, dict, list[str]]:
    plan, files = planned(stack)
    records = json.loads(files[Path("resources.json")])["resources"]
    policy = json.loads(files[Path("policy.json")])
    paths = {r["urn"]: r["file"] for c in evidence_of(stack)["controls"] for r in c["resources"] if r["file"]}
    return Inputs(plan.spec, records, json.loads(files[Path("cost.json")])), policy, paths, [p.as_posix() for p in files]


def test_a_failing_rule_flips_its_control_and_is_named() -> None:
    # GIVEN healthcare-prod's evidence inputs, and its policy report with one NetworkPolicy finding added
    inputs, policy, paths, plan_files = inputs_and_policy("healthcare-prod")
    violated = copy.deepcopy(policy)
    violated["findings"].append({"rule": "k8s-namespaces-have-network-policies", "enforcement": "mandatory", "urn": "urn:x", "message": "namespace radiology has no NetworkPolicy"})
    # WHEN assessed
    controls = {c["id"]: c for c in assess(inputs, violated, paths, plan_files)["controls"]}
    # THEN access control is not satisfied, naming the rule and its finding; controls without that rule are unchanged
    access = controls["hipaa-164.312-a-1"]
    assert access["status"] == "not-satisfied"
    assert access["why"] == ["rule k8s-namespaces-have-network-policies found 1 problem"]
    rule = next(r for r in access["rules"] if r["id"] == "k8s-namespaces-have-network-policies")
    assert rule["result"] == "fail" and rule["findings"] == [{"urn": "urn:x", "message": "namespace radiology has no NetworkPolicy"}]
    assert controls["hipaa-164.312-e-1"]["status"] == "satisfied"


def test_a_disabled_rule_or_nothing_implementing_a_control_is_not_satisfied() -> None:
    # GIVEN the policy report with the TLS rule disabled by the stack, and the records without certificates
    inputs, policy, paths, plan_files = inputs_and_policy("healthcare-prod")
    disabled = copy.deepcopy(policy)
    for r in disabled["rules"]:
        if r["id"] == "serving-endpoints-tls":
            r["enforcement"] = "disabled"
    controls = {c["id"]: c for c in assess(inputs, disabled, paths, plan_files)["controls"]}
    # THEN transmission security is not satisfied because a rule of it doesn't run
    assert "rule serving-endpoints-tls is disabled by the stack" in controls["hipaa-164.312-e-1"]["why"]
    bare = Inputs(inputs.spec, [r for r in inputs.records if r["inputs"].get("kind") not in ("Certificate", "ClusterIssuer") and "cert-manager" not in str(r["inputs"].get("chart"))], inputs.cost)
    # AND with nothing implementing it, passing rules don't make it satisfied
    transmission = next(c for c in assess(bare, policy, paths, plan_files)["controls"] if c["id"] == "hipaa-164.312-e-1")
    assert transmission["status"] == "not-satisfied" and transmission["why"] == ["nothing in the plan implements it"]
