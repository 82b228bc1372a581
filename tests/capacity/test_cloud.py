"""The burst pool's capacity: each node pool of the stack with the GPU limit the plan gives it, and
what the pools can't hold, at its stack key."""
from __future__ import annotations

from typing import Any

from hybridai.capacity.cloud import cloud_capacity
from hybridai.program import prepare
from tests.helpers import stack_values

L40S = {"name": "l40s", "instanceTypes": ["g6e.48xlarge"]}


def with_l40s_pool(**pool: Any) -> dict[str, Any]:
    """finance-prod with a second node pool of 48 GB GPUs: credit-retrain (16 GPUs) fits them,
    fraud-retrain (32 GPUs of 80 GB) doesn't."""
    values = stack_values("finance-prod")
    values["cloud"]["gpuNodePools"].append({**L40S, **pool})
    return values


def test_each_pool_is_the_stacks_pool_with_the_gpus_its_own_overflow_needs() -> None:
    # GIVEN finance-prod with an a100 and an l40s pool, neither with a gpuLimit
    spec, capacity = prepare("finance-prod", with_l40s_pool())
    # WHEN the capacity plan sizes them
    a100, l40s = capacity.cloud.pools
    # THEN each is the stack file's pool itself, not a copy of its fields
    assert a100.pool is spec.cloud.gpu_node_pools[0] and l40s.pool is spec.cloud.gpu_node_pools[1]
    # AND each may hold what the overflowing jobs its GPUs can run need at once
    assert (a100.planned_gpus, a100.gpu_limit) == (48, 48)
    assert (l40s.planned_gpus, l40s.gpu_limit) == (16, 16)


def test_an_explicit_limit_is_the_pools_limit_and_its_plan_stays_beside_it() -> None:
    # GIVEN the l40s pool limited to 24 GPUs
    _, capacity = prepare("finance-prod", with_l40s_pool(gpuLimit=24))
    # THEN its limit is 24 while the plan still needs 16 of its GPUs
    l40s = capacity.cloud.pools[1]
    assert (l40s.gpu_limit, l40s.planned_gpus) == (24, 16)


def test_a_limit_below_the_plan_is_reported_at_the_pools_gpu_limit() -> None:
    # GIVEN the l40s pool limited to 8 GPUs, below the 16 credit-retrain needs at once
    # (a stack file saying so stops at this problem: the pool is sized here from the same overflow)
    spec, planned = prepare("finance-prod", with_l40s_pool())
    a100, l40s = spec.cloud.gpu_node_pools
    cloud = spec.cloud.model_copy(update={"gpu_node_pools": [a100, l40s.model_copy(update={"gpu_limit": 8})]})
    # WHEN the pool is sized
    capacity = cloud_capacity(cloud, planned.onprem.overflow_jobs)
    # THEN the problem names that pool's key and the limit seen, and the limit stays as set
    assert [(p.loc, p.type, p.value) for p in capacity.problems] == [(("cloud", "gpuNodePools", 1, "gpuLimit"), "limit_below_plan", 8)]
    assert capacity.pools[1].gpu_limit == 8
