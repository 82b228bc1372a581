"""A stack's policy context and per-rule enforcement, from its validated spec and cost estimate."""
from __future__ import annotations

from typing import Any

from hybridai.config import StackSpec
from modules.base import ARGOCD_NAMESPACE
from modules.queues import NAMESPACE as KUEUE_NAMESPACE
from modules.serving import NAMESPACE as KSERVE_NAMESPACE
from policy.rules import Level, PolicyContext


def context_for(spec: StackSpec, cost: dict[str, Any] | None) -> PolicyContext:
    operator = getattr(getattr(spec, "gpu_operator", None), "namespace", "gpu-operator")
    return PolicyContext(
        operator_namespace=operator,
        platform_namespaces={operator: "privileged", spec.monitoring.namespace: "baseline", ARGOCD_NAMESPACE: "baseline", KUEUE_NAMESPACE: "baseline", KSERVE_NAMESPACE: "baseline"},
        # A site's registry mirror proxies the upstream registries: its images count as theirs.
        allowed_registries=tuple(spec.policy.allowed_registries) + spec.registry_mirrors(),
        allowed_regions=spec.allowed_regions(),
        profiles=spec.compliance_profiles(),
        monthly_estimate_usd=cost["total"]["estimate"] if cost else None,
        monthly_ceiling_usd=spec.cost.monthly_ceiling_usd,
    )


def overrides_for(spec: StackSpec) -> dict[str, Level]:
    return dict(spec.policy.enforcement)
