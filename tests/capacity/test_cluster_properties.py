"""The cluster capacity plan on random inventories and catalogs, LLMs among the models: it never
raises; a plan without problems places every model, partitions every GPU validly, keeps each pod of
a multi-GPU replica's GPUs whole on one node, and gives out no more than the cluster has; a plan
with problems names keys of the stack file."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from hybridai import catalog
from hybridai.capacity import cluster_capacity, fits, inference_demand, training_gpus
from hybridai.capacity.planner import WHOLE
from hybridai.catalog import placeable
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.workloads import ServedModel, TrainingJob

MIG_GPUS = ["A100-80GB", "A100-40GB", "H100-80GB", "A30-24GB", "H200-141GB"]
WHOLE_GPUS = ["L40S-48GB", "L4-24GB"]


def random_stack(rng: random.Random) -> tuple[OnpremCluster, list[Team], list[ServedModel], list[TrainingJob]]:
    pools = []
    for p in range(rng.randint(1, 3)):
        gpu = rng.choice(MIG_GPUS + WHOLE_GPUS)
        pool = {"name": f"pool{p}", "gpuModel": gpu, "nodes": [f"p{p}-n{n}" for n in range(rng.randint(1, 3))], "gpusPerNode": rng.choice([2, 4, 8])}
        profiles = catalog.gpus().models[gpu].mig.profiles if gpu in MIG_GPUS else {}
        kind = rng.choice(["planned", "fixed", "whole"]) if profiles else "whole"
        if kind == "planned":
            pool["mig"] = "planned"
        elif kind == "fixed":
            profile = rng.choice(list(profiles))
            pool["mig"] = {profile: rng.randint(1, profiles[profile].max)}
        pools.append(pool)
    cluster = OnpremCluster.model_validate({"context": "c", "gpuPools": pools})
    teams = [Team.model_validate({"name": f"team{t}", "group": "g", "quota": {"gpus": rng.choice([0, 0, 1, 2])}}) for t in range(rng.randint(1, 3))]
    models = [
        ServedModel.model_validate(
            {
                "name": f"m{i}",
                "team": rng.choice(teams).name,
                "storageUri": "s3://m/x",
                "gpuMemoryGb": rng.choice([4, 8, 15, 30, 45, 70]),
                "peakRps": rng.randint(1, 200),
                "throughputRps": rng.randint(10, 100),
                "isolation": rng.choice(["mig", "mig", "whole-gpu"]),
                "production": rng.random() < 0.7,
            }
        )
        for i in range(rng.randint(0, 6))
    ]
    architectures = catalog.llms().architectures
    for i in range(rng.choice([0, 0, 1, 2])):
        name = rng.choice(sorted(architectures))
        models.append(
            ServedModel.model_validate(
                {
                    "name": f"llm{i}",
                    "team": rng.choice(teams).name,
                    "storageUri": "oci://registry.example/llm:1",
                    "peakRps": rng.randint(1, 10),
                    "isolation": rng.choice(["mig", "whole-gpu"]),
                    "production": rng.random() < 0.7,
                    "llm": {
                        "architecture": name,
                        "dtype": rng.choice(["bf16", "fp8", "int4"]),
                        "kvCacheDtype": rng.choice(["auto", "fp8"]),
                        "contextLength": rng.choice([2048, 4096, 8192]) if architectures[name].max_context_length >= 8192 else 4096,
                        "concurrentSequences": rng.choice([1, 4, 16, 64]),
                        "outputTokensPerRequest": 200,
                        "outputTokensPerSecond": rng.choice([200, 1000, 4000]),
                        "ttftP95Ms": 1000,
                        "tpotP95Ms": 50,
                        "multiNode": rng.random() < 0.5,
                    },
                }
            )
        )
    jobs = [
        TrainingJob.model_validate(
            {"name": f"j{i}", "team": rng.choice(teams).name, "gpuHoursPerWeek": rng.randint(1, 200), "deadlineHours": rng.choice([24, 48, 96]), "gpuMemoryGb": rng.choice([None, None, 24, 48, 80])}
        )
        for i in range(rng.randint(0, 3))
    ]
    return cluster, teams, models, jobs


@pytest.mark.parametrize("seed", range(300))
def test_random_plans_are_valid_or_name_their_problems(seed: int) -> None:
    rng = random.Random(seed)
    cluster, teams, models, jobs = random_stack(rng)
    plan = cluster_capacity(cluster, GpuOperatorSettings(), teams, models, jobs, cluster_key="the cluster")
    if plan.problems:
        assert all(p.loc[0] in ("models", "training", "teams", "gpuOperator") for p in plan.problems)
        return
    pools = {p.name: p for p in cluster.gpu_pools}
    # Every model is placed on a pool whose GPU holds a replica.
    assert set(plan.placements) == {m.name for m in models}
    for m in models:
        pool, profile, replicas = plan.placements[m.name]
        model = catalog.gpus().models[pools[pool].gpu_model]
        memory = model.memory_gb if profile == WHOLE else model.mig.profiles[profile].memory_gb
        needs = plan.llms[m.name].required_gb if m.llm else m.gpu_memory_gb
        assert memory >= needs and replicas == inference_demand(m).replicas
        assert m.isolation == "mig" or profile == WHOLE, "whole-gpu isolation never shares a GPU"
        if m.llm:
            sizing = plan.llms[m.name]
            assert sizing.pool == pool and plan.slices[m.name] % sizing.gpus_per_replica == 0
            assert sizing.gpus_per_replica == 1 or profile == WHOLE, "a multi-GPU replica takes whole GPUs"
            assert sizing.tensor_parallel <= pools[pool].gpus_per_node and sizing.pipeline_parallel <= len(pools[pool].nodes)
    # Every node has its GPUs, each partitioned validly; capacity is what the layouts offer.
    offered = Counter()
    for node in plan.nodes:
        gpus = [Counter() for _ in range(node.gpus)]
        for entry in plan.mig_configs.get(node.mig_config, []):
            for device in range(node.gpus) if entry["devices"] == "all" else entry["devices"]:
                gpus[device] = Counter(entry.get("mig-devices") or {})
        assert node.gpus == pools[node.pool].gpus_per_node
        for layout in gpus:
            assert not layout or placeable(layout, node.gpu_model)
            offered.update(layout) if layout else offered.update({"gpu": 1})
    if plan.strategy == "single":
        offered = Counter({"gpu": sum(offered.values())})
    assert plan.schedulable == offered
    # Each pool's multi-GPU pods fit the whole GPUs its nodes keep, each pod on one node.
    for name, pool in pools.items():
        pods = sorted((s.tensor_parallel for m, s in plan.llms.items() if s.pool == name and s.gpus_per_replica > 1 for _ in range(plan.slices[m] // s.tensor_parallel)), reverse=True)
        whole = [sum(1 for d in range(node.gpus) if not _layout(plan, node, d)) for node in plan.nodes if node.pool == name]
        assert _fits_nodes(pods, whole), f"pods {pods} don't fit the whole GPUs {whole} of pool {name}"
    # The teams' quotas together never exceed the cluster, and cover their models at peak.
    assert not sum(plan.team_quota.values(), Counter()) - plan.schedulable
    for m in models:
        assert plan.team_quota[m.team][plan.slice_key(plan.placements[m.name][1])] >= plan.slices[m.name] >= inference_demand(m).slices
    # Training runs only on GPUs with the memory its jobs need, within the pools' whole GPUs.
    for team, pools_used in plan.training.items():
        for pool, gpus in pools_used.items():
            assert gpus <= plan.pool_gpus[pool][1]
            fitting = [training_gpus(j) for j in jobs if j.team == team and fits(j, pools[pool].gpu_model)]
            assert gpus <= sum(fitting), "only jobs that fit the pool's GPUs run there"


def _layout(plan, node, device: int) -> dict:
    for entry in plan.mig_configs.get(node.mig_config, []):
        if entry["devices"] == "all" or device in entry["devices"]:
            return entry.get("mig-devices") or {}
    return {}


def _fits_nodes(pods: list[int], whole: list[int]) -> bool:
    """Whether pods (GPUs each) fit nodes with `whole` GPUs each, by exhaustive search."""
    if not pods:
        return True
    first, rest = pods[0], pods[1:]
    for i, free in enumerate(whole):
        if free >= first and _fits_nodes(rest, [*whole[:i], free - first, *whole[i + 1 :]]):
            return True
    return False
