"""The on-prem cluster's parts as a stack file gives them: GPU pools held to what one server holds."""
from __future__ import annotations

import pytest

from hybridai import catalog
from hybridai.program import prepare
from tests.helpers import problems_of, stack_values


def _with_pool(gpu_model: str, per_node: int) -> dict:
    values = stack_values("healthcare-dev")
    values["onprem"]["gpuPools"][0].update(gpuModel=gpu_model, gpusPerNode=per_node, mig=None)
    return values


@pytest.mark.parametrize("gpu_model, per_node", [("H100-80GB", 11), ("A10G-24GB", 9), ("Orin-AGX-64GB", 2)])
def test_more_gpus_per_node_than_a_server_of_the_model_holds_is_refused_at_the_key(gpu_model: str, per_node: int) -> None:
    # GIVEN a pool of more GPUs per node than any server of that model holds (gpus.yaml max_per_node + 1)
    assert per_node == catalog.gpus().models[gpu_model].max_per_node + 1
    # WHEN it is validated THEN the problem is at that pool's gpusPerNode
    assert (("onprem", "gpuPools", 0, "gpusPerNode"), "gpus_per_node_too_many") in problems_of("healthcare-dev", _with_pool(gpu_model, per_node))


def test_a_dense_inference_server_of_small_cards_is_accepted() -> None:
    # GIVEN 20 T4s in one node (a 20-slot PCIe-switch server; a fixed limit of 16 refused it)
    spec, _ = prepare("healthcare-dev", _with_pool("T4-16GB", 20))
    # THEN the pool is taken as written
    assert spec.onprem.gpu_pools[0].gpus_per_node == 20
