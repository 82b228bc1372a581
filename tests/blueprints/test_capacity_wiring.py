"""The planner's output is what the plan deploys: MIG layouts in the mig-manager config, team quotas in
ResourceQuotas and Kueue, replicas and slices in InferenceServices, the burst pool's size — for every
example stack, recomputed here from the catalog with the planner alone."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import yaml

from hybridai import catalog
from hybridai.program import prepare
from hybridai.capacity import PoolInventory, inference_demand, place_models
from hybridai.capacity.planner import WHOLE
from hybridai.config.codec import decode_config, encode_config
from tests.conftest import EXAMPLE_STACKS, ROOT, planned
from tests.helpers import of_kind, release


def spec_of(stack: str):
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return prepare(stack, decode_config(encode_config(config)))[0]


def deployed_strategy(stack: str) -> str:
    plan, _ = planned(stack)
    return release(plan.resources, "gpu-operator", spec_of(stack).onprem.name).inputs["values"]["mig"]["strategy"]


def advertised(stack: str, resource: str) -> str:
    """The resource a slice is requested as: with the `single` strategy, slices are nvidia.com/gpu."""
    return "nvidia.com/gpu" if deployed_strategy(stack) == "single" else resource


def deployed_gpu_layouts(stack: str) -> dict[str, list[Counter]]:
    """node → the layout of each of its GPUs, read back from the plan's mig-manager ConfigMap and
    node labels (an empty Counter: MIG disabled)."""
    plan, _ = planned(stack)
    target = spec_of(stack).onprem.name
    configs = {}
    for r in of_kind(plan.resources, "ConfigMap"):
        if r.target == target and r.inputs["metadata"]["name"] == "hybridai-mig-config":
            configs = yaml.safe_load(r.inputs["data"]["config.yaml"])["mig-configs"]
    layouts = {}
    for node in of_kind(plan.resources, "Node"):
        if node.target != target:
            continue
        labels = node.inputs["metadata"]["labels"]
        gpus = [Counter() for _ in range(int(labels["hybrid-ai.io/gpu-count"]))]
        for entry in configs.get(labels["nvidia.com/mig.config"], []):
            for device in range(len(gpus)) if entry["devices"] == "all" else entry["devices"]:
                gpus[device] = Counter(entry.get("mig-devices") or {}) if entry["mig-enabled"] else Counter()
        layouts[node.inputs["metadata"]["name"]] = gpus
    return layouts


def planner_output(spec):
    """The planner alone on the stack's pools and models, plus the slices teams reserve explicitly."""
    pools = [PoolInventory(p.name, p.gpu_model, len(p.nodes), p.gpus_per_node, p.fixed_layout()) for p in spec.onprem.gpu_pools]
    reserved = {p.name: Counter() for p in spec.onprem.gpu_pools if p.planned}
    for team in spec.teams:
        for profile, n in team.quota.mig.items():
            reserved[next(iter(reserved))][profile] += n
    return place_models(pools, [inference_demand(m) for m in spec.models], {k: v for k, v in reserved.items() if v})


def training_split(stack: str) -> tuple[Counter, Counter]:
    """team → training GPUs on-prem and in the cloud: given the whole GPUs each pool keeps, less those
    whole-GPU models take, each job (GPUs at once = GPU-hours ÷ deadline) runs on-prem while a pool
    of GPUs with the memory it needs has room for it, else in the cloud."""
    spec = spec_of(stack)
    deployed = deployed_gpu_layouts(stack)
    free = Counter()
    for pool, pool_plan in zip(spec.onprem.gpu_pools, planner_output(spec)):
        free[pool.name] = sum(1 for node in pool.nodes for layout in deployed[node] if not layout)
        free[pool.name] -= sum(n for model, n in pool_plan.slices.items() if pool_plan.profiles[model] == WHOLE)
    memory = {p.name: catalog.gpus().models[p.gpu_model].memory_gb for p in spec.onprem.gpu_pools}
    on_prem, cloud = Counter(), Counter()
    for job in spec.training:
        gpus = math.ceil(job.gpu_hours_per_week / job.deadline_hours)
        fitting = [p for p in free if memory[p] >= (job.gpu_memory_gb or 0)]
        pool = next((p for p in fitting if free[p] >= gpus), None) if job.team in {t.name for t in spec.teams} else None
        if pool:
            free[pool] -= gpus
            on_prem[job.team] += gpus
        else:
            assert job.team in {t.name for t in spec.cloud.teams}
            cloud[job.team] += gpus
    return on_prem, cloud


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_mig_layouts_in_the_gpu_operator_config_are_the_planners(stack: str) -> None:
    spec = spec_of(stack)
    deployed = deployed_gpu_layouts(stack)
    for pool, pool_plan in zip(spec.onprem.gpu_pools, planner_output(spec)):
        gpus = [layout for node in pool.nodes for layout in deployed[node]]
        planned_mig = sorted(sorted(layout.items()) for layout in pool_plan.layouts if WHOLE not in layout)
        # GIVEN the planner's layouts for the pool, THEN exactly those GPUs are partitioned, each as planned
        assert sorted(sorted(layout.items()) for layout in gpus if layout) == planned_mig
        # AND every other GPU of the pool stays whole
        assert sum(1 for layout in gpus if not layout) == pool.gpu_count - len(planned_mig)


