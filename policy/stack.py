"""A stack's policy context and per-rule enforcement, from its validated spec and cost estimate."""
from __future__ import annotations

from typing import Any

from hybridai.config import Problem, StackSpec
from policy.rules import RULES, Level, PolicyContext


def context_for(spec: StackSpec, cost: dict[str, Any] | None) -> PolicyContext:
    platform = spec.platform_namespaces()
    return PolicyContext(
        operator_namespace=next(ns for ns, level in platform.items() if level == "privileged"),
        platform_namespaces=platform,
        # A site's registry mirror proxies the upstream registries: its images count as theirs.
        allowed_registries=tuple(spec.policy.allowed_registries) + spec.registry_mirrors(),
        allowed_regions=spec.allowed_regions(),
        profiles=spec.compliance_profiles(),
        monthly_estimate_usd=cost["total"]["estimate"] if cost else None,
        monthly_ceiling_usd=spec.cost.monthly_ceiling_usd,
    )


def overrides_for(spec: StackSpec) -> dict[str, Level]:
    return dict(spec.policy.enforcement)


def check_settings(spec: StackSpec) -> list[Problem]:
    """The stack's `policy` section names rules that exist (each at its key, with the fix)."""
    return [
        Problem(("policy", "enforcement", rule), "rule_unknown", "unknown policy rule; `hybridai rules` lists them", level)
        for rule, level in spec.policy.enforcement.items()
        if rule not in RULES
    ]
