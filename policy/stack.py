"""A stack's policy context, per-rule enforcement and exceptions, from its validated spec."""
from __future__ import annotations

from typing import Any

from hybridai import catalog
from hybridai.config import Problem, StackSpec
from hybridai.policy.rules import RULES, Level, PolicyContext
from hybridai.policy.rules.evaluate import levels

RANK = {"disabled": 0, "advisory": 1, "mandatory": 2}


def context_for(spec: StackSpec, cost: dict[str, Any] | None, image_lock: dict[str, Any] | None = None) -> PolicyContext:
    backups = catalog.backup_policy(spec.compliance_profiles())
    return PolicyContext(
        operator_namespace=spec.gpu_operator.namespace,
        platform_namespaces=spec.platform_namespaces(),
        # Registry mirrors are not exempt: an image through a mirror is pinned by digest like any other.
        allowed_registries=tuple(spec.policy.allowed_registries),
        allowed_regions=spec.allowed_regions(),
        profiles=spec.compliance_profiles(),
        monthly_estimate_usd=cost["total"]["estimate"] if cost else None,
        monthly_ceiling_usd=spec.cost.monthly_ceiling_usd,
        wide_networks_allowed=spec.policy.wide_networks_reason is not None,
        production=spec.environment == "prod",
        external_decision_log=spec.external_decision_log(),
        backup_rpo_hours=backups.rpo_hours,
        backup_retention_days=backups.retention_days,
        image_lock=image_lock,
    )


def overrides_for(spec: StackSpec) -> dict[str, Level]:
    return spec.policy.levels()


def _loosened(rule: str, level: str) -> bool:
    return rule in RULES and RANK[level] < RANK[RULES[rule].level]


def exceptions_for(spec: StackSpec) -> list[dict[str, str]]:
    """Everything the stack loosens, with its reason, for reviewers: waived profiles, rules enforced
    below their default, wide network allow-lists."""
    out = [{"kind": "profile waived", "what": name, "reason": reason} for name, reason in sorted(spec.policy.waive.items())]
    reasons = spec.policy.reasons()
    for rule, level in sorted(spec.policy.levels().items()):
        if _loosened(rule, level):
            out.append({"kind": f"rule {level}", "what": rule, "reason": reasons.get(rule, "")})
    if spec.policy.wide_networks_reason:
        out.append({"kind": "wide networks allowed", "what": "network allow-lists", "reason": spec.policy.wide_networks_reason})
    return out


def check_settings(spec: StackSpec) -> list[Problem]:
    """The stack's `policy.enforcement` names rules that exist, and loosens none without a reason
    (each at its key, with the fix)."""
    problems = []
    reasons = spec.policy.reasons()
    for rule, level in spec.policy.levels().items():
        if rule not in RULES:
            problems.append(Problem(("policy", "enforcement", rule), "rule_unknown", "unknown policy rule; `hybridai rules` lists them", level))
        elif _loosened(rule, level) and rule not in reasons:
            problems.append(
                Problem(
                    ("policy", "enforcement", rule),
                    "reason_required",
                    f"lowers a {RULES[rule].level} rule to {level}; write why: `{{level: {level}, reason: …}}` (summary.md shows it to every reviewer)",
                    level,
                )
            )
    return problems


def ahead_of(spec: StackSpec) -> list[Problem]:
    """What the mandatory policy rules of the stack will require, said at its keys before anything
    is planned (each rule's `ahead`): a rule that would fail the plan fails the config check instead,
    in the same run as every other problem."""
    enforced = levels(context_for(spec, None), overrides_for(spec))
    return [problem for rule_id, level in enforced.items() if level == "mandatory" and RULES[rule_id].ahead for problem in RULES[rule_id].ahead(spec)]
