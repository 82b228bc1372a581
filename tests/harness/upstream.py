"""Validation against the pinned charts' own reference data (default values, CRDs).

The data lives outside the repository, in ../shared/upstream or $HYBRIDAI_UPSTREAM. Tests that need
it fail in CI when it is missing (CI must check it) and skip elsewhere, saying why.
"""
from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

from hybridai import catalog


def required() -> bool:
    """Must the reference data be there? In CI yes, unless HYBRIDAI_REQUIRE_UPSTREAM=0 says the CI
    has no copy of it (a hosted runner without the mirror); HYBRIDAI_REQUIRE_UPSTREAM=1 forces it."""
    explicit = os.environ.get("HYBRIDAI_REQUIRE_UPSTREAM")
    return explicit == "1" if explicit in ("0", "1") else bool(os.environ.get("CI"))


def upstream() -> Path:
    root = catalog.upstream_dir()
    if not root.is_dir():
        reason = f"upstream reference data not found at {root} (set {catalog.UPSTREAM_ENV})"
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    return root


@cache
def _crds(root: Path) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) → openAPIV3Schema, from every CRD file of every pinned chart."""
    schemas = {}
    for path in sorted(root.glob("*/*/crds/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def crd_schema(api_version: str, kind: str) -> dict | None:
    return _crds(upstream()).get((api_version, kind))


def strict(schema: dict) -> dict:
    """The schema as the API server applies it: fields a structural schema doesn't declare are
    pruned silently there, so here they are errors (`additionalProperties: false`)."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # metadata is validated by the API server as ObjectMeta, not by the CRD schema.
    if "metadata" in schema.get("properties", {}):
        schema["properties"]["metadata"] = {"type": "object"}
    return schema


def validate_custom_resource(obj: dict) -> list[str]:
    schema = crd_schema(obj["apiVersion"], obj["kind"])
    if schema is None:
        return [f"no CRD for {obj['apiVersion']} {obj['kind']} in the pinned charts"]
    validator = jsonschema.Draft7Validator(strict(schema))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj)]


@cache
def chart_defaults(upstream_folder: str, chart: str) -> dict:
    root = upstream() / upstream_folder
    # KServe ships two charts in one folder; their values files are named after the chart.
    path = root / f"{chart}-values.yaml" if (root / f"{chart}-values.yaml").exists() else root / "values.yaml"
    return yaml.safe_load(path.read_text())


def unknown_value_keys(values: dict, defaults: Any, path: str = "") -> Iterator[str]:
    """Key paths set in `values` that the chart's default values don't have. Below a default that
    is an empty map, a list or null, the chart takes free-form content, so anything goes."""
    if not isinstance(defaults, dict) or not defaults:
        return
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            yield where
        elif isinstance(value, dict):
            yield from unknown_value_keys(value, defaults[key], where)
