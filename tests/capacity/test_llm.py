"""LLM sizing (hybridai/capacity/llm.py) against hand-computed cases: weights, KV cache, the
tensor-parallel sizes vLLM accepts, the per-GPU share, multi-node replicas, MIG slices, and how
the planner places multi-GPU replicas node by node. The architectures' data is checked against
their own shapes."""
from __future__ import annotations

from collections import Counter
import pytest

from hybridai import catalog
from hybridai.capacity import CapacityError, InferenceDemand, PoolInventory, cluster_capacity, place_models
from hybridai.capacity.llm import LlmShape, kv_bytes_per_token, kv_cache_gb, llm_shape, per_gpu_gb, size_replica, tensor_parallel_sizes, weights_gb
from hybridai.capacity.planner import WHOLE, pod_nodes
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.workloads import Llm, ServedModel


def llm(architecture: str | dict = "llama-3.1-8b-instruct", **values) -> Llm:
    return Llm.model_validate(
        {
            "architecture": architecture, "contextLength": 8192, "concurrentSequences": 16, "outputTokensPerRequest": 300,
            "outputTokensPerSecond": 800, "ttftP95Ms": 2000, "tpotP95Ms": 60, **values,
        }
    )


def served(name: str, team: str = "t", peak_rps: float = 2, **values) -> ServedModel:
    isolation = values.pop("isolation", "mig")
    production = values.pop("production", True)
    return ServedModel.model_validate({"name": name, "team": team, "storageUri": "oci://registry.example/llm/x:1", "peakRps": peak_rps, "isolation": isolation, "production": production, "llm": llm(**values).model_dump(by_alias=True)})


def capacity(pools: list[dict], models: list[ServedModel]):
    cluster = OnpremCluster.model_validate({"context": "c", "gpuPools": pools})
    return cluster_capacity(cluster, GpuOperatorSettings(), [Team.model_validate({"name": "t", "group": "g"})], models)


# --- The arithmetic ---------------------------------------------------------------------------------


def test_weights_are_parameters_times_bytes_per_parameter() -> None:
    # GIVEN Llama 3.1 8B's 8,030,261,248 parameters
    # THEN bf16: × 2 bytes = 16.06 GB; fp8: × 1 = 8.03 GB; int4: × 0.5 = 4.02 GB
    assert weights_gb(8_030_261_248, 2) == pytest.approx(16.060522496)
    assert llm_shape(llm(dtype="fp8")).weights_gb == pytest.approx(8.030261248)
    assert llm_shape(llm(dtype="int4")).weights_gb == pytest.approx(4.015130624)


def test_kv_cache_is_context_times_sequences_times_bytes_per_token() -> None:
    # GIVEN Llama 3.1 8B: 32 layers × 8 KV heads × head dim 128, 16-bit cache
    # THEN a token takes 2 (key and value) × 32 × 8 × 128 × 2 bytes = 131,072 bytes
    assert kv_bytes_per_token(32, 8, 128, 2) == 131_072
    # AND 8,192 tokens × 16 sequences × 131,072 bytes = 17.18 GB; an fp8 cache half of it
    assert kv_cache_gb(8192, 16, 131_072) == pytest.approx(17.179869184)
    assert llm_shape(llm()).kv_cache_gb == pytest.approx(17.179869184)
    assert llm_shape(llm(kvCacheDtype="fp8")).kv_cache_gb == pytest.approx(8.589934592)


@pytest.mark.parametrize(
    ("architecture", "most", "sizes"),
    [
        ("llama-3.1-70b-instruct", 8, [1, 2, 4, 8]),  # 64 heads, 8 KV heads: every power of two up to 8
        ("llama-3.1-70b-instruct", 6, [1, 2, 4]),  # a node of 6 GPUs: up to 4
        ("qwen2.5-7b-instruct", 8, [1, 2, 4]),  # 28 heads: 8 doesn't divide them
        ("phi-3-medium-4k-instruct", 8, [1, 2]),  # 40 heads and 10 KV heads: 4 divides the heads, not the KV heads
        ("phi-3-mini-4k-instruct", 10, [1, 2, 4, 8]),  # 32 heads, 32 KV heads: up to the node's 10 GPUs
    ],
)
def test_tensor_parallel_sizes_follow_vllms_head_rules(architecture: str, most: int, sizes: list[int]) -> None:
    arch = catalog.llms().architectures[architecture]
    assert tensor_parallel_sizes(arch.attention_heads, arch.kv_heads, most) == sizes


