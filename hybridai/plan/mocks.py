"""Plausible outputs for mocked resources, so that resources depending on them render fully.

Outputs are a function of the resource's type, name and inputs only: two plans of the same stack
produce the same ids, and so byte-identical artifacts.
"""
from __future__ import annotations

import uuid
from typing import Any

import pulumi

_NAMESPACE = uuid.UUID("6f1c8a52-8f7e-4a5e-9a8e-2b3f4c5d6e7f")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "::".join(parts)))


def _kubernetes(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
    metadata = dict(args.inputs.get("metadata") or {})
    name = metadata.get("name") or args.name
    namespace = metadata.get("namespace")
    metadata.setdefault("name", name)
    metadata["uid"] = stable_id(args.typ, args.name)
    return (f"{namespace}/{name}" if namespace else name), {**args.inputs, "metadata": metadata}


def _helm_release(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
    inputs = args.inputs
    name = inputs.get("name") or args.name
    status = {
        "name": name,
        "namespace": inputs.get("namespace", "default"),
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "status": "deployed",
        "revision": 1,
    }
    return f"{status['namespace']}/{name}", {**inputs, "status": status}


def _provider(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
    return stable_id(args.typ, args.name), dict(args.inputs)


def outputs_for(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    if args.typ.startswith("pulumi:providers:"):
        return _provider(args)
    if args.typ == "kubernetes:helm.sh/v3:Release":
        return _helm_release(args)
    if args.typ.startswith("kubernetes:"):
        return _kubernetes(args)
    return stable_id(args.typ, args.name), dict(args.inputs)


class PlanMocks(pulumi.runtime.Mocks):
    """Never raises: an exception inside the mock monitor hangs the SDK instead of failing it, so
    errors are kept and reported by the engine after the run."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        try:
            return outputs_for(args)
        except Exception as err:  # noqa: BLE001 - reported after the run, see class docstring
            self.errors.append(f"mock outputs for {args.typ} {args.name}: {err!r}")
            return stable_id(args.typ, args.name), dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        self.errors.append(f"no mock for function {args.token}")
        return {}, None
