"""A module's children wait for what the module was told to depend on (Pulumi alone only makes the
component wait: pulumi/pulumi#8721), so first deployments don't race."""
from __future__ import annotations

from tests.conftest import planned


def deps(stack: str, predicate) -> dict[str, set[str]]:
    plan, _ = planned(stack)
    return {r.name: {d.split("::")[-1] for d in r.dependencies} for r in plan.resources if predicate(r)}


def test_inference_services_wait_for_their_team_namespace_and_quota() -> None:
    # GIVEN Serving depends on Tenancy, THEN each InferenceService waits for its namespace and quota
    services = deps("healthcare-prod", lambda r: r.inputs.get("kind") == "InferenceService")
    assert {"hc-prod-dc1-tenancy-radiology", "hc-prod-dc1-tenancy-radiology-quota"} <= services["hc-prod-dc1-serving-radiology-chest-xray"]


def test_the_eks_provider_waits_for_nodes_add_ons_and_admin_access() -> None:
    # GIVEN the EKS target depends on the system nodes, add-ons and access entries, THEN its
    # Kubernetes provider (and so every object on the cluster) waits for them
    [provider] = deps("finance-prod", lambda r: r.type == "pulumi:providers:kubernetes" and r.target == "training").values()
    assert {"fin-prod-aws-training-system", "fin-prod-aws-training-addon-vpc-cni", "fin-prod-aws-training-admin-platform-admin-policy"} <= provider