def test_fewer_kv_heads_than_gpus_are_replicated_on_each_gpu() -> None:
    # GIVEN 32 heads sharing 2 KV heads, 2 layers, 10⁹ bf16 parameters, 1,000 tokens × 10 sequences
    shape = LlmShape(parameters=1e9, layers=2, attention_heads=32, kv_heads=2, head_dim=128, weight_bytes=2, kv_bytes=2, context_length=1000, concurrent_sequences=10)
    # THEN at TP 1 a GPU holds 2 GB of weights, 1000 × 10 × 2 × 2 layers × 2 heads × 128 × 2 B = 0.02048 GB of cache, 2 GB of activations
    assert per_gpu_gb(shape, 1, 1, 2) == pytest.approx(2 + 0.02048 + 2)
    # AND at TP 2 and TP 4 each GPU keeps one KV head (vLLM replicates it): 0.01024 GB, while the weights halve again
    assert per_gpu_gb(shape, 2, 1, 2) == pytest.approx(1 + 0.01024 + 2)
    assert per_gpu_gb(shape, 4, 1, 2) == pytest.approx(0.5 + 0.01024 + 2)
    # AND a pipeline stage holds ⌈2 ÷ 2⌉ = 1 layer: half the weights and half the cache
    assert per_gpu_gb(shape, 1, 2, 2) == pytest.approx(1 + 0.01024 + 2)


# --- Sizing a replica on a pool ------------------------------------------------------------------


def test_the_smallest_tensor_parallel_size_that_fits_within_a_node() -> None:
    # GIVEN Llama 3.1 70B bf16, 8,192 tokens × 16 sequences, on H100-80GB nodes of 8 (vLLM uses 0.9 × 80 = 72 GB)
    shape = llm_shape(llm("llama-3.1-70b-instruct"))
    assert shape.weights_gb == pytest.approx(141.107412992)  # 70,553,706,496 × 2 bytes
    assert shape.kv_cache_gb == pytest.approx(42.94967296)  # 8192 × 16 × (2 × 80 × 8 × 128 × 2 = 327,680 bytes)
    sizing = size_replica(shape, "h100", "H100-80GB", gpus_per_node=8, nodes=1)
    # THEN TP 1 needs 141.1 + 42.9 + 2 = 186.1 GB and TP 2 70.6 + 21.5 + 2 = 94.0 GB, both over 72;
    # TP 4: 35.28 + 10.74 + 2 = 48.01 GB fits
    assert (sizing.tensor_parallel, sizing.pipeline_parallel, sizing.gpus_per_replica) == (4, 1, 4)
    assert sizing.per_gpu_gb == pytest.approx(141.107412992 / 4 + 42.94967296 / 4 + 2)
    assert sizing.required_gb == pytest.approx(sizing.per_gpu_gb / 0.9)


def test_a_replica_beyond_a_node_spans_nodes_only_when_allowed() -> None:
    # GIVEN Llama 3.1 70B bf16 (8,192 × 16) on A100-40GB nodes of 4: vLLM uses 0.9 × 40 = 36 GB
    # WHEN TP 4 within a node needs 35.28 + 10.74 + 2 = 48.01 GB
    fixed = size_replica(llm_shape(llm("llama-3.1-70b-instruct")), "a100", "A100-40GB", gpus_per_node=4, nodes=3)
    # THEN without multiNode it is refused, with the numbers, naming the nodes that would hold it
    assert isinstance(fixed, str)
    assert "weights 141.1 GB and KV cache 42.9 GB (8,192 tokens × 16 sequences × 327,680 bytes) need 48.0 GB on each GPU even split over 4" in fixed
    assert "more than the 36.0 GB vLLM uses of a A100-40GB's 40 GB" in fixed and "2 nodes of the pool would hold a replica: set `multiNode: true`" in fixed
    # AND with it, TP 4 on each of 2 nodes: each holds 40 of the 80 layers, 141.1 ÷ 8 + 42.9 ÷ 8 + 2 = 25.0 GB per GPU
    spanning = size_replica(llm_shape(llm("llama-3.1-70b-instruct", multiNode=True)), "a100", "A100-40GB", gpus_per_node=4, nodes=3)
    assert (spanning.tensor_parallel, spanning.pipeline_parallel, spanning.gpus_per_replica, spanning.multi_node) == (4, 2, 8, True)
    assert spanning.per_gpu_gb == pytest.approx(141.107412992 / 8 + 42.94967296 / 8 + 2)


