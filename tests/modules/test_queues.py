"""Queues: Kueue flavors, team ClusterQueues borrowing in a cohort, LocalQueues, priorities."""
from __future__ import annotations

from hybridai.modules.queues import QueuesArgs
from tests.conftest import planned
from tests.helpers import named, of_kind, prepared, release


def eks():
    plan, _ = planned("finance-prod")
    return [r for r in plan.resources if r.target == "training"]


def test_kueue_is_pinned_and_pulled_by_oci_reference() -> None:
    kueue = release(eks(), "oci://registry.k8s.io/kueue/charts/kueue")
    assert kueue.inputs["version"] == "0.19.2" and "repositoryOpts" not in kueue.inputs
    assert kueue.inputs["namespace"] == "kueue-system"


def test_cloud_flavors_select_karpenter_node_pools_and_leave_spot_versus_on_demand_to_karpenter() -> None:
    # GIVEN the burst pool's one NodePool (spot first, on-demand when spot is short)
    resources = eks()
    flavors = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_kind(resources, "ResourceFlavor")}
    # THEN one flavor selects the pool's nodes, with no capacity type: a job admitted on it may
    # land on spot or on-demand, whichever Karpenter can buy
    assert flavors == {"a100": {"nodeLabels": {"karpenter.sh/nodepool": "a100"}, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}}
    queue = named(resources, "ClusterQueue", "fraud").inputs["spec"]
    assert [f["name"] for f in queue["resourceGroups"][0]["flavors"]] == ["a100"]
    assert queue["flavorFungibility"]["whenCanBorrow"] == "TryNextFlavor"


def test_each_team_has_a_cluster_queue_in_the_cohort_and_a_local_queue() -> None:
    resources = eks()
    queues = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_kind(resources, "ClusterQueue")}
    assert set(queues) == {"fraud", "credit"}
    assert {q["cohortName"] for q in queues.values()} == {"training-gpus"}
    gpu = {r["name"]: r["nominalQuota"] for r in queues["credit"]["resourceGroups"][0]["flavors"][0]["resources"]}
    assert gpu["nvidia.com/gpu"] == "16"
    assert queues["credit"]["preemption"]["reclaimWithinCohort"] == "Any"
    local = {(r.inputs["metadata"]["namespace"], r.inputs["spec"]["clusterQueue"]) for r in of_kind(resources, "LocalQueue")}
    assert local == {("fraud", "fraud"), ("credit", "credit")}


def test_priority_classes_order_the_tiers() -> None:
    values = {r.inputs["metadata"]["name"]: r.inputs["value"] for r in of_kind(eks(), "WorkloadPriorityClass")}
    assert values["hybridai-production-inference"] > values["hybridai-training"] > values["hybridai-research"]


def test_on_prem_queues_only_where_teams_train() -> None:
    plan, _ = planned("healthcare-prod")
    queues = [r.inputs["metadata"]["name"] for r in of_kind(plan.resources, "ClusterQueue")]
    assert queues == ["clinical-research"]
    flavor = named(plan.resources, "ResourceFlavor", "h100")
    assert flavor.inputs["spec"]["nodeLabels"] == {"hybrid-ai.io/gpu-pool": "h100"}
    plan, _ = planned("healthcare-dev")
    assert not of_kind(plan.resources, "ClusterQueue")


def test_a_teams_on_prem_queue_holds_its_planned_training_and_a_training_teams_explicit_gpus() -> None:
    # GIVEN healthcare-prod: clinical-research's jobs planned on both pools, ml-platform (research) with 2 explicit GPUs
    spec, capacity = prepared("healthcare-prod")
    pools = [p for p, (_, whole) in capacity.onprem.pool_gpus.items() if whole]
    # WHEN the cluster's queues are made, and again with clinical-research asking 3 GPUs of its own
    args = QueuesArgs.of_pools("dc1", spec.teams, pools, capacity.onprem.training, "monitoring", jobset=True)
    teams = [t.model_copy(update={"quota": t.quota.model_copy(update={"gpus": 3})}) if t.name == "clinical-research" else t for t in spec.teams]
    more = QueuesArgs.of_pools("dc1", teams, pools, capacity.onprem.training, "monitoring")
    # THEN a flavor per pool of whole GPUs, in order, selecting its nodes by their pool label
    assert [(f.name, f.node_labels) for f in args.flavors] == [(p, {"hybrid-ai.io/gpu-pool": p}) for p in pools] == [("a100-mig", {"hybrid-ai.io/gpu-pool": "a100-mig"}), ("h100", {"hybrid-ai.io/gpu-pool": "h100"})]
    # AND only the team that trains gets a queue: its planned GPUs per pool, with its namespace's CPU and memory
    [queue] = args.teams
    team = next(t for t in spec.teams if t.name == "clinical-research")
    assert queue.quotas == {p: {"cpu": team.quota.cpu, "memory": team.quota.memory, "nvidia.com/gpu": str(capacity.onprem.training["clinical-research"][p])} for p in pools}
    assert (args.cohort, args.jobset) == ("dc1-gpus", True)
    # AND a training team's explicit GPUs are nominal on the first pool
    assert more.teams[0].quotas["a100-mig"]["nvidia.com/gpu"] == str(capacity.onprem.training["clinical-research"]["a100-mig"] + 3)


def test_no_queues_where_nobody_trains() -> None:
    # GIVEN finance-dev, whose only job trains in the cloud
    spec, capacity = prepared("finance-dev")
    assert QueuesArgs.of_pools("lab", spec.teams, ["l4"], capacity.onprem.training, "monitoring") is None