def test_planned_pool_spreads_each_models_replicas_over_both_nodes() -> None:
    deployed = deployed_gpu_layouts("healthcare-prod")
    for profile in ("3g.40gb", "1g.10gb", "1g.20gb"):
        per_node = [sum(layout[profile] for layout in deployed[node]) for node in ("dc1-gpu-a100-01", "dc1-gpu-a100-02")]
        assert min(per_node) > 0, f"{profile} slices all on one node: {per_node}"


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_resource_quotas_are_the_catalogs_needs_plus_the_explicit_quota(stack: str) -> None:
    spec = spec_of(stack)
    plan, _ = planned(stack)
    hard = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"] for r in of_kind(plan.resources, "ResourceQuota") if r.target == spec.onprem.name}
    [*pools] = planner_output(spec)
    team_of = {m.name: m.team for m in spec.models}
    for team in spec.teams:
        expected = Counter()
        for pool in pools:
            for model, profile in pool.profiles.items():
                if team_of[model] == team.name:
                    expected[advertised(stack, "nvidia.com/gpu" if profile == WHOLE else f"nvidia.com/mig-{profile}")] += pool.slices[model]
        expected["nvidia.com/gpu"] += training_split(stack)[0][team.name]
        expected["nvidia.com/gpu"] += team.quota.gpus
        for profile, n in team.quota.mig.items():
            expected[advertised(stack, f"nvidia.com/mig-{profile}")] += n
        got = {k.removeprefix("requests."): int(v) for k, v in hard[team.namespace].items() if "nvidia.com" in k}
        assert {k: v for k, v in got.items() if v} == +expected, team.name


@pytest.mark.parametrize("stack", [s for s in EXAMPLE_STACKS if spec_of(s).models])
def test_inference_services_run_the_planned_replicas_on_the_planned_slice(stack: str) -> None:
    spec = spec_of(stack)
    plan, _ = planned(stack)
    services = {r.inputs["metadata"]["name"]: r.inputs["spec"]["predictor"] for r in of_kind(plan.resources, "InferenceService")}
    # (an LLM on a data-center cluster is an LLMInferenceService: tests/modules/test_llm_serving.py)
    assert set(services) == {m.name for m in spec.models if not (m.llm is not None and spec.llm_d())}
    for pool in planner_output(spec):
        for model, profile in pool.profiles.items():
            if model not in services:
                continue
            limits = services[model]["model"]["resources"]["limits"]
            resource = advertised(stack, "nvidia.com/gpu" if profile == WHOLE else f"nvidia.com/mig-{profile}")
            assert limits[resource] == "1"
            assert services[model]["maxReplicas"] == pool.replicas[model]


@pytest.mark.parametrize("stack", [s for s in EXAMPLE_STACKS if spec_of(s).training])
def test_training_gets_on_prem_queue_quota_and_the_rest_sizes_the_burst_pool(stack: str) -> None:
    spec = spec_of(stack)
    plan, _ = planned(stack)
    on_prem, cloud = training_split(stack)
    queues = {(r.target, r.inputs["metadata"]["name"]): r.inputs["spec"] for r in of_kind(plan.resources, "ClusterQueue")}

    def nominal_gpus(target: str, team: str) -> set[int]:
        return {int(r["nominalQuota"]) for f in queues[(target, team)]["resourceGroups"][0]["flavors"] for r in f["resources"] if r["name"] == "nvidia.com/gpu"}

    for team, gpus in on_prem.items():
        # THEN the team's on-prem ClusterQueue admits exactly its on-prem training GPUs (one flavor
        # per pool with whole GPUs; the others at zero)
        flavors = queues[(spec.onprem.name, team)]["resourceGroups"][0]["flavors"]
        assert sum(int(r["nominalQuota"]) for f in flavors for r in f["resources"] if r["name"] == "nvidia.com/gpu") == gpus
    if spec.burst_pool() is None:
        assert not cloud
        return
    limits = {r.inputs["metadata"]["name"]: int(r.inputs["spec"]["limits"]["nvidia.com/gpu"]) for r in plan.resources if r.inputs.get("kind") == "NodePool"}
    for pool in spec.cloud.gpu_node_pools:
        if pool.gpu_limit is None:
            # AND the overflow sizes every NodePool whose GPU limit is left to the planner: all the
            # GPUs the cloud-bound jobs need at once (every job of these stacks fits every pool)
            assert limits[pool.name] == sum(cloud.values())
        # AND Kueue's flavor of the pool selects the pool's nodes
        assert queues[(spec.cloud.cluster.name, spec.cloud.teams[0].name)]["resourceGroups"][0]["flavors"][0]["name"] in limits
    for team in spec.cloud.teams:
        # AND each cloud team's queue (every flavor) carries its overflow plus its explicit quota
        assert nominal_gpus(spec.cloud.cluster.name, team.name) == {cloud[team.name] + team.quota.gpus}
