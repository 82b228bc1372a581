"""Shared fixtures: the project root, the example stacks and their (cached) plans."""
from __future__ import annotations

from pathlib import Path

import pytest

from hybridai.plan import Plan, run_plan
from hybridai.plan.artifacts import render

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))

_plans: dict[str, tuple[Plan, dict[Path, str]]] = {}


def planned(stack: str) -> tuple[Plan, dict[Path, str]]:
    """The plan of an example stack and its rendered artifacts, computed once per test session."""
    if stack not in _plans:
        plan = run_plan(stack, ROOT)
        _plans[stack] = (plan, render(plan))
    return _plans[stack]


@pytest.fixture(params=EXAMPLE_STACKS)
def example_stack(request) -> str:
    return request.param


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the project layout (Pulumi.yaml + stacks/) to write stack files into."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for stack in (ROOT / "stacks").glob("*.yaml"):
        (tmp_path / "stacks" / stack.name).write_text(stack.read_text())
    return tmp_path
