"""Which rules apply to a stack, at what enforcement level, and what they find."""
from __future__ import annotations

from typing import Any, Iterable

from hybridai import catalog
from hybridai.policy.rules.base import RULES, Level, PolicyContext, Resource


def profiles() -> dict[str, dict[str, Any]]:
    return catalog.compliance_profiles()


def profile_rules() -> set[str]:
    """Rules that run only for stacks selecting their compliance profile."""
    return {rule for p in profiles().values() for rule in p["rules"]}


def levels(ctx: PolicyContext, overrides: dict[str, Level]) -> dict[str, Level]:
    """Each rule's enforcement for a stack: the baseline, plus its profiles' rules, then its overrides."""
    selected = {rule for name in ctx.profiles for rule in profiles()[name]["rules"]}
    out: dict[str, Level] = {}
    for rule_id, rule in sorted(RULES.items()):
        if rule_id in profile_rules() and rule_id not in selected:
            continue
        out[rule_id] = overrides.get(rule_id, rule.level)
    return out


def evaluate(resources: Iterable[Resource], ctx: PolicyContext, overrides: dict[str, Level] | None = None) -> list[dict[str, str]]:
    """Findings of every enabled rule: rule, enforcement, resource URN, message."""
    resources = list(resources)
    findings = []
    for rule_id, level in levels(ctx, overrides or {}).items():
        if level == "disabled":
            continue
        for finding in RULES[rule_id].check(resources, ctx):
            findings.append({"rule": rule_id, "enforcement": level, "urn": finding.urn, "message": finding.message})
    return sorted(findings, key=lambda f: (f["enforcement"] != "mandatory", f["rule"], f["urn"], f["message"]))
