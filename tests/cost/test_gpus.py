"""What GPUs offer the scheduler under each MIG strategy, and how a GPU's cost splits among its slices."""
from __future__ import annotations

import pytest

from hybridai.cost.gpus import GpuGroup, advertised


def test_whole_gpus_offer_themselves() -> None:
    # GIVEN 4 A100s without MIG
    group = GpuGroup("dc1", "onprem", "A100-80GB", 4, {})
    # THEN they offer 4 nvidia.com/gpu, backed by 4 GPUs, whatever the strategy
    assert advertised(group, "mixed") == advertised(group, "none") == {"nvidia.com/gpu": (4, 4)}


def test_under_single_every_slice_is_offered_as_a_gpu() -> None:
    # GIVEN 2 A100s laid out as 7 × 1g.10gb each, under the `single` strategy
    group = GpuGroup("dc1", "onprem", "A100-80GB", 2, {"1g.10gb": 7})
    # THEN 14 nvidia.com/gpu, backed by the 2 GPUs
    assert advertised(group, "single") == {"nvidia.com/gpu": (14, 2)}


def test_under_mixed_a_gpus_cost_splits_among_its_slices_by_compute() -> None:
    # GIVEN 3 A100s laid out as 1 × 4g.40gb + 3 × 1g.10gb (4 + 3 = 7 compute slices)
    group = GpuGroup("dc1", "onprem", "A100-80GB", 3, {"4g.40gb": 1, "1g.10gb": 3})
    offered = advertised(group, "mixed")
    # THEN each profile is its own resource; the 4g slices carry 4/7 of the GPUs, the 1g slices 3/7
    assert set(offered) == {"nvidia.com/mig-4g.40gb", "nvidia.com/mig-1g.10gb"}
    assert offered["nvidia.com/mig-4g.40gb"] == (3, pytest.approx(3 * 4 / 7))
    assert offered["nvidia.com/mig-1g.10gb"] == (9, pytest.approx(3 * 3 / 7))
