"""The architecture diagram: GPU counts and flows, compact for a PR, and valid Mermaid 11 — rendered
in headless Chromium, where a syntax error shows as Mermaid's error graphic."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from hybridai.plan.review import diagram
from tests.conftest import EXAMPLE_STACKS, ROOT, planned
from tests.helpers import chromium, unavailable

MERMAID_JS = Path(os.environ.get("HYBRIDAI_MERMAID_JS", ROOT / "build" / "tools" / "mermaid" / "dist" / "mermaid.min.js"))


def mermaid_of(stack: str) -> str:
    summary = planned(stack)[1][Path("summary.md")]
    return summary.split("```mermaid\n", 1)[1].split("```", 1)[0]


def renderer() -> tuple[str, Path]:
    browser = chromium()
    missing = [what for what, ok in (("chromium (Debian package `chromium`)", browser), (f"Mermaid 11 at {MERMAID_JS} (`npm pack mermaid@11`)", MERMAID_JS.is_file())) if not ok]
    if missing:
        unavailable(f"{' and '.join(missing)} not installed; .ci/run installs them")
    return browser, MERMAID_JS


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_diagram_renders_in_chromium_with_mermaid_11(stack: str, tmp_path: Path) -> None:
    browser, script = renderer()
    page = tmp_path / "diagram.html"
    page.write_text(
        f'<html><body><pre class="mermaid">\n{mermaid_of(stack)}</pre><script src="{script.as_uri()}"></script>'
        "<script>mermaid.initialize({startOnLoad: true});</script></body></html>"
    )
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    [svg] = re.findall(r"<svg[^>]*>", dom)[:1] or [""]
    # THEN Mermaid drew a flowchart, not its "Syntax error" graphic
    assert 'aria-roledescription="flowchart-v2"' in svg, dom[-2000:]
    assert "Syntax error" not in dom
    # AND it stays readable in a PR comment: no taller than a screen
    height = float(re.search(r'viewBox="[\d.]+ [\d.]+ [\d.]+ ([\d.]+)"', svg).group(1))
    assert height < 900, f"{stack}: {height:.0f} px tall"


def test_a_broken_diagram_is_caught(tmp_path: Path) -> None:
    # The check above can fail: Mermaid's error graphic on a syntax error.
    browser, script = renderer()
    page = tmp_path / "broken.html"
    page.write_text(f'<html><body><pre class="mermaid">\nflowchart LR\n  a["x"] -->|"unclosed| b\n</pre><script src="{script.as_uri()}"></script><script>mermaid.initialize({{startOnLoad: true}});</script></body></html>')
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'aria-roledescription="flowchart-v2"' not in dom


def test_the_diagram_shows_gpus_and_the_flows_the_stack_has() -> None:
    finance = mermaid_of("finance-prod")
    # (the l40s pool and document review's l40s-review pool; fraud-score, credit-limit and document-review)
    assert 't_dc1["dc1: 12 × L40S, 8 × L40S, serves 3 models, 1 training queue"]' in finance
    assert 't_training["training: 0–48 × A100 on demand, 2 training queues"]' in finance
    assert '-->|"training overflow: 48 GPUs, 1,920 GPU-h/week"| t_training' in finance
    assert "t_aws -->|CloudTrail| audit" in finance
    # models flow from the bucket the InferenceServices name into the cluster serving them
    # (finance-prod serves registry versions: from the MLflow artifact bucket's `registry/`)
    assert 'store_s3___fin_prod_mlflow[("s3://fin-prod-mlflow")]' in finance
    assert "store_s3___fin_prod_mlflow -->|models| t_dc1" in finance
    manufacturing = mermaid_of("manufacturing-prod")
    assert "-.->|metrics| t_plant_dc" in manufacturing
    assert "git -->|pull| t_fleet_line_3" in manufacturing
    # edge sites pull from their model-sync source, the plant DC from its registry's bucket
    assert {line.strip() for line in manufacturing.splitlines() if "-->|models|" in line} == {
        "store_plant__model_store -->|models| t_fleet_line_1",
        "store_plant__model_store -->|models| t_fleet_line_2",
        "store_plant__model_store -->|models| t_fleet_line_3",
        "store_s3___mfg_prod_mlflow -->|models| t_plant_dc",
    }


def test_a_fleet_of_identical_sites_is_one_node() -> None:
    # GIVEN manufacturing-prod's records with line-1 copied as 20 more identical sites
    plan, files = planned("manufacturing-prod")
    import json

    records = json.loads(files[Path("resources.json")])["resources"]
    copies = []
    for n in range(2, 22):
        for r in records:
            if r.get("target") == "line-1" or (r["type"] == "hybrid-ai:target:Target" and r["inputs"]["target"] == "line-1"):
                copy = json.loads(json.dumps(r).replace("line-1", f"line-1{n:02d}"))
                copies.append(copy)
    lines = diagram(records + copies)
    # THEN the 21 sites of one shape are one node with a count, and the diagram stays small
    assert any("line-1 … ×21" in line for line in lines)
    assert len(lines) < 30
