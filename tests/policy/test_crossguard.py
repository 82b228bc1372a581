"""The CrossGuard pack runs the same rule functions on Pulumi's view of the stack."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml
from pulumi_policy import PolicyCustomTimeouts, PolicyProviderResource, PolicyResource, PolicyResourceOptions, StackValidationArgs

from hybridai.policy.crossguard import policies, records, validator
from hybridai.policy.rules import RULES
from tests.conftest import ROOT, planned


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource(type_: str, name: str, props: dict, parent=None, provider=None, protect=False) -> PolicyResource:
    urn = f"urn:pulumi:s::hybrid-ai::{type_}::{name}"
    return PolicyResource(type_, props, urn, name, options(protect), provider, parent, [], {})


def stack():
    target = resource("hybrid-ai:target:Target", "fin-aws", {"target": "aws", "placement": "cloud"})
    provider = PolicyProviderResource("pulumi:providers:aws", {"region": "us-east-1"}, "urn:pulumi:s::hybrid-ai::hybrid-ai:target:Target$pulumi:providers:aws::fin-aws-aws", "fin-aws-aws")
    key = resource("aws:kms/key:Key", "key", {"enableKeyRotation": False}, parent=target, provider=provider)
    return [target, key], provider


def test_policy_resources_become_placed_records() -> None:
    resources, provider = stack()
    recs = {r["name"]: r for r in records(resources)}
    assert recs["key"]["placement"] == "cloud" and recs["key"]["target"] == "aws"
    assert recs["key"]["provider"] == provider.urn
    assert recs["fin-aws-aws"]["inputs"] == {"region": "us-east-1"}


def test_validators_report_what_the_rule_finds() -> None:
    resources, _ = stack()
    reported: list[tuple[str, str | None]] = []
    config = {"context": {"allowed_regions": ["eu-central-1"], "profiles": ["residency"]}}
    for rule_id in ("aws-kms-rotation", "residency-allowed-regions"):
        validator(RULES[rule_id])(StackValidationArgs(resources, config), lambda message, urn=None: reported.append((message, urn)))
    assert ("KMS key rotation is off", "urn:pulumi:s::hybrid-ai::aws:kms/key:Key::key") in reported
    assert any("us-east-1" in message for message, _ in reported)


def test_the_pack_has_one_policy_per_rule_with_the_rules_default_levels() -> None:
    built = {p.name: p for p in policies()}
    assert set(built) == set(RULES)
    assert built["gpu-training-scales-to-zero"].enforcement_level.value == "advisory"
    assert built["aws-kms-rotation"].enforcement_level.value == "mandatory"


def test_pack_entry_point_only_builds_the_pack() -> None:
    # Building the PolicyPack starts the policy server, so the entry point is checked, not run.
    tree = ast.parse((ROOT / "policy" / "__main__.py").read_text())
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert calls.count("PolicyPack") == 1
    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    # The pack installs this project from the wheel beside it (policy/wheels), by path, not an index.
    assert "./wheels/hybrid_ai-" in (ROOT / "policy" / "requirements.txt").read_text()


def test_policy_config_for_pulumi_preview_carries_levels_and_context() -> None:
    _, files = planned("finance-dev")
    config = json.loads(files[Path("policy-config.json")])
    assert set(config) == set(RULES)
    assert config["sox-immutable-audit-trail"]["enforcementLevel"] == "disabled", "finance-dev selects only residency"
    assert config["residency-allowed-regions"]["enforcementLevel"] == "mandatory"
    assert config["aws-kms-rotation"]["context"]["allowed_regions"] == ["eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"]
