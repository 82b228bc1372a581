"""Building blocks shared by every blueprint's stack spec.

Field names are snake_case in Python and camelCase in stack files (Pulumi's convention), and every
model forbids unknown keys: a typo in a stack file is an error, never a silently ignored setting.
Each field's description is user documentation: docs/reference.md and the comments of
`hybridai new` are generated from it.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from hybridai import cidr


class Model(BaseModel):
    """Base of every stack config model: frozen, camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        validate_default=True,
    )


class Problem(NamedTuple):
    """One thing wrong with a stack file: where (key path), what kind, what, and the value seen."""

    loc: tuple[str | int, ...]
    type: str
    message: str
    value: Any = None


_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value) or len(value) > 40:
        raise PydanticCustomError(
            "dns_label",
            "must be lower-case letters, digits and '-', start with a letter, end with a letter or digit, "
            "and be at most 40 characters",
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
"""A Kubernetes object name that is also safe inside longer derived names (namespaces, releases)."""

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise PydanticCustomError("quantity", "not a Kubernetes quantity such as '500m', '64', '256Gi' or '2Ti'")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
"""A Kubernetes resource quantity, kept as the string the API server parses."""


def _cidr(value: str) -> str:
    try:
        net = cidr.network(value)
    except cidr.CidrError as error:
        raise PydanticCustomError("cidr", "{why}", {"why": str(error)}) from None
    if net.prefixlen == 0:
        raise PydanticCustomError("cidr_open_to_world", "never open to the whole internet ({cidr}); list the networks that need access", {"cidr": value})
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
"""A network in CIDR notation, host bits clear, never a /0. Lists of them that allow access are
also held to hybridai/cidr.py's width rule (`check_allow_lists`)."""

ARGOCD_NAMESPACE = "argocd"
KUEUE_NAMESPACE = "kueue-system"
KSERVE_NAMESPACE = "kserve"
"""Namespaces of platform components with fixed names (GitOps engine, training queues, serving)."""

Environment = Literal["prod", "staging", "dev"]

PriorityTier = Literal["production-inference", "training", "research"]
"""Scheduling tiers, highest first: production inference preempts training, training preempts research."""

DataClassification = Literal["phi", "confidential", "internal", "public"]
"""How sensitive the data a team's workloads touch is; `phi` is protected health information (HIPAA)."""
