"""Capacity planner quality and speed: GPUs planned ÷ a proven lower bound, against giving every
replica a GPU of its own, on random and adversarial catalogs.

    .venv/bin/python benchmarks/capacity.py

The lower bound (hybridai.capacity.lower_bound) is what no packing can beat: whole-GPU replicas,
plus the most of the MIG slices' total compute ÷ compute slices per GPU, total memory slices ÷
memory slices per GPU, and each profile's count ÷ its per-GPU maximum. Target: planned ≤ 1.05 ×
the bound.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridai.capacity import InferenceDemand, PoolInventory, lower_bound, place_models  # noqa: E402
from hybridai.capacity.planner import profile_for  # noqa: E402

GPU = "A100-80GB"


def random_catalog(seed: int, models: int = 40) -> list[InferenceDemand]:
    rng = random.Random(seed)
    return [
        InferenceDemand(
            name=f"m{i}",
            team=f"team{i % 5}",
            gpu_memory_gb=rng.choice([4, 8, 9, 12, 18, 30, 38, 60, 75]),
            peak_rps=rng.uniform(1, 400),
            throughput_rps=rng.uniform(5, 80),
            isolation="whole-gpu" if rng.random() < 0.1 else "mig",
            production=rng.random() < 0.7,
        )
        for i in range(models)
    ]


def fixed(name: str, memory: float, replicas: int, isolation: str = "mig") -> InferenceDemand:
    # throughput 1, headroom 1: replicas = peak, exactly as asked
    return InferenceDemand(name, "t", memory, peak_rps=replicas, throughput_rps=1, isolation=isolation, production=False, headroom=1)


ADVERSARIAL = {
    "4g+3g pairs (fill exactly 7 compute, 8 memory)": [fixed("a", 35, 23), fixed("b", 38, 23)],
    "1g.20gb only (memory-bound: 4 per GPU)": [fixed("a", 15, 37)],
    "3g.40gb + 1g.10gb (memory full before compute)": [fixed("a", 35, 13), fixed("b", 9, 19)],
    "2g.20gb + 1g.10gb odd counts": [fixed("a", 18, 17), fixed("b", 9, 11)],
    "whole GPUs + stragglers": [fixed("a", 70, 9, "whole-gpu"), fixed("b", 9, 3), fixed("c", 35, 1)],
    "every profile once, many times": [fixed(f"p{i}", m, 7) for i, m in enumerate([9, 15, 18, 30, 38, 75])],
}


def measure(models: list[InferenceDemand]) -> tuple[int, int, int, float]:
    pool = PoolInventory("pool", GPU, nodes=1000, gpus_per_node=8)
    start = time.perf_counter()
    [plan] = place_models([pool], models)
    seconds = time.perf_counter() - start
    demand = Counter()
    for m in models:
        demand[profile_for(m, GPU)] += m.replicas
    return plan.gpus_used, lower_bound(demand, GPU), sum(m.replicas for m in models), seconds


def main() -> None:
    rows = []
    for seed in range(10):
        rows.append((f"random catalog {seed} (40 models)", *measure(random_catalog(seed))))
    for name, models in ADVERSARIAL.items():
        rows.append((name, *measure(models)))
    print(f"{'catalog':<50} {'planned':>7} {'bound':>6} {'ratio':>6} {'1/GPU':>6} {'1/GPU ratio':>11} {'ms':>7}")
    for name, planned, bound, one_each, seconds in rows:
        print(f"{name:<50} {planned:>7} {bound:>6} {planned / bound:>6.3f} {one_each:>6} {one_each / bound:>11.2f} {1000 * seconds:>7.1f}")
    ratios = [planned / bound for _, planned, bound, _, _ in rows]
    naive = [one / bound for _, _, bound, one, _ in rows]
    print(f"\nplanned ÷ bound: max {max(ratios):.3f}, mean {statistics.mean(ratios):.3f} (target ≤ 1.05); "
          f"one replica per GPU ÷ bound: mean {statistics.mean(naive):.2f}; planner time: max {1000 * max(r[4] for r in rows):.0f} ms")


if __name__ == "__main__":
    main()
