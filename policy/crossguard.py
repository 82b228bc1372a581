"""The bridge from CrossGuard to the rule functions: importable and testable without the policy
server (which only policy/__main__.py starts, by building the PolicyPack)."""
from __future__ import annotations

from typing import Any, Callable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ReportViolation, StackValidationArgs, StackValidationPolicy

from hybridai.config.operations import CostSettings
from hybridai.cost import estimate
from hybridai.recorded import Resource, place
from hybridai.policy.rules import RULES, PolicyContext, Rule

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY, "disabled": EnforcementLevel.DISABLED}
CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "context": {"type": "object", "description": "PolicyContext of the stack (written by `hybridai plan` to policy-config.json)"},
        "costSettings": {"type": "object", "description": "The stack's cost assumptions, to price the preview for the ceiling rule"},
    }
)


def records(resources: list[Any]) -> list[dict[str, Any]]:
    """CrossGuard's PolicyResources as the records rules read, placed like the offline plan does."""
    planned = [
        Resource(
            urn=r.urn,
            type=r.resource_type,
            name=r.name,
            parent=r.parent.urn if r.parent is not None else None,
            provider=r.provider.urn if r.provider is not None else None,
            protect=bool(r.opts.protect),
            retain_on_delete=None,  # CrossGuard doesn't say; rules treat None as unknown
            dependencies=sorted(d.urn for d in r.dependencies),
            inputs=dict(r.props),
            custom=r.provider is not None or r.resource_type.startswith("pulumi:providers:"),
        )
        for r in resources
    ]
    # Providers are resources in the graph too; CrossGuard lists them only as references.
    seen = {p.urn for p in planned}
    for r in resources:
        provider = r.provider
        if provider is not None and provider.urn not in seen:
            seen.add(provider.urn)
            planned.append(Resource(urn=provider.urn, type=provider.resource_type, name=provider.name, parent=None, provider=None, protect=False, retain_on_delete=None, dependencies=[], inputs=dict(provider.props), custom=True))
    place(planned)  # a resource outside any Target has no placement; placement rules skip it
    return [r.record() for r in planned]


def validator(rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        recorded = records(args.resources)
        # CrossGuard unwraps Pulumi secrets before rules see them.
        ctx = PolicyContext.model_validate(config.get("context") or {}).model_copy(update={"secret_values_visible": True})
        if ctx.monthly_ceiling_usd is not None and config.get("costSettings"):
            total = estimate(recorded, CostSettings.model_validate(config["costSettings"]))["total"]["estimate"]
            ctx = ctx.model_copy(update={"monthly_estimate_usd": total})
        for finding in rule.check(recorded, ctx):
            report_violation(finding.message, finding.urn or None)

    return validate


def policies() -> list[StackValidationPolicy]:
    return [
        StackValidationPolicy(name=r.id, description=r.description, enforcement_level=LEVELS[r.level], validate=validator(r), config_schema=CONFIG_SCHEMA)
        for r in sorted(RULES.values(), key=lambda r: r.id)
    ]
