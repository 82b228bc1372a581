"""Reading a plan's recorded resources back, whatever blueprint made them: GPU nodes, from each
NodePatch's labels and the mig-manager entries its `nvidia.com/mig.config` label selects."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import yaml


@dataclass(frozen=True)
class RecordedGpuNode:
    target: str
    placement: str
    name: str
    model: str
    gpus: int
    layouts: tuple[tuple[tuple[str, int], ...], ...]
    """Each GPU's MIG layout as sorted (profile, instances) pairs; empty for a whole GPU."""


def gpu_nodes(records: Iterable[dict[str, Any]]) -> list[RecordedGpuNode]:
    records = list(records)
    configs: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        data = r["inputs"].get("data") or {}
        if r["type"] == "kubernetes:core/v1:ConfigMap" and "config.yaml" in data and "mig-configs" in data["config.yaml"]:
            for name, entries in yaml.safe_load(data["config.yaml"])["mig-configs"].items():
                configs[(r["target"], name)] = entries
    nodes = []
    for r in records:
        metadata = r["inputs"].get("metadata", {})
        labels = metadata.get("labels") or {}
        if r["type"] != "kubernetes:core/v1:NodePatch" or "hybrid-ai.io/gpu-count" not in labels:
            continue
        gpus = int(labels["hybrid-ai.io/gpu-count"])
        layouts: list[tuple] = [() for _ in range(gpus)]
        # Each entry lays out some of the node's GPUs (`devices: all` or indices); the rest stay whole.
        for entry in configs.get((r["target"], labels.get("nvidia.com/mig.config", "")), []):
            devices = range(gpus) if entry["devices"] == "all" else entry["devices"]
            layout = tuple(sorted((entry.get("mig-devices") or {}).items())) if entry.get("mig-enabled") else ()
            for device in devices:
                layouts[device] = layout
        nodes.append(RecordedGpuNode(r["target"], r["placement"], metadata["name"], labels["hybrid-ai.io/gpu-model"], gpus, tuple(layouts)))
    return nodes