def test_a_model_no_pool_holds_is_refused_with_its_numbers() -> None:
    # GIVEN Llama 3.1 70B bf16 on one node of L4s (24 GB, 21.6 GB usable), multi-node allowed but only one node
    why = size_replica(llm_shape(llm("llama-3.1-70b-instruct", multiNode=True)), "l4", "L4-24GB", gpus_per_node=8, nodes=1)
    # THEN TP 8: 141.1 ÷ 8 + 42.9 ÷ 8 + 2 = 25.0 GB per GPU is over 21.6 GB, and there is no node to span
    assert isinstance(why, str) and "need 25.0 GB on each GPU even split over 8" in why and "21.6 GB vLLM uses of a L4-24GB's 24 GB" in why
    assert why.endswith("lower the context, the concurrency or the dtype, or use a pool of larger GPUs")


def test_a_small_model_takes_the_smallest_mig_slice_that_holds_it() -> None:
    # GIVEN Phi-3 mini in int4 with an fp8 cache, 4,096 tokens × 4 sequences
    # weights 3,821,079,552 × 0.5 = 1.91 GB; a token 2 × 32 × 32 × 96 × 1 = 196,608 bytes → 3.22 GB; + 2 GB = 7.13 GB,
    # so a slice needs 7.13 ÷ 0.9 = 7.92 GB: a 1g.10gb
    tiny = served("tiny", architecture="phi-3-mini-4k-instruct", dtype="int4", kvCacheDtype="fp8", contextLength=4096, concurrentSequences=4)
    # AND in bf16 with a 16-bit cache: 7.64 + 6.44 + 2 = 16.08 GB ÷ 0.9 = 17.87 GB: a 1g.20gb
    bf16 = served("bf16", architecture="phi-3-mini-4k-instruct", contextLength=4096, concurrentSequences=4)
    # AND a model whose isolation is whole-gpu gets a GPU of its own however small it is
    alone = served("alone", architecture="phi-3-mini-4k-instruct", dtype="int4", kvCacheDtype="fp8", contextLength=4096, concurrentSequences=4, isolation="whole-gpu")
    plan = capacity([{"name": "a100", "gpuModel": "A100-80GB", "nodes": ["n1"], "gpusPerNode": 8, "mig": "planned"}], [tiny, bf16, alone])
    assert not plan.problems
    assert {name: plan.placements[name][1] for name in ("tiny", "bf16", "alone")} == {"tiny": "1g.10gb", "bf16": "1g.20gb", "alone": WHOLE}
    assert plan.llms["tiny"].per_gpu_gb == pytest.approx(1.910539776 + 3.221225472 + 2)


# --- Replicas, quotas and nodes -------------------------------------------------------------------


def test_replicas_cover_the_peak_output_tokens_and_production_keeps_two() -> None:
    # GIVEN 4 requests/s × 300 output tokens = 1,200 tokens/s at peak, 800 tokens/s per replica
    # THEN 1200 ÷ (800 × 0.7) = 2.1 → 3 replicas; at 1 request/s: 300 ÷ 560 → 1, and production keeps 2
    plan = capacity(
        [{"name": "h100", "gpuModel": "H100-80GB", "nodes": ["n1", "n2"], "gpusPerNode": 8}],
        [served("busy", peak_rps=4), served("quiet", peak_rps=1), served("dev", peak_rps=1, production=False)],
    )
    assert {name: plan.placements[name][2] for name in ("busy", "quiet", "dev")} == {"busy": 3, "quiet": 2, "dev": 1}


