"""Stacks deployed before the structural split (one TrainingPool component, platform modules directly
under each Target) move to the new components on the next `pulumi up` without a single replacement.

GIVEN every URN an example stack had before the split (tests/plan/fixtures, in the form the Pulumi
engine gives URNs: the parent's whole type chain), WHEN today's program registers that stack, THEN
every old URN but those of components is reached by exactly one resource — its own URN, an alias it declares, or an alias it
inherits from its parent's — the way the engine resolves aliases; and only new components (which
hold no state) have no old URN.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hybridai.recorded import PROJECT_TYPE_PREFIX, Resource
from tests.conftest import EXAMPLE_STACKS, planned

FIXTURES = Path(__file__).parent / "fixtures"


class Urns:
    """Engine-form URNs of a plan's resources and the old URNs each one's aliases reach."""

    def __init__(self, resources: list[Resource]):
        # The SDK's mock monitor builds a child's URN from its parent's last type only; the engine
        # from the parent's whole chain. Everything here is in the engine's form.
        self.by_urn = {r.urn: r for r in resources}
        self._real: dict[str, str] = {}
        self._reached: dict[str, set[str]] = {}

    def real(self, urn: str) -> str:
        if urn not in self._real:
            resource = self.by_urn[urn]
            self._real[urn] = self._child(self.real(resource.parent) if resource.parent in self.by_urn else None, resource.type, resource.name, urn)
        return self._real[urn]

    @staticmethod
    def _child(parent: str | None, type_: str, name: str, like: str) -> str:
        head = "::".join(like.split("::")[:2])
        qualified = f"{parent.split('::')[2]}${type_}" if parent else type_
        return f"{head}::{qualified}::{name}"

    def reached(self, urn: str) -> set[str]:
        """The resource's URN and every URN its aliases stand for, inherited ones included."""
        if urn in self._reached:
            return self._reached[urn]
        resource = self.by_urn[urn]
        reached = {self.real(urn)}
        for alias in resource.aliases:
            if "urn" in alias:
                reached.add(alias["urn"])
                continue
            if alias["noParent"]:
                parent = None
            elif alias["parentUrn"]:
                # A parent named by resource is sent with the monitor's URN for it; one named by a
                # URN computed from a top-level Target (`pulumi.create_urn`, for a component that no
                # longer exists) has the engine's form, but for the mock monitor's root-stack prefix.
                parent = self.real(alias["parentUrn"]) if alias["parentUrn"] in self.by_urn else alias["parentUrn"].replace("::pulumi:pulumi:Stack$", "::", 1)
            else:
                parent = self.real(resource.parent) if resource.parent in self.by_urn else None
            reached.add(self._child(parent, alias["type"] or resource.type, alias["name"] or resource.name, urn))
        if resource.parent in self.by_urn:
            for parent in self.reached(resource.parent):
                reached.add(self._child(parent, resource.type, resource.name, urn))
        self._reached[urn] = reached
        return reached


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_resources_deployed_before_the_split_are_moved_not_replaced(stack: str) -> None:
    before = set((FIXTURES / f"urns-before-split-{stack}.txt").read_text().split())
    plan, _ = planned(stack)
    urns = Urns(plan.resources)
    claimed: dict[str, list[str]] = {}
    without_past = []
    for resource in plan.resources:
        old = urns.reached(resource.urn) & before
        for urn in old:
            claimed.setdefault(urn, []).append(resource.urn)
        if not old:
            without_past.append(resource)
    # Old components may go (the engine deletes a component without touching anything real): the
    # TrainingPool did. Everything else must be reached.
    lost = sorted(u for u in before - set(claimed) if not u.split("::")[2].rsplit("$", 1)[-1].startswith(PROJECT_TYPE_PREFIX))
    assert not lost, f"old resources nothing aliases (pulumi up would delete and recreate them): {lost}"
    assert not {u: c for u, c in claimed.items() if len(c) > 1}, "two resources alias one old resource"
    assert all(not r.custom and r.type.startswith(PROJECT_TYPE_PREFIX) for r in without_past), [r.urn for r in without_past if r.custom]


def test_the_check_fails_without_aliases() -> None:
    # GIVEN the finance stack with every alias dropped, THEN the check finds the old pool's children.
    plan, _ = planned("finance-prod")
    before = set((FIXTURES / "urns-before-split-finance-prod.txt").read_text().split())
    stripped = [Resource(**{**r.__dict__, "aliases": []}) for r in plan.resources]
    urns = Urns(stripped)
    reached = set().union(*(urns.reached(r.urn) for r in stripped))
    missing = before - reached
    assert any("hybrid-ai:training_pool:TrainingPool$aws:eks/cluster:Cluster" in u for u in missing)
    assert any("hybrid-ai:target:Target$hybrid-ai:gpu_operator:GpuOperator" in u for u in missing)
