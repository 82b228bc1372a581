"""Policy rules: plain functions of a stack's resources (the dicts resources.json records) and a
PolicyContext. The offline plan, tests and the CrossGuard pack all call these same functions."""
from __future__ import annotations

from hybridai.policy.rules import aws, backup, compliance, kubernetes, security, supply  # noqa: F401 - importing registers the rules
from hybridai.policy.rules.base import RULES, Finding, Level, PolicyContext, Resource, Rule
from hybridai.policy.rules.evaluate import evaluate, profile_rules

__all__ = ["RULES", "Finding", "Level", "PolicyContext", "Resource", "Rule", "evaluate", "profile_rules"]
