"""What the recorded GPU nodes offer the scheduler, and how a GPU's cost splits among its slices:
shared by the line items (who pays for which GPUs) and the economics (what each model costs)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hybridai import catalog
from hybridai.capacity.planner import resource_name
from hybridai.recorded import GPU_RESOURCE, gpu_nodes


@dataclass
class GpuGroup:
    """GPUs of one node (or pool) that share one MIG layout."""

    target: str
    placement: str
    model: str
    gpus: int
    layout: dict[str, int]
    """MIG profile → instances on each of these GPUs; empty for whole GPUs."""


def gpu_groups(records: list[dict]) -> list[GpuGroup]:
    """The recorded GPU nodes, as groups of GPUs sharing one MIG layout."""
    groups = []
    for node in gpu_nodes(records):
        for layout, count in Counter(node.layouts).items():
            groups.append(GpuGroup(node.target, node.placement, node.model, count, dict(layout)))
    return groups


def advertised(group: GpuGroup, strategy: str) -> dict[str, tuple[float, float]]:
    """What a group offers the scheduler under a MIG strategy: resource → (units, GPUs backing them).
    Under `mixed`, a GPU's cost is split among its slices by their share of its compute."""
    if not group.layout:
        return {GPU_RESOURCE: (group.gpus, group.gpus)}
    if strategy == "single":
        return {GPU_RESOURCE: (group.gpus * sum(group.layout.values()), group.gpus)}
    profiles = catalog.gpus().models[group.model].mig.profiles
    compute = {p: profiles[p].compute * n for p, n in group.layout.items()}
    used = sum(compute.values())
    return {resource_name(p): (group.gpus * n, group.gpus * compute[p] / used) for p, n in group.layout.items()}
