"""LLM replicas sized from their architecture: the weights, the KV cache for the stated context ×
concurrency, vLLM's memory budget, and the tensor (and pipeline) parallelism a replica needs on a
pool's GPUs. The reasoning and its sources: docs/design/llm-sizing.md.

Pure functions of the catalog's values and the data of hybridai/data/llms.yaml and gpus.yaml. The
planner (`planner.place_models`) calls `size_replica` for each pool it considers a model for; the
cluster's capacity keeps the result on the pool it chose (`ClusterCapacity.llms`), which serving and
summary.md read.

Sizes are in GB of 10⁹ bytes, as the GPU data gives memory (gpus.yaml `memory_gb`, nominal: an
80 GB GPU holds at least 80 × 10⁹ bytes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hybridai import catalog
from hybridai.config.workloads import Llm

GB = 1e9


@dataclass(frozen=True)
class LlmShape:
    """What sizing an LLM replica takes: its architecture, the bytes of a weight and of a KV cache
    element, and the context and concurrency one replica serves."""

    parameters: float
    """Parameters of the checkpoint (every expert's, for a mixture of experts)."""
    layers: int
    attention_heads: int
    kv_heads: int
    """KV heads per layer (grouped-query attention shares each among several attention heads)."""
    head_dim: int
    weight_bytes: float
    """Bytes per parameter of the weights (llms.yaml `dtypes`)."""
    kv_bytes: float
    """Bytes per element of the KV cache (llms.yaml `kv_cache_dtypes`)."""
    context_length: int
    """Tokens of one sequence, prompt and output (vLLM's `--max-model-len`)."""
    concurrent_sequences: int
    """Sequences one replica holds at once at that context (vLLM's `--max-num-seqs`)."""
    multi_node: bool = False
    """Whether a replica may span nodes (pipeline parallel across them)."""

    @property
    def weights_gb(self) -> float:
        return weights_gb(self.parameters, self.weight_bytes)

    @property
    def kv_bytes_per_token(self) -> float:
        return kv_bytes_per_token(self.layers, self.kv_heads, self.head_dim, self.kv_bytes)

    @property
    def kv_cache_gb(self) -> float:
        return kv_cache_gb(self.context_length, self.concurrent_sequences, self.kv_bytes_per_token)


def llm_shape(llm: Llm) -> LlmShape:
    """A catalog model's `llm` block as the sizing reads it: its architecture (named in llms.yaml or
    given in the stack file) and the bytes of its dtypes."""
    data = catalog.llms()
    arch = llm.shape()
    return LlmShape(
        parameters=arch.parameters,
        layers=arch.layers,
        attention_heads=arch.attention_heads,
        kv_heads=arch.kv_heads,
        head_dim=arch.head_dim,
        weight_bytes=data.dtypes[llm.dtype],
        kv_bytes=data.kv_cache_dtypes[llm.kv_cache_dtype],
        context_length=llm.context_length,
        concurrent_sequences=llm.concurrent_sequences,
        multi_node=llm.multi_node,
    )


def weights_gb(parameters: float, bytes_per_parameter: float) -> float:
    """GB the weights take: parameters × bytes per parameter."""
    return parameters * bytes_per_parameter / GB


def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, kv_bytes: float) -> float:
    """Bytes of KV cache one token takes: a key and a value (2) of `head_dim` for each KV head in
    each layer."""
    return 2 * layers * kv_heads * head_dim * kv_bytes


def kv_cache_gb(context_length: int, sequences: int, per_token: float) -> float:
    """GB of KV cache for `sequences` sequences of `context_length` tokens each."""
    return context_length * sequences * per_token / GB


def tensor_parallel_sizes(attention_heads: int, kv_heads: int, most: int) -> list[int]:
    """The tensor-parallel sizes vLLM accepts for the architecture, powers of two up to `most` (the
    GPUs of a node), smallest first. vLLM splits the attention heads evenly over the GPUs
    (vllm/config/model.py, verify_with_parallel_config: "Total number of attention heads … must be
    divisible by tensor parallel size") and splits or replicates the KV heads
    (vllm/model_executor/layers/linear.py, QKVParallelLinear: the KV heads divided by the size, or,
    with fewer KV heads than GPUs, the size divided by them)."""
    sizes, tp = [], 1
    while tp <= most:
        if attention_heads % tp == 0 and (kv_heads % tp == 0 or tp % kv_heads == 0):
            sizes.append(tp)
        tp *= 2
    return sizes


