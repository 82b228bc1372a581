"""Every on-prem data center its own cluster (blueprints/sites.py, platform.site_platform), over the
two-DC fixture finance-prod-2dc against finance-prod, its single-cluster twin."""
from __future__ import annotations

import json

from tests.conftest import TWO_DC, TWO_DC_FILE, planned, planned_two_dc
from tests.helpers import of_type

STACK = TWO_DC


def k8s_providers(plan) -> dict[str, dict]:
    return {r.target: r.inputs for r in of_type(plan.resources, "pulumi:providers:kubernetes")}


def test_each_data_center_has_its_own_provider_on_its_own_context() -> None:
    # GIVEN the two-DC plan
    plan, files = planned_two_dc()
    # THEN dc1, dc2 and the cloud pool are three Kubernetes providers, each on-prem one on its context
    providers = k8s_providers(plan)
    assert set(providers) == {"dc1", "dc2", "training"}
    assert (providers["dc1"]["context"], providers["dc2"]["context"]) == ("bank-dc1-admin", "bank-dc2-admin")
    # AND every resource of dc2 is placed on-prem and goes through dc2's provider
    dc2_provider = next(r.urn for r in of_type(plan.resources, "pulumi:providers:kubernetes") if r.target == "dc2")
    dc2 = [r for r in plan.resources if r.custom and r.target == "dc2" and not r.type.startswith("pulumi:providers:")]
    assert dc2 and all(r.placement == "onprem" and r.provider == dc2_provider for r in dc2)
    # AND its artifacts are in folders of their own
    assert {p.parts[1] for p in files if p.parts[0] == "manifests"} == {"dc1", "dc2", "training"}


def test_the_second_site_stands_alone_without_the_hubs_parts() -> None:
    # GIVEN the two-DC plan
    _, files = planned_two_dc()
    charts = {name: {p.name for p in files if p.parts[:2] == ("helm", name)} for name in ("dc1", "dc2")}
    # THEN dc2 runs its own monitoring (Prometheus, Alertmanager), serving, autoscaling, backups and decision sink
    assert {"kube-prometheus-stack.yaml", "kserve-resources.yaml", "keda.yaml", "velero.yaml", "vector.yaml", "fluent-bit.yaml", "gateway-helm.yaml"} <= charts["dc2"]
    # AND the hub's parts stay on dc1: the log store, MLflow, the training queue and runtime
    hub_only = {"loki.yaml", "mlflow.yaml", "kueue.yaml", "argo-workflows.yaml", "jobset.yaml"}
    assert hub_only <= charts["dc1"] and not hub_only & charts["dc2"]


def test_the_second_site_serves_every_model_sized_for_the_whole_peak() -> None:
    # GIVEN the two-DC plan and finance-prod's
    two, _ = planned_two_dc()
    one, _ = planned("finance-prod")

    def replicas(plan, target: str) -> dict[str, int]:
        services = [r for r in plan.resources if r.target == target and r.custom and r.inputs.get("kind") in ("InferenceService", "LLMInferenceService")]
        return {r.inputs["metadata"]["name"]: (r.inputs["spec"].get("predictor") or r.inputs["spec"]).get("minReplicas", r.inputs["spec"].get("replicas")) for r in services}

    # THEN each site runs the models with the replicas finance-prod's one cluster runs (each carries all of it when the other is lost)
    assert replicas(two, "dc1") == replicas(two, "dc2") == replicas(one, "dc1")
    assert set(replicas(two, "dc2")) == {"fraud-score", "credit-limit", "document-review"}


def test_backups_of_each_site_go_to_its_own_prefix() -> None:
    # GIVEN the two-DC plan
    plan, _ = planned_two_dc()
    locations = [r for r in plan.resources if r.custom and r.inputs.get("kind") == "BackupStorageLocation"]
    # THEN each cluster's Velero writes under its own name in the store
    prefixes = {r.target: r.inputs["spec"]["objectStorage"].get("prefix") for r in locations if r.target != "training"}
    assert prefixes == {"dc1": "dc1", "dc2": "dc2"}


def test_the_redundancy_and_the_failover_table_are_reported() -> None:
    # GIVEN the two-DC plan
    _, files = planned_two_dc()
    cost = json.loads(files[next(p for p in files if p.as_posix() == "cost.json")])
    # THEN half of each site's serving is held for failover (each is sized for all, carries half)
    rows = cost["redundancy"]["rows"]
    assert {(r["model"], r["cluster"]) for r in rows} == {(m, c) for m in ("fraud-score", "credit-limit", "document-review") for c in ("dc1", "dc2")}
    assert all(r["reserve_monthly"] == round(r["monthly"] / 2, 2) for r in rows)
    assert cost["redundancy"]["monthly"] == round(sum(r["reserve_monthly"] for r in rows), 2)
    # AND each site's serving rows are in per_model
    assert {r["cluster"] for r in cost["per_model"] if r["kind"] == "serving"} == {"dc1", "dc2"}
    # AND summary.md shows who serves what with each site down
    summary = files[next(p for p in files if p.as_posix() == "summary.md")]
    assert "| model | all sites up | dc1 down | dc2 down |" in summary
    assert "| fraud-score | dc1 50%, dc2 50% | dc2 100% | dc1 100% |" in summary


def test_a_single_cluster_plan_has_neither_table_nor_redundancy() -> None:
    # GIVEN finance-prod (one cluster)
    _, files = planned("finance-prod")
    cost = json.loads(files[next(p for p in files if p.as_posix() == "cost.json")])
    # THEN no redundancy and no failover section
    assert "redundancy" not in cost
    assert "### Failover" not in files[next(p for p in files if p.as_posix() == "summary.md")]


def test_a_cold_standby_reserves_the_critical_models_capacity_and_runs_nothing(project) -> None:
    # GIVEN finance-prod-2dc as a primary (dc1) and a cold DR site (dc2) for fraud scoring
    import yaml

    from hybridai.plan.engine import run_plan

    document = yaml.safe_load(TWO_DC_FILE.read_text())
    config = document["config"]
    config["hybrid-ai:onprem"][0]["role"] = "primary"
    config["hybrid-ai:onprem"][1].update(role="dr", standby="cold")
    for model in config["hybrid-ai:models"]:
        model["production"] = model["name"] == "fraud-score"
        model["critical"] = model["name"] == "fraud-score"
    (project / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    # WHEN planned
    plan = run_plan(STACK, project)
    dc2 = [r for r in plan.resources if r.target == "dc2" and r.custom]
    # THEN dc2 serves nothing
    assert not [r for r in dc2 if r.inputs.get("kind") in ("InferenceService", "LLMInferenceService")]
    # AND fraud's namespace is there (only fraud's), its GPU quota holding the six GPUs fraud scoring needs at its whole peak
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"] for r in dc2 if r.inputs.get("kind") == "ResourceQuota" and "requests.nvidia.com/gpu" in r.inputs["spec"].get("hard", {})}
    assert quotas == {"fraud": {**quotas["fraud"], "requests.nvidia.com/gpu": "6"}}
