"""Target: a cluster's provider, reached through an explicit context, placed where it runs."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridai.modules.target import Target, TargetArgs
from tests.helpers import of_type, run_module


def test_target_owns_a_kubernetes_provider_with_an_explicit_context() -> None:
    # GIVEN a target WHEN it is registered
    resources = run_module(lambda: Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1-admin", kubeconfig="/etc/kube/dc1")))
    [target] = of_type(resources, "hybrid-ai:target:Target")
    [provider] = of_type(resources, "pulumi:providers:kubernetes")
    # THEN its name comes from the stack prefix, and its provider is its child
    assert target.name == "hc-dc1"
    assert target.inputs == {"target": "dc1", "placement": "onprem", "delivery": "push"}
    assert provider.name == "hc-dc1-k8s"
    assert provider.parent == target.urn
    assert provider.inputs["context"] == "dc1-admin"
    assert provider.inputs["kubeconfig"] == "/etc/kube/dc1"
    assert provider.inputs["enableServerSideApply"] == "true"
    assert {r.placement for r in resources} == {"onprem"}
    assert {r.target for r in resources} == {"dc1"}


@pytest.mark.parametrize("placement", ["cloud", "onprem", "edge:plant-7"])
def test_valid_placements(placement: str) -> None:
    assert TargetArgs(placement=placement, context="c").placement == placement


@pytest.mark.parametrize("placement", ["aws", "edge", "edge:", "edge:Plant 7", "on-prem"])
def test_invalid_placements_are_refused(placement: str) -> None:
    with pytest.raises(ValidationError):
        TargetArgs(placement=placement, context="c")


def test_a_cluster_without_context_or_kubeconfig_is_refused() -> None:
    # GIVEN a push target with neither, WHEN it is registered, THEN it refuses rather than deploy
    # to whatever cluster kubectl points at
    import pulumi

    with pytest.raises(pulumi.RunError, match="hc-dc1: target dc1: name a kubeconfig context"):
        run_module(lambda: Target("hc", "dc1", TargetArgs(placement="onprem")))
