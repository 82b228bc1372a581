"""LLMs in a whole stack: healthcare-dev with the LLM catalog of fixtures/llm-catalog.yaml plans,
its summary.md shows each LLM's arithmetic, and bad LLM input is refused at its key."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import planned_llm_lab
from tests.helpers import problems_of, stack_values

FIXTURE = yaml.safe_load((Path(__file__).parent / "fixtures" / "llm-catalog.yaml").read_text())


def lab_values() -> dict[str, Any]:
    """healthcare-dev's values with the fixture's pools, teams and LLM catalog."""
    return {**stack_values("healthcare-dev"), **copy.deepcopy(FIXTURE)}


def test_the_lab_stack_plans_and_its_summary_shows_each_llms_arithmetic() -> None:
    # GIVEN healthcare-dev's stack file with the fixture's pools, teams and models in place of its own
    # WHEN it is planned
    plan, files = planned_llm_lab()
    summary = files[Path("summary.md")]
    # THEN the capacity plan sized each LLM as the fixture's comment computes it
    llms = plan.capacity.onprem.llms
    assert {name: (s.tensor_parallel, s.pipeline_parallel) for name, s in llms.items()} == {
        "notes-summarizer": (1, 1), "discharge-letters": (1, 1), "research-assistant": (8, 2), "document-review": (4, 1),
    }
    # AND the clinical team's quota holds every GPU its LLMs take: 1 × (8 × 2) + 2 × 4 whole GPUs, and their slices
    assert plan.capacity.onprem.team_quota["clinical-ai"] == {"gpu": 24, "3g.40gb": 2, "1g.10gb": 2}
    # AND summary.md shows the arithmetic, row by row
    assert "| LLM | architecture | weights GB | KV cache GB | per GPU GB | GPUs per replica (TP × nodes) | replicas | pool |" in summary
    assert "| notes-summarizer | llama-3.1-8b-instruct (bf16) | 16.1 | 8.6 (8,192 × 8) | 26.7 of 36.0 | 1 (1 × 1) | 2 | a100 (3g.40gb) |" in summary
    assert "| discharge-letters | phi-3-mini-4k-instruct (int4, KV fp8) | 1.9 | 3.2 (4,096 × 4) | 7.1 of 9.0 | 1 (1 × 1) | 2 | a100 (1g.10gb) |" in summary
    assert "| research-assistant | llama-3.1-70b-instruct (bf16) | 141.1 | 687.2 (32,768 × 64) | 53.8 of 72.0 | 16 (8 × 2) | 1 | h100 |" in summary
    assert "| document-review | llama-3.1-70b-instruct (bf16) | 141.1 | 42.9 (8,192 × 16) | 48.0 of 72.0 | 4 (4 × 1) | 2 | h100 |" in summary
    assert "2.0 GB of activations, within the 90 % of its memory vLLM uses" in summary
    # AND which of vLLM's histogram boundaries each latency objective is alerted at, where it isn't one itself
    assert (
        "notes-summarizer TTFT 1,500 ms at 1,000, inter-token 50 ms; discharge-letters TTFT 1,000 ms, inter-token 40 ms at 25; "
        "research-assistant TTFT 5,000 ms, inter-token 80 ms at 75; document-review TTFT 2,000 ms at 1,000, inter-token 60 ms at 50."
    ) in summary


def test_only_summaries_of_stacks_with_llms_have_the_llm_table() -> None:
    from tests.conftest import planned

    assert "| LLM |" not in planned("manufacturing-prod")[1][Path("summary.md")]
    assert "| clinical-notes-summarizer | llama-3.1-8b-instruct (int4, KV fp8) | 4.0 | 2.1 (4,096 × 8) | 8.2 of 9.0 | 1 (1 × 1) | 2 | a100-mig (1g.10gb) |" in planned("healthcare-prod")[1][Path("summary.md")]


def _set(path: list, value: Any):
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(path: list):
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


L4_ONLY = [{"name": "l4", "gpuModel": "L4-24GB", "nodes": ["lab-l4-01"], "gpusPerNode": 4}]

BAD_INPUT = [
    ("context beyond the architecture's", _set(["models", 1, "llm", "contextLength"], 131073), (("models", 1, "llm", "contextLength"), "context_too_long")),
    ("context beyond an explicit shape's", _set(["models", 1, "llm", "architecture"], {"parameters": 7e9, "layers": 32, "attentionHeads": 32, "kvHeads": 8, "headDim": 128, "maxContextLength": 4096}), (("models", 1, "llm", "contextLength"), "context_too_long")),
    ("unknown architecture", _set(["models", 1, "llm", "architecture"], "llama-4-8b"), (("models", 1, "llm", "architecture"), "llm_architecture_unknown")),
    ("architecture neither a name nor a shape", _set(["models", 1, "llm", "architecture"], 8), (("models", 1, "llm", "architecture"), "llm_architecture")),
    ("explicit shape with a typo", _set(["models", 1, "llm", "architecture"], {"parameters": 7e9, "layer": 32, "attentionHeads": 32, "kvHeads": 8, "headDim": 128, "maxContextLength": 8192}), (("models", 1, "llm", "architecture", "layer"), "extra_forbidden")),
    ("KV heads that don't group the heads", _set(["models", 1, "llm", "architecture"], {"parameters": 7e9, "layers": 32, "attentionHeads": 28, "kvHeads": 8, "headDim": 128, "maxContextLength": 8192}), (("models", 1, "llm", "architecture", "kvHeads"), "kv_heads_indivisible")),
    ("zero tokens per second", _set(["models", 1, "llm", "outputTokensPerSecond"], 0), (("models", 1, "llm", "outputTokensPerSecond"), "greater_than")),
    ("zero concurrent sequences", _set(["models", 1, "llm", "concurrentSequences"], 0), (("models", 1, "llm", "concurrentSequences"), "greater_than_equal")),
    ("unknown dtype", _set(["models", 1, "llm", "dtype"], "fp4"), (("models", 1, "llm", "dtype"), "literal_error")),
    ("an objective missing", _delete(["models", 1, "llm", "ttftP95Ms"]), (("models", 1, "llm", "ttftP95Ms"), "missing")),
    ("an LLM given GPU memory", _set(["models", 1, "gpuMemoryGb"], 20), (("models", 1, "gpuMemoryGb"), "llm_sized")),
    ("an LLM given requests per replica", _set(["models", 1, "throughputRps"], 5), (("models", 1, "throughputRps"), "llm_sized")),
    ("an LLM given a p99 objective", _set(["models", 1, "latencyObjectiveMs"], 500), (("models", 1, "latencyObjectiveMs"), "llm_sized")),
    ("a model neither sized nor an LLM", _delete(["models", 0, "throughputRps"]), (("models", 0, "throughputRps"), "missing")),
    ("a request longer than the context", _set(["models", 1, "llm", "promptTokensPerRequest"], 8000), (("models", 1, "llm", "promptTokensPerRequest"), "request_beyond_context")),
    ("output alone longer than the context", _set(["models", 1, "llm", "outputTokensPerRequest"], 8193), (("models", 1, "llm", "outputTokensPerRequest"), "request_beyond_context")),
    ("no peak hours a day", _set(["models", 1, "llm", "peakHoursPerDay"], 0), (("models", 1, "llm", "peakHoursPerDay"), "greater_than")),
    ("more peak hours than a day has", _set(["models", 1, "llm", "peakHoursPerDay"], 25), (("models", 1, "llm", "peakHoursPerDay"), "less_than_equal")),
    ("an inter-token objective below vLLM's first bucket", _set(["models", 1, "llm", "tpotP95Ms"], 9), (("models", 1, "llm", "tpotP95Ms"), "objective_below_histogram")),
    ("an LLM that fits no pool", _set(["onprem", "gpuPools"], L4_ONLY), (("models", 3, "llm"), "catalog_does_not_fit")),
]


@pytest.mark.parametrize("case,mutate,expected", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_llm_input_is_refused_at_its_key(case: str, mutate, expected: tuple) -> None:
    # GIVEN the lab stack with one LLM value broken
    values = lab_values()
    mutate(values)
    # WHEN it is validated THEN the problem is reported at that key, with that type
    assert expected in problems_of("healthcare-dev", values)


def test_a_model_that_fits_no_pool_says_so_with_the_numbers() -> None:
    from hybridai.config import StackConfigError
    from hybridai.program import prepare

    values = lab_values()
    values["onprem"]["gpuPools"] = L4_ONLY
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-dev", values)
    message = caught.value.render()
    # Llama 3.1 70B on 4 L4s: TP 4 needs 35.3 + 10.7 + 2 = 48.0 GB per GPU, vLLM uses 0.9 × 24 = 21.6
    assert (
        "hybrid-ai:models[4].llm: model document-review: pool l4: weights 141.1 GB and KV cache 42.9 GB (8,192 tokens × 16 sequences × 327,680 bytes) "
        "need 48.0 GB on each GPU even split over 4 (4 per node, tensor-parallel sizes 1, 2, 4), more than the 21.6 GB vLLM uses of a L4-24GB's 24 GB"
    ) in message
