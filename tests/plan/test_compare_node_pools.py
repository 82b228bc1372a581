"""Review of a burst-pool change: a NodePool's GPU limit moving shows in `--compare`."""
from __future__ import annotations

from pathlib import Path

import yaml

from hybridai.plan.artifacts import render, write
from hybridai.plan.engine import run_plan


def test_a_gpu_limit_change_is_listed_as_a_changed_node_pool(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-prod planned as it is
    base = tmp_path / "base"
    write(run_plan("finance-prod", project), base, project=project)
    # WHEN its a100 pool's limit is raised above the planned 48 GPUs
    path = project / "stacks" / "Pulumi.finance-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:cloud"]["gpuNodePools"][0]["gpuLimit"] = 64
    path.write_text(yaml.safe_dump(document))
    files = render(run_plan("finance-prod", project), base)
    # THEN the NodePool is among the changed resources, its limit in the new manifest
    assert any(urn.endswith("::fin-prod-training-gpu-node-pools-a100") for urn in files.change["changed"])
    manifest = yaml.safe_load(files[Path("manifests/training/_cluster/NodePool-a100.yaml")])
    assert manifest["spec"]["limits"] == {"nvidia.com/gpu": "64"}
    assert "| a100 | p4de.24xlarge | A100-80GB | 64 | 48 |" in files[Path("summary.md")]
