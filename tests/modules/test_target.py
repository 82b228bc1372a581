"""Target: a cluster's provider, reached through an explicit context, placed where it runs."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from hybridai.modules.target import AwsScope, Target, TargetArgs
from tests.helpers import of_type, prepared, run_module


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


def test_a_data_center_cluster_is_reached_through_its_context_and_keeps_its_identity_through_a_rename() -> None:
    # GIVEN healthcare-prod's cluster, renamed from `dc0`
    spec, _ = prepared("healthcare-prod")
    cluster = spec.onprem.model_copy(update={"renamed_from": "dc0"})
    # WHEN its target's args are made
    args = TargetArgs.of(cluster)
    # THEN it is pushed to on-prem through its context and aliased to its old name
    assert (args.placement, args.context, args.render_to, args.renamed_from) == ("onprem", cluster.context, None, "dc0")


def test_a_gitops_site_renders_its_manifests_and_its_bootstrap_is_pushed_beside_them() -> None:
    # GIVEN manufacturing-prod's GitOps site line-3, renamed from `line-3a`
    spec, _ = prepared("manufacturing-prod")
    site = next(s for s in spec.sites if s.delivery == "gitops").model_copy(update={"renamed_from": "line-3a"})
    # WHEN its targets' args are made
    rendered, bootstrap = TargetArgs.of_site(site), TargetArgs.of_site(site, bootstrap=True)
    # THEN the site's objects are rendered into its GitOps folder, the bootstrap pushed through its context
    assert (rendered.placement, rendered.render_to, rendered.renamed_from) == (f"edge:{site.name}", f"gitops/{site.name}", "line-3a")
    assert (bootstrap.placement, bootstrap.context, bootstrap.render_to, bootstrap.renamed_from) == (f"edge:{site.name}", site.context, None, "line-3a-bootstrap")


def test_the_aws_scope_names_the_pool_and_tags_for_cost_allocation_and_ownership() -> None:
    # GIVEN finance-prod WHEN its AWS scope is made
    spec, _ = prepared("finance-prod")
    scope = AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center)
    # THEN it is the pool's account and region, its AWS names start `<prefix>-<cluster>`
    assert (scope.placement, scope.account_id, scope.region, scope.cluster_name) == ("cloud", "210987654321", "eu-central-1", "fin-prod-training")
    # AND every resource is tagged with the stack, environment, cost center and owner
    assert scope.tags == {
        "hybrid-ai.io/stack": "fin-prod",
        "hybrid-ai.io/environment": "prod",
        "hybrid-ai.io/cost-center": "cc-7100-model-risk",
        "hybrid-ai.io/team": "platform",
        "hybrid-ai.io/managed-by": "hybrid-ai",
    }


def test_an_aws_target_keeps_its_scope_for_the_modules_under_it() -> None:
    # GIVEN an AWS scope WHEN its target is registered
    scope = AwsScope(prefix="t", cluster="training", region="eu-central-1", account_id="111122223333", tags={"owner": "platform"})
    targets = []
    resources = run_module(lambda: targets.append(Target("t", "aws", scope)))
    # THEN its provider may touch only that account, tagging alike, and the target hands the scope on
    [provider] = of_type(resources, "pulumi:providers:aws")
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["111122223333"]
    assert json.loads(provider.inputs["defaultTags"]) == {"tags": {"owner": "platform"}}
    assert targets[0].scope is scope
