"""Shared fixtures: the project root, the example stacks and their (cached) plans."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

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


LLM_LAB = "llm-lab"
"""healthcare-dev with the LLM catalog of tests/capacity/fixtures/llm-catalog.yaml in place of its pools,
teams and models: LLMs of every shape (MIG slices, tensor parallel, across nodes) behind the gateway."""


def llm_lab_document() -> dict:
    """The LLM lab's stack file: healthcare-dev's, its keys replaced by the fixture's."""
    fixture = yaml.safe_load((ROOT / "tests" / "capacity" / "fixtures" / "llm-catalog.yaml").read_text())
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.healthcare-dev.yaml").read_text())
    document["config"].update({f"hybrid-ai:{key}": value for key, value in fixture.items()})
    return document


def planned_llm_lab() -> tuple[Plan, dict[Path, str]]:
    """The LLM lab's plan and artifacts, computed once per test session (in a scratch project)."""
    if LLM_LAB not in _plans:
        project = Path(tempfile.mkdtemp(prefix="hybridai-llm-lab-"))
        (project / "stacks").mkdir()
        (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
        (project / "stacks" / f"Pulumi.{LLM_LAB}.yaml").write_text(yaml.safe_dump(llm_lab_document(), sort_keys=False))
        plan = run_plan(LLM_LAB, project)
        _plans[LLM_LAB] = (plan, render(plan))
    return _plans[LLM_LAB]


TWO_DC = "finance-prod-2dc"
"""finance-prod across two active data centers (docs/multi-site.md): a fixture, not an example stack,
so the pull request's plan comment keeps the five examples within GitHub's size limit."""
TWO_DC_FILE = ROOT / "tests" / "blueprints" / "fixtures" / f"Pulumi.{TWO_DC}.yaml"


def planned_two_dc() -> tuple[Plan, dict[Path, str]]:
    """The two-DC plan and artifacts, computed once per test session (in a scratch project)."""
    if TWO_DC not in _plans:
        project = Path(tempfile.mkdtemp(prefix="hybridai-two-dc-"))
        (project / "stacks").mkdir()
        (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
        (project / "stacks" / TWO_DC_FILE.name).write_text(TWO_DC_FILE.read_text())
        plan = run_plan(TWO_DC, project)
        _plans[TWO_DC] = (plan, render(plan))
    return _plans[TWO_DC]


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
