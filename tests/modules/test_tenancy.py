"""Tenancy: what each team namespace gets, field by field."""
from __future__ import annotations

import pytest

from hybridai import catalog
from hybridai.modules.target import Target, TargetArgs
from hybridai.modules.tenancy import Tenancy, TenancyArgs, TenantArgs
from tests.helpers import named, of_kind, prepared, run_module

TENANT = TenantArgs(
    name="radiology",
    namespace="radiology",
    group="oidc:radiology-ml",
    tier="production-inference",
    data_classification="phi",
    gpu_quota={"nvidia.com/gpu": 0, "nvidia.com/mig-3g.40gb": 4},
    cpu="64",
    memory="256Gi",
    storage="2Ti",
    pods=100,
)


@pytest.fixture(scope="module")
def resources():
    def program():
        target = Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1"))
        Tenancy(target, TenancyArgs(tenants=(TENANT,), monitoring_namespace="observability", labels={"hybrid-ai.io/cost-center": "cc-1"}))

    return run_module(program)


def test_namespace_enforces_restricted_pod_security_pinned_and_is_protected(resources) -> None:
    ns = named(resources, "Namespace", "radiology")
    labels = ns.inputs["metadata"]["labels"]
    version = catalog.versions().kubernetes.pod_security_version
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == version
    assert labels["hybrid-ai.io/data-classification"] == "phi"
    assert labels["hybrid-ai.io/cost-center"] == "cc-1"
    # The namespace holds the team's volumes: neither destroy nor a rename may delete it.
    assert ns.protect and ns.retain_on_delete


def test_quota_bounds_gpus_mig_slices_and_compute(resources) -> None:
    hard = named(resources, "ResourceQuota", "radiology-quota").inputs["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "0"
    assert hard["requests.nvidia.com/mig-3g.40gb"] == "4"
    assert hard["requests.cpu"] == hard["limits.cpu"] == "64"
    assert hard["requests.memory"] == hard["limits.memory"] == "256Gi"
    assert hard["requests.storage"] == "2Ti"
    assert hard["pods"] == "100"


def test_limit_range_gives_defaults_so_pods_are_admitted_under_quota(resources) -> None:
    [limits] = named(resources, "LimitRange", "radiology-defaults").inputs["spec"]["limits"]
    assert limits["type"] == "Container"
    assert set(limits["default"]) == set(limits["defaultRequest"]) == {"cpu", "memory"}


def test_rbac_binds_the_group_to_explicit_rules_only(resources) -> None:
    role = named(resources, "Role", "radiology-developer")
    binding = named(resources, "RoleBinding", "radiology-developer")
    for rule in role.inputs["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
    secret_rules = [r for r in role.inputs["rules"] if "secrets" in r["resources"]]
    assert all(not {"get", "list", "watch"} & set(r["verbs"]) for r in secret_rules), "teams can't read secrets"
    assert not any("rolebindings" in r["resources"] or "roles" in r["resources"] for r in role.inputs["rules"])
    assert not any("pods/exec" in r["resources"] for r in role.inputs["rules"])
    assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oidc:radiology-ml"}]
    assert binding.inputs["roleRef"]["name"] == "radiology-developer"
    assert role.urn in binding.dependencies


def test_network_is_default_deny_with_only_dns_namespace_and_monitoring_allowed(resources) -> None:
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_kind(resources, "NetworkPolicy")}
    assert set(policies) == {"radiology-default-deny", "radiology-allow-dns", "radiology-allow-same-namespace", "radiology-allow-monitoring-scrape"}
    deny = policies["radiology-default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["radiology-allow-dns"]["egress"][0]
    assert {p["port"] for p in dns["ports"]} == {53}
    scrape = policies["radiology-allow-monitoring-scrape"]["ingress"][0]["from"][0]
    assert scrape == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}


def test_priority_classes_order_inference_over_training_over_research(resources) -> None:
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in of_kind(resources, "PriorityClass")}
    values = [classes[f"hybridai-{tier}"]["value"] for tier in ("production-inference", "training", "research")]
    assert values == sorted(values, reverse=True) and len(set(values)) == 3
    assert classes["hybridai-research"]["preemptionPolicy"] == "Never"
    assert not any(c.get("globalDefault") for c in classes.values())


def test_every_child_uses_the_targets_provider(resources) -> None:
    [provider] = [r for r in resources if r.type == "pulumi:providers:kubernetes"]
    assert all(r.provider == provider.urn for r in resources if r.custom and r is not provider)


def test_a_team_becomes_a_tenant_with_its_quota_and_the_gpus_the_plan_gives_it() -> None:
    # GIVEN healthcare-prod's ml-platform team (2 explicit GPUs) and its planned quota
    spec, capacity = prepared("healthcare-prod")
    team = next(t for t in spec.teams if t.name == "ml-platform")
    # WHEN the cluster's tenancy args are made
    args = TenancyArgs.of(spec.teams, {t.name: capacity.onprem.gpu_quota(t.name) for t in spec.teams}, "monitoring", spec.environment, spec.cost_center)
    tenant = next(t for t in args.tenants if t.name == "ml-platform")
    # THEN the tenant is the team, with every GPU resource of the cluster in its quota and its namespace quota
    assert (tenant.namespace, tenant.group, tenant.tier, tenant.data_classification) == (team.namespace, team.group, "research", team.data_classification)
    assert tenant.gpu_quota == capacity.onprem.gpu_quota("ml-platform")
    assert (tenant.cpu, tenant.memory, tenant.storage, tenant.pods) == (team.quota.cpu, team.quota.memory, team.quota.storage, team.quota.pods)
    # AND every namespace carries the stack's environment and cost center for showback
    assert args.labels == {"hybrid-ai.io/environment": "prod", "hybrid-ai.io/cost-center": spec.cost_center}
    assert [t.name for t in args.tenants] == [t.name for t in spec.teams]
