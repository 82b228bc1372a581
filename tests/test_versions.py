"""`hybridai versions`: every pin, the file that pins it, and where the example stacks deploy it."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from hybridai import catalog
from hybridai.cli import app
from hybridai.versions import with_usage
from tests.conftest import EXAMPLE_STACKS, planned, planned_llm_lab


def test_every_pin_is_listed_with_the_stacks_that_deploy_it() -> None:
    # GIVEN the example stacks' plans, and the LLM lab's (the one with a replica across nodes)
    table = {(p.kind, p.name): p for p in with_usage([*(planned(stack)[0] for stack in EXAMPLE_STACKS), planned_llm_lab()[0]])}
    # THEN every chart and image pinned in versions.yaml is listed at its version
    assert {name for kind, name in table if kind == "chart"} == set(catalog.versions().charts)
    assert {name for kind, name in table if kind == "image"} == set(catalog.versions().images)
    assert table[("chart", "karpenter")].version == "1.14.1"
    # AND each is deployed somewhere (a pin nothing uses is dead weight to upgrade)
    assert [key for key, pin in table.items() if not pin.used_by] == []
    # AND usage is exact: Karpenter only on the burst pools, the iGPU Triton only at the Jetson site
    assert table[("chart", "karpenter")].used_by == {"finance-dev/training", "finance-prod/training", "manufacturing-prod/training"}
    assert table[("image", "triton")].used_by == {"manufacturing-prod/line-1", "manufacturing-prod/line-2"}
    assert table[("image", "triton-igpu")].used_by == {"manufacturing-prod/line-3"}
    # AND LeaderWorkerSet only where an LLM may span nodes, vLLM's runtime image only on k3s
    assert table[("chart", "lws")].used_by == {"llm-lab/lab"}
    assert table[("image", "vllm")].used_by == {"healthcare-dev/lab"}
    assert table[("chart", "kserve-llmisvc-resources")].used_by == {"finance-prod/dc1", "healthcare-prod/dc1", "llm-lab/lab"}
    assert table[("aws", "node-ami")].version == catalog.aws().eks.ami_alias
    assert table[("provider", "aws")].used_by >= {"finance-prod/aws"}


def test_versions_prints_json_for_tooling() -> None:
    result = CliRunner().invoke(app, ["versions", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("chart", "gpu-operator")]["where"] == "hybridai/data/versions.yaml"
    assert "healthcare-prod/dc1" in rows[("chart", "gpu-operator")]["used_by"]
