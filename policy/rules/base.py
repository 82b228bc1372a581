"""What every rule shares: the context a stack gives it, findings, and the registry."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict

Level = Literal["mandatory", "advisory", "disabled"]
Resource = dict[str, Any]
"""A resource as resources.json records it: urn, type, name, parent, provider, protect,
retain_on_delete, dependencies, inputs, placement, target."""


class PolicyContext(BaseModel):
    """What rules need to know about the stack beyond its resources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operator_namespace: str = "gpu-operator"
    """The one namespace allowed privileged pods and host namespaces."""
    platform_namespaces: dict[str, str] = {"gpu-operator": "privileged", "monitoring": "baseline"}
    """Platform namespaces and the Pod Security level each may run at; all others: restricted."""
    allowed_registries: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    monthly_estimate_usd: float | None = None
    monthly_ceiling_usd: float | None = None
    wide_networks_allowed: bool = False
    """The stack gave a reason for network allow-lists wider than hybridai/cidr.py allows."""
    secret_values_visible: bool = False
    """The records show Pulumi secrets' values unwrapped (CrossGuard), not as REDACTED_SECRET."""
    production: bool = False
    """A prod stack: every namespace holding data must be backed up."""
    external_decision_log: str | None = None
    """The external sink the models log their decisions to instead of the stack's own (finance's
    `audit.decisionLogUrl`); None: the stack's decision sink."""
    backup_rpo_hours: int | None = None
    backup_retention_days: int | None = None
    """What the stack's compliance profiles require of its backups (compliance.yaml): the longest
    interval between two backups of a namespace holding data, the least days each is kept."""
    image_lock: dict[str, Any] | None = None
    """images.lock as the plan read it (its YAML document: `charts`, `images`), `{}` when the
    project has none; None: no lock was consulted, and the lock rule has nothing to check."""


@dataclass(frozen=True)
class Finding:
    urn: str
    message: str


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    level: Level
    """Default enforcement; a stack may change it."""
    check: Callable[[list[Resource], PolicyContext], Iterable[Finding]]
    ahead: Callable[[Any], Iterable[Any]] | None = None
    """What the rule will require, said of the stack file before anything is planned: a function of
    the validated spec giving config Problems at the keys to change (policy/stack.py `ahead_of`), so
    a stack going to prod learns the whole chain in one run instead of a failed plan per rule."""


RULES: dict[str, Rule] = {}


def rule(rule_id: str, description: str, level: Level = "mandatory", ahead: Callable[[Any], Iterable[Any]] | None = None) -> Callable:
    def register(fn: Callable[[list[Resource], PolicyContext], Iterable[Finding]]) -> Callable:
        RULES[rule_id] = Rule(rule_id, description, level, fn, ahead)
        return fn

    return register


def of_type(resources: list[Resource], *types: str) -> Iterator[Resource]:
    return (r for r in resources if r["type"] in types)


def kind(resource: Resource) -> str | None:
    return resource["inputs"].get("kind") if resource["type"].startswith("kubernetes:") else None


def metadata(resource: Resource) -> dict[str, Any]:
    return resource["inputs"].get("metadata") or {}