def test_a_tensor_parallel_replica_takes_whole_gpus_and_the_team_quota_counts_them_all() -> None:
    # GIVEN Llama 3.1 70B at TP 4 (as sized above), 2 replicas, beside a MIG-sized model on a planned pool
    plan = capacity(
        [{"name": "a100", "gpuModel": "A100-80GB", "nodes": ["n1", "n2", "n3"], "gpusPerNode": 8, "mig": "planned"}],
        [served("big", architecture="llama-3.1-70b-instruct"), served("small", architecture="phi-3-mini-4k-instruct", dtype="int4", kvCacheDtype="fp8", contextLength=4096, concurrentSequences=4)],
    )
    assert not plan.problems
    # THEN it holds 2 × 4 whole GPUs: the team's quota has them with the small model's 2 slices
    assert plan.placements["big"] == ("a100", WHOLE, 2) and plan.slices["big"] == 8
    assert plan.team_quota["t"] == Counter({"gpu": 8, "1g.10gb": 2})
    # AND each replica's 4 GPUs stay whole on one node: 2 nodes keep 4 whole GPUs for them, the MIG GPU goes where there's room
    assert plan.pool_gpus["a100"] == (1, 23)


def test_the_pods_of_multi_gpu_replicas_get_their_nodes_before_mig_layouts() -> None:
    # GIVEN two TP-8 replicas (Llama 3.1 70B, 32,768 tokens × 16 sequences: TP 4 needs 35.3 + 42.9 + 2 = 80.2 GB > 72)
    # on 3 nodes of 8 A100-80GB, beside 3 GPUs of MIG slices a model needs
    big = served("big", architecture="llama-3.1-70b-instruct", contextLength=32768)
    mig = ServedModel.model_validate({"name": "mig", "team": "t", "storageUri": "s3://m/x", "gpuMemoryGb": 35, "peakRps": 80, "throughputRps": 20})  # 6 × 3g.40gb
    plan = capacity([{"name": "a100", "gpuModel": "A100-80GB", "nodes": ["n1", "n2", "n3"], "gpusPerNode": 8, "mig": "planned"}], [big, mig])
    assert not plan.problems and plan.llms["big"].tensor_parallel == 8
    # THEN each replica takes a whole node, and the MIG GPUs all go to the third (spread in turn, they'd split every node)
    configs = {node.name: node.mig_config for node in plan.nodes}
    assert configs["n1"] == configs["n2"] == "all-disabled" and configs["n3"] != "all-disabled"
    assert plan.pool_gpus["a100"] == (3, 21)


def test_pods_that_fit_the_gpus_but_not_the_nodes_are_refused() -> None:
    # GIVEN Llama 3.1 70B at TP 4, 3 replicas, on 2 nodes of 6 H100s: 12 GPUs for 12, but a node holds one 4-GPU pod
    plan = capacity([{"name": "h100", "gpuModel": "H100-80GB", "nodes": ["n1", "n2"], "gpusPerNode": 6}], [served("big", architecture="llama-3.1-70b-instruct", peak_rps=5)])
    # THEN the model is refused at its load, saying why
    [problem] = plan.problems
    assert problem.loc == ("models", 0, "peakRps") and problem.type == "catalog_does_not_fit"
    assert "3 replicas × 4 GPUs on pool h100 don't fit: 3 pods of 4 GPUs, each on one node, don't fit 2 nodes of 6 GPUs" in problem.message


def test_pod_nodes_spreads_pods_and_fails_only_without_room() -> None:
    assert pod_nodes([4, 4], 2, 8) == [4, 4], "two replicas spread over two nodes"
    assert pod_nodes([8, 4, 4, 2, 2], 3, 8) == [8, 6, 6]
    assert pod_nodes([4, 4, 4], 2, 6) is None
    assert pod_nodes([], 2, 8) == [0, 0]


