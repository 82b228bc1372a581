"""Stacks deployed before the structural split (one TrainingPool component, platform modules directly
under each Target) move to the new components on the next `pulumi up` without a single replacement.

GIVEN every URN an example stack had before the split (tests/plan/fixtures, in the form the Pulumi
engine gives URNs: the parent's whole type chain), WHEN today's program registers that stack, THEN
every old URN but those of components is reached by exactly one resource — its own URN, an alias it declares, or an alias it
inherits from its parent's — the way the engine resolves aliases; and a resource with no old URN is
new, not an old one's twin.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hybridai.plan.aliases import Urns
from hybridai.recorded import PROJECT_TYPE_PREFIX, Resource
from tests.conftest import EXAMPLE_STACKS, planned

FIXTURES = Path(__file__).parent / "fixtures"


def replaced_by_karpenter(urn: str) -> bool:
    kind, name = urn.split("::")[2].rsplit("$", 1)[-1], urn.split("::")[-1]
    gpu_group = name.removesuffix("-lt").endswith(("-spot", "-ondemand"))
    return kind in ("aws:eks/nodeGroup:NodeGroup", "aws:ec2/launchTemplate:LaunchTemplate", "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor") and gpu_group


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
    # The managed GPU node groups (and their launch templates), and the Kueue flavors per capacity
    # type, went on purpose: Karpenter's NodePools and a flavor per pool replace them, and none
    # holds anything (the groups scale to zero between runs).
    lost = sorted(u for u in before - set(claimed) if not u.split("::")[2].rsplit("$", 1)[-1].startswith(PROJECT_TYPE_PREFIX) and not replaced_by_karpenter(u))
    assert not lost, f"old resources nothing aliases (pulumi up would delete and recreate them): {lost}"
    assert not {u: c for u, c in claimed.items() if len(c) > 1}, "two resources alias one old resource"
    # AND a resource with no past is new, not the twin of an old one under another URN
    old_names = {(u.split("::")[2].rsplit("$", 1)[-1], u.split("::")[-1]) for u in before}
    assert not [r.urn for r in without_past if (r.type, r.name) in old_names]


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