def per_gpu_gb(shape: LlmShape, tensor_parallel: int, pipeline_parallel: int, activation_gb: float) -> float:
    """GB each GPU of a replica holds: its stage's share of the weights and of the KV cache, and the
    activation allowance. A pipeline stage holds ⌈layers ÷ pipeline_parallel⌉ layers (the largest
    stage); tensor parallelism divides a stage's weights and its KV heads over the GPUs, each GPU
    keeping at least one KV head (vLLM replicates KV heads when there are fewer than GPUs:
    vllm/config/model.py, get_num_kv_heads)."""
    stage_layers = math.ceil(shape.layers / pipeline_parallel)
    weights = shape.weights_gb * stage_layers / shape.layers / tensor_parallel
    kv_heads = max(1, shape.kv_heads // tensor_parallel)
    kv = kv_cache_gb(shape.context_length, shape.concurrent_sequences, kv_bytes_per_token(stage_layers, kv_heads, shape.head_dim, shape.kv_bytes))
    return weights + kv + activation_gb


@dataclass(frozen=True)
class LlmSizing:
    """One LLM replica as the capacity plan sizes it on its pool's GPUs: the arithmetic summary.md
    shows and the parallelism serving runs it with (vLLM's `--tensor-parallel-size` and
    `--pipeline-parallel-size`, KServe's `spec.parallelism.tensor` and `.pipeline`)."""

    pool: str
    """The pool it was sized for (the one the planner placed it on)."""
    gpu_model: str
    weights_gb: float
    """The whole model's weights."""
    kv_cache_gb: float
    """The whole replica's KV cache: context × concurrent sequences × bytes per token."""
    kv_bytes_per_token: float
    """KV cache one token takes over all layers and KV heads."""
    activation_gb: float
    """Allowance on each GPU for what vLLM's profiling run measures besides the weights."""
    gpu_memory_utilization: float
    """Share of each GPU's memory vLLM is told to use (`--gpu-memory-utilization`): serving passes it."""
    per_gpu_gb: float
    """What each GPU of a replica holds: its shares of weights and KV cache, and the allowance."""
    tensor_parallel: int
    """GPUs of one node a replica's model is split over (attention heads and MLP)."""
    pipeline_parallel: int
    """Nodes a replica spans, one pipeline stage (a share of the layers) each; 1 within a node. More
    than one: a LeaderWorkerSet of that size (KServe `spec.worker`)."""

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    @property
    def multi_node(self) -> bool:
        return self.pipeline_parallel > 1

    @property
    def required_gb(self) -> float:
        """Memory each GPU (or MIG slice) of a replica must have: what it holds ÷ the utilization."""
        return self.per_gpu_gb / self.gpu_memory_utilization


def size_replica(shape: LlmShape, pool: str, gpu_model: str, gpus_per_node: int, nodes: int) -> LlmSizing | str:
    """An LLM replica on `pool` (`nodes` nodes of `gpus_per_node` × `gpu_model`): the smallest
    tensor-parallel size within a node whose per-GPU share fits what vLLM uses of a GPU; failing
    that, where the model allows, the largest such size over the fewest nodes that fit (vLLM's
    multi-node practice: tensor parallel within a node, pipeline parallel across nodes). Otherwise
    why it doesn't fit, with the numbers."""
    data = catalog.llms().vllm
    memory = catalog.gpus().models[gpu_model].memory_gb
    usable = memory * data.gpu_memory_utilization
    sizes = tensor_parallel_sizes(shape.attention_heads, shape.kv_heads, gpus_per_node)

    def sizing(tp: int, pp: int) -> LlmSizing:
        return LlmSizing(
            pool=pool, gpu_model=gpu_model, weights_gb=shape.weights_gb, kv_cache_gb=shape.kv_cache_gb, kv_bytes_per_token=shape.kv_bytes_per_token,
            activation_gb=data.activation_gb, gpu_memory_utilization=data.gpu_memory_utilization, per_gpu_gb=per_gpu_gb(shape, tp, pp, data.activation_gb),
            tensor_parallel=tp, pipeline_parallel=pp,
        )

    for tp in sizes:
        if per_gpu_gb(shape, tp, 1, data.activation_gb) <= usable:
            return sizing(tp, 1)
    tp = sizes[-1]
    spans = range(2, min(nodes, shape.layers) + 1)
    fitting = next((pp for pp in spans if per_gpu_gb(shape, tp, pp, data.activation_gb) <= usable), None)
    if shape.multi_node and fitting is not None:
        return sizing(tp, fitting)
    need = per_gpu_gb(shape, tp, 1, data.activation_gb)
    numbers = (
        f"weights {shape.weights_gb:,.1f} GB and KV cache {shape.kv_cache_gb:,.1f} GB ({shape.context_length:,} tokens × {shape.concurrent_sequences} sequences × "
        f"{shape.kv_bytes_per_token:,.0f} bytes) need {need:,.1f} GB on each GPU even split over {tp} ({gpus_per_node} per node, tensor-parallel sizes "
        f"{', '.join(map(str, sizes))}), more than the {usable:,.1f} GB vLLM uses of a {gpu_model}'s {memory} GB (gpu_memory_utilization "
        f"{data.gpu_memory_utilization:g}, {data.activation_gb:g} GB of it for activations)"
    )
    if fitting is not None:
        return f"{numbers}; {fitting} nodes of the pool would hold a replica: set `multiNode: true` if they share a fast interconnect"
    if shape.multi_node and nodes > 1:
        return f"{numbers}, and even over its {min(nodes, shape.layers)} nodes; lower the context, the concurrency or the dtype, or add nodes"
    return f"{numbers}; lower the context, the concurrency or the dtype, or use a pool of larger GPUs"