def test_the_planner_sizes_an_llm_on_each_pool_and_takes_the_first_that_holds_it() -> None:
    # GIVEN an L4 pool first (Llama 3.1 70B can't fit its 24 GB GPUs) and an H100 pool after it
    shape = llm_shape(llm("llama-3.1-70b-instruct"))
    demand = InferenceDemand("big", "t", 0, peak_rps=600, throughput_rps=800, llm=shape)
    pools = [PoolInventory("l4", "L4-24GB", nodes=1, gpus_per_node=8), PoolInventory("h100", "H100-80GB", nodes=1, gpus_per_node=8)]
    l4, h100 = place_models(pools, [demand])
    # THEN it lands on the H100s at TP 4, two replicas' pods on the one node
    assert not l4.profiles and h100.profiles == {"big": WHOLE} and h100.llms["big"].tensor_parallel == 4
    assert h100.slices == {"big": 8} and h100.pods == [4, 4]
    # AND on the L4s alone it is refused with that pool's numbers
    with pytest.raises(CapacityError) as caught:
        place_models(pools[:1], [demand])
    [misfit] = caught.value.misfits
    assert misfit.cause == "memory" and misfit.reason.startswith("pool l4: weights 141.1 GB")


def test_an_llm_misfit_is_reported_at_its_llm_block() -> None:
    plan = capacity([{"name": "l4", "gpuModel": "L4-24GB", "nodes": ["n1"], "gpusPerNode": 4}], [served("big", architecture="llama-3.1-70b-instruct")])
    [problem] = plan.problems
    assert problem.loc == ("models", 0, "llm") and problem.type == "catalog_does_not_fit"
    assert problem.value == {"architecture": "llama-3.1-70b-instruct", "dtype": "bf16", "kvCacheDtype": "auto", "contextLength": 8192, "concurrentSequences": 16, "multiNode": False}


# --- The data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(catalog.llms().architectures))
def test_each_architecture_is_consistent_with_its_own_shapes(name: str) -> None:
    a = catalog.llms().architectures[name]
    # Parameters: embeddings (twice unless tied) and, per layer, q, k, v, o and the MLP (each expert's);
    # norms, biases and routers are the rest, well under 0.01 %.
    embeddings = a.vocab_size * a.hidden_size * (1 if a.tied_embeddings else 2)
    attention = 2 * a.hidden_size * a.attention_heads * a.head_dim + 2 * a.hidden_size * a.kv_heads * a.head_dim
    mlp = a.experts * 3 * a.hidden_size * a.intermediate_size
    assert a.parameters == pytest.approx(embeddings + a.layers * (attention + mlp), rel=1e-4)
    assert a.attention_heads % a.kv_heads == 0, "grouped-query attention: whole groups"
    assert a.source.startswith("https://huggingface.co/") and a.source.endswith("/config.json")
    # Every named architecture is one a stack file can use as it is.
    assert llm(name, contextLength=min(4096, a.max_context_length)).shape() == a


def test_dtype_bytes_cover_every_dtype_a_stack_file_may_name() -> None:
    from typing import get_args

    data = catalog.llms()
    assert set(data.dtypes) == set(get_args(Llm.model_fields["dtype"].annotation))
    assert set(data.kv_cache_dtypes) == set(get_args(Llm.model_fields["kv_cache_dtype"].annotation))
    assert (data.dtypes["bf16"], data.dtypes["fp8"], data.dtypes["int4"], data.kv_cache_dtypes["auto"]) == (2, 1, 0.5, 2)
    assert 0 < data.vllm.gpu_memory_utilization <= 1 and data.vllm.activation_gb > 0


def test_an_explicit_shape_sizes_like_a_named_one() -> None:
    named = catalog.llms().architectures["mistral-7b-instruct-v0.3"]
    explicit = {"parameters": named.parameters, "layers": named.layers, "attentionHeads": named.attention_heads, "kvHeads": named.kv_heads, "headDim": named.head_dim, "maxContextLength": named.max_context_length}
    assert llm_shape(llm(explicit)) == llm_shape(llm("mistral-7b-instruct-v0.3"))
