"""The workload catalog of a stack — models served with KServe, weekly training jobs — as values.
What they make of the GPUs (replicas, slices, layouts, quotas, overflow) is decided in
hybridai/capacity from these."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from hybridai import catalog
from hybridai.config.base import PLACEHOLDER, DnsLabel, Model, Quantity, choose_from
from hybridai.config.drift import ModelDrift
from hybridai.config.mlops import DigestImage, Evaluation, RegistryRef, Schedule


class Canary(Model):
    """A new version of a model taking a share of its traffic before it replaces the stable one."""

    storage_uri: str = Field(examples=["s3://models/chest-xray/v4"], json_schema_extra=PLACEHOLDER, pattern=r"^(s3|gs|pvc|https|oci|hf)://", description="Where KServe fetches the canary version from.")
    traffic_percent: int = Field(ge=1, le=99, examples=[10], description="Share of requests the canary receives (KServe splits traffic with Gateway API route weights).")


class ArchitectureShape(Model):
    """An LLM's shape as its config.json gives it, for a model hybridai/data/llms.yaml doesn't name."""

    parameters: float = Field(gt=0, examples=[8030261248], description="Parameters of the checkpoint (the model size its hub page shows; every expert of a mixture of experts).")
    layers: int = Field(ge=1, examples=[32], description="config.json `num_hidden_layers`.")
    attention_heads: int = Field(ge=1, examples=[32], description="config.json `num_attention_heads`.")
    kv_heads: int = Field(ge=1, examples=[8], description="config.json `num_key_value_heads` (the attention heads without grouped-query attention).")
    head_dim: int = Field(ge=1, examples=[128], description="config.json `head_dim`, or `hidden_size` ÷ `num_attention_heads` where it has none.")
    max_context_length: int = Field(ge=1, examples=[131072], description="config.json `max_position_embeddings`: the longest context the model takes.")

    @field_validator("kv_heads")
    @classmethod
    def _groups(cls, value: int, info: ValidationInfo) -> int:
        # Grouped-query attention shares each KV head among a whole number of attention heads.
        heads = info.data.get("attention_heads")
        if heads is not None and heads % value:
            raise PydanticCustomError("kv_heads_indivisible", "{heads} attention heads don't split into groups of {kv} KV heads; check config.json", {"heads": heads, "kv": value})
        return value


class Llm(Model):
    """A large language model served with vLLM: what the capacity plan sizes its replicas from
    (weights and KV cache per GPU, tensor and pipeline parallelism, replicas from tokens; see
    [LLM sizing](design/llm-sizing.md))."""

    architecture: str | ArchitectureShape = Field(
        examples=["llama-3.1-8b-instruct"],
        description="The model's architecture: a name from hybridai/data/llms.yaml (e.g. `llama-3.1-8b-instruct`, `qwen2.5-72b-instruct`), "
        "or its shape `{parameters, layers, attentionHeads, kvHeads, headDim, maxContextLength}` from its config.json.",
    )
    dtype: Literal["bf16", "fp16", "fp8", "int8", "int4"] = Field(
        default="bf16",
        description="Precision of the weights: `bf16`/`fp16` as released, `fp8` (quantized on load or a quantized checkpoint), `int8`/`int4` "
        "(a quantized checkpoint, e.g. GPTQ or AWQ). Bytes per parameter: hybridai/data/llms.yaml `dtypes`.",
    )
    kv_cache_dtype: Literal["auto", "fp8"] = Field(
        default="auto", description="vLLM's `--kv-cache-dtype`: `auto` keeps the activations' 16 bits; `fp8` halves the KV cache."
    )
    context_length: int = Field(
        ge=1, examples=[8192], description="Tokens of one sequence, prompt and output (vLLM's `--max-model-len`): at most the architecture's maximum."
    )
    concurrent_sequences: int = Field(
        ge=1, examples=[16], description="Sequences one replica holds at once at the full context (vLLM's `--max-num-seqs`): the KV cache is sized for them."
    )
    output_tokens_per_request: int = Field(
        ge=1, examples=[300], description="Mean output tokens of a request: `peakRps` × this is the peak output tokens per second the replicas are sized for."
    )
    prompt_tokens_per_request: int | None = Field(
        default=None,
        ge=1,
        examples=[1500],
        description="Mean prompt (input) tokens of a request: with it, `cost.json` also prices each million of all tokens, prompt and output. "
        "With `outputTokensPerRequest` at most `contextLength` (vLLM refuses a longer request). Default: unstated, output tokens only.",
    )
    output_tokens_per_second: float = Field(
        gt=0,
        examples=[1200],
        description="Output tokens per second one replica sustains at `concurrentSequences` within the latency objectives (measured, e.g. with "
        "`vllm bench serve`); replicas cover the peak at 70% of it, like `throughputRps`.",
    )
    peak_hours_per_day: float = Field(
        default=8,
        gt=0,
        le=24,
        description="Hours a day the model serves its peak (`peakRps` × `outputTokensPerRequest`), idle the rest: its tokens a month, and so "
        "its cost per million tokens and its team's token showback in `cost.json`, are the peak over these hours × 730 / 24 days. "
        "Default 8: a working day at peak; a model at its peak around the clock is 24.",
    )
    ttft_p95_ms: int = Field(ge=1, le=60000, examples=[2000], description="Objective for the time to first token, p95, in milliseconds.")
    tpot_p95_ms: int = Field(ge=1, le=60000, examples=[60], description="Objective for the time per output token (inter-token latency), p95, in milliseconds.")
    multi_node: bool = Field(
        default=False,
        description="A replica may span nodes when one node's GPUs can't hold it: tensor parallel within each node, pipeline parallel across "
        "them, run as a LeaderWorkerSet. Only where the pool's nodes share a fast interconnect (InfiniBand or RoCE): off by default.",
    )

    @field_validator("architecture", mode="plain")
    @classmethod
    def _known_architecture(cls, value: object) -> object:
        # In place of the union's validation, which reports one error per member: a name must be
        # known, a mapping is a shape (its errors at its keys), anything else is neither.
        if isinstance(value, str):
            known = catalog.llms().architectures
            if value not in known:
                raise PydanticCustomError(
                    "llm_architecture_unknown",
                    "unknown architecture{choose}; or give its shape from its config.json: {parameters, layers, attentionHeads, kvHeads, headDim, maxContextLength}",
                    {"choose": choose_from(value, known, "architectures")},
                )
            return value
        if isinstance(value, dict):
            return ArchitectureShape.model_validate(value)
        if isinstance(value, ArchitectureShape):
            return value
        raise PydanticCustomError("llm_architecture", "an architecture is a name from hybridai/data/llms.yaml or a shape {parameters, layers, attentionHeads, kvHeads, headDim, maxContextLength}")

    @field_validator("context_length")
    @classmethod
    def _within_architecture(cls, value: int, info: ValidationInfo) -> int:
        arch = info.data.get("architecture")
        longest = _shape(arch).max_context_length if arch is not None else None
        if longest is not None and value > longest:
            raise PydanticCustomError(
                "context_too_long", "the architecture takes at most {longest} tokens (its max context length); lower `contextLength`", {"longest": longest}
            )
        return value

    @field_validator("ttft_p95_ms", "tpot_p95_ms")
    @classmethod
    def _measurable(cls, value: int, info: ValidationInfo) -> int:
        # The alerts measure an objective on vLLM's fixed histogram buckets: one below the first
        # boundary can't be measured (docs/design/llm-slo.md).
        histogram = {"ttft_p95_ms": "time_to_first_token_seconds", "tpot_p95_ms": "inter_token_latency_seconds"}[info.field_name]
        buckets = catalog.llms().vllm_histograms
        if buckets.at_or_below(histogram, value / 1000) is None:
            first = getattr(buckets, histogram)[0] * 1000
            raise PydanticCustomError(
                "objective_below_histogram", "vLLM's `vllm:{histogram}` histogram starts at {first:g} ms: an objective below it can't be measured; raise it to at least {first:g}",
                {"histogram": histogram, "first": first},
            )
        return value

    @model_validator(mode="after")
    def _request_within_context(self) -> Llm:
        # vLLM refuses a request whose prompt and output exceed `--max-model-len` (the context).
        asked = self.output_tokens_per_request + (self.prompt_tokens_per_request or 0)
        if asked > self.context_length:
            key = "promptTokensPerRequest" if self.prompt_tokens_per_request is not None else "outputTokensPerRequest"
            message = f"a mean request of {asked} tokens (prompt and output) is longer than the {self.context_length}-token `contextLength` vLLM is started with; lower it or raise `contextLength`"
            raise _at("Llm", [(key, "request_beyond_context", message, getattr(self, "prompt_tokens_per_request" if key.startswith("prompt") else "output_tokens_per_request"))])
        return self

    @property
    def measured_at(self) -> tuple[float, float]:
        """The boundaries (seconds) of vLLM's TTFT and inter-token histograms the objectives are
        measured at: each the one at or below its objective (docs/design/llm-slo.md)."""
        buckets = catalog.llms().vllm_histograms
        return buckets.at_or_below("time_to_first_token_seconds", self.ttft_p95_ms / 1000), buckets.at_or_below("inter_token_latency_seconds", self.tpot_p95_ms / 1000)

    def shape(self) -> catalog.LlmArchitecture | ArchitectureShape:
        """The architecture's values: from llms.yaml by name, or as the stack file gives them."""
        return _shape(self.architecture)


def _shape(architecture: str | ArchitectureShape) -> catalog.LlmArchitecture | ArchitectureShape:
    return catalog.llms().architectures[architecture] if isinstance(architecture, str) else architecture


def _at(model: str, problems: list[tuple[str, str, str, Any]]) -> ValidationError:
    """Problems of a model's keys found across its fields, each at its own key (`(key, type,
    message, value)`): pydantic places them under the model's path like any field error."""
    return ValidationError.from_exception_data(model, [InitErrorDetails(type=PydanticCustomError(kind, message), loc=(key,), input=value) for key, kind, message, value in problems])


class ServedModel(Model):
    """A model served with KServe (RawDeployment) from the stack's catalog."""

    name: DnsLabel = Field(examples=["chest-xray"], description="InferenceService name.")
    team: DnsLabel = Field(examples=["radiology"], description="Team that owns it; it runs in that team's namespace, under its quota.")
    model_format: Literal["triton", "onnx", "pytorch", "tensorflow", "huggingface", "sklearn", "xgboost"] = Field(
        default="triton", description="KServe model format (selects the serving runtime)."
    )
    storage_uri: str | None = Field(
        default=None,
        examples=["s3://models/chest-xray/v3"], json_schema_extra=PLACEHOLDER,
        pattern=r"^(s3|gs|pvc|https|oci|hf)://",
        description="Where KServe fetches the model from; or name a `registry` version instead (SOX and HIPAA production models must).",
    )
    registry: RegistryRef | None = Field(
        default=None,
        description="A version of the stack's MLflow registry (`{model, version}`) to serve instead of a raw `storageUri`: the plan resolves it to "
        "the registry's artifact location and records the version, so promoting a model is a one-line change the review shows (`v12 → v13`).",
    )
    gpu_memory_gb: float | None = Field(
        default=None, gt=0, examples=[18], json_schema_extra={"suggest": True}, description="GPU memory one replica needs (an LLM's is sized from its `llm` block instead)."
    )
    peak_rps: float = Field(gt=0, examples=[120], description="Peak requests per second.")
    throughput_rps: float | None = Field(
        default=None,
        gt=0,
        examples=[40],
        json_schema_extra={"suggest": True},
        description="Requests per second one replica sustains within the latency objective (measured, at p99); an LLM states `llm.outputTokensPerSecond` instead.",
    )
    latency_objective_ms: int | None = Field(
        default=None,
        ge=1,
        le=60000,
        examples=[50],
        description="p99 latency objective of the model; its own alert fires when it is exceeded for 10 minutes. Default: `monitoring.latencyObjectiveMs`. "
        "An LLM's objectives are `llm.ttftP95Ms` and `llm.tpotP95Ms`.",
    )
    decision_log: bool = Field(
        default=True,
        description="Every request and response of the model goes to the decision sink (KServe's logger, mode `all`); "
        "SOX and HIPAA stacks can't turn it off.",
    )
    drift: ModelDrift = Field(
        default_factory=ModelDrift,
        description="How the model's decisions are checked against its training baseline and latency objective, where the stack keeps its decisions "
        "write-once and has MLflow (a `registry` model that logs its decisions): threshold, window and schedule. See [audit](audit.md#drift-and-latency-per-model-version).",
    )
    isolation: Literal["mig", "whole-gpu"] = Field(default="mig", description="`mig`: a hardware-isolated slice is enough; `whole-gpu`: a GPU of its own.")
    production: bool = Field(default=True, description="Production models keep at least two replicas, spread over nodes, with a disruption budget.")
    clusters: list[DnsLabel] | None = Field(
        default=None,
        examples=[["dc1", "dc2"]],
        description="Where `onprem` lists several clusters: the `primary` and `active` clusters serving the model. Default: every one of them "
        "its team is on. Each serving cluster is sized for its share of the peak with one of them lost (docs/multi-site.md).",
    )
    critical: bool = Field(
        default=False,
        description="The model must survive the loss of its site: the stack's `dr` clusters hold a standby of it (warm or cold, as the site says), "
        "sized for its whole peak.",
    )
    canary: Canary | None = Field(
        default=None,
        description="A canary version beside the stable one. The planner reserves slices for its replicas (its traffic share of the peak "
        "replicas, at least one), so the rollout never waits for quota. Needs `serving.gateway`.",
    )
    llm: Llm | None = Field(
        default=None,
        description="The model is a large language model served with vLLM: the capacity plan sizes its GPUs from its architecture, dtype, context "
        "and concurrency, and its replicas from output tokens per second, so it gives neither `gpuMemoryGb` nor `throughputRps`. Its weights come from "
        "`registry`, or `storageUri` (`oci://` for a ModelCar image, `s3://` or `gs://` for an object store, `pvc://`).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServedModel:
        if (self.storage_uri is None) == (self.registry is None):
            raise PydanticCustomError("model_source", "name where the model comes from: `registry: {model, version}` or `storageUri`, one of them")
        return self

    @model_validator(mode="after")
    def _sized_once(self) -> ServedModel:
        # An LLM's memory and throughput come from its `llm` block; any other model states both.
        given = {"gpuMemoryGb": self.gpu_memory_gb, "throughputRps": self.throughput_rps, "latencyObjectiveMs": self.latency_objective_ms}
        if self.llm is not None:
            instead = {"gpuMemoryGb": "the plan sizes its GPUs from `llm`", "throughputRps": "it states `llm.outputTokensPerSecond`", "latencyObjectiveMs": "its objectives are `llm.ttftP95Ms` and `llm.tpotP95Ms`"}
            problems = [(key, "llm_sized", f"an LLM's is derived ({instead[key]}): remove it", value) for key, value in given.items() if value is not None]
        else:
            problems = [(key, "missing", "required key is missing; add it (or describe the model as an `llm`)", None) for key in ("gpuMemoryGb", "throughputRps") if given[key] is None]
        if problems:
            raise _at("ServedModel", problems)
        return self

    @property
    def min_replicas(self) -> int:
        """Replicas it keeps off-peak: two for a production model, so one node's loss or drain never
        stops serving; one otherwise."""
        return 2 if self.production else 1

    def objective_ms(self, default_ms: int) -> int:
        """Its p99 latency objective: its own, else the stack's (`monitoring.latencyObjectiveMs`,
        `default_ms`). Its alert and its autoscaler's in-flight target both read it."""
        return self.latency_objective_ms or default_ms


class TrainingJob(Model):
    """A recurring training run: how much GPU time it takes each week and how soon it must finish."""

    name: DnsLabel = Field(examples=["fraud-retrain"], description="Job name (for reports and errors).")
    team: DnsLabel = Field(
        examples=["fraud"],
        description="Team that runs it. A team of the on-prem cluster trains on the whole GPUs left there after "
        "inference; in hybrid stacks, a job that doesn't fit on-prem overflows to the cloud team of the same name, "
        "and sizes the burst pool.",
    )
    gpu_hours_per_week: float = Field(gt=0, examples=[1536], description="GPU-hours the run takes each week.")
    deadline_hours: float = Field(gt=0, le=168, examples=[48], description="Hours within which the run must finish once started.")
    gpu_memory_gb: float | None = Field(
        default=None,
        gt=0,
        examples=[80],
        description="Memory each of its GPUs must have (what the run is sharded for); it runs only on pools and cloud node groups "
        "whose GPUs have as much. Default: any GPU. Jobs select their GPUs with the node label `hybrid-ai.io/gpu-model`.",
    )
    image: DigestImage | None = Field(
        default=None,
        examples=["registry.bank.example/fraud/train@sha256:" + "0" * 64], json_schema_extra=PLACEHOLDER,
        description="Training image, pinned by digest (the digest is recorded as the model's lineage). With it, the platform runs the job: "
        "a WorkflowTemplate in the team's namespace on the cluster the capacity plan chose submits it as a JobSet to the team's LocalQueue. "
        "Without it the job only sizes capacity.",
    )
    command: list[str] = Field(default_factory=list, description="Entrypoint override of the training image (default: its entrypoint).")
    nodes: int = Field(default=1, ge=1, le=512, description="Pods (nodes) of the distributed run; each gets `gpusPerNode` GPUs.")
    gpus_per_node: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="GPUs each pod takes; `nodes × gpusPerNode` may not exceed what the capacity plan gives the job. Default: the plan's GPUs ÷ `nodes`.",
    )
    cpu_per_node: Quantity | None = Field(
        default=None, examples=["48"], description="CPU each pod requests (and is limited to); default: the team namespace's LimitRange default, far too small for real training."
    )
    memory_per_node: Quantity | None = Field(default=None, examples=["512Gi"], description="Memory each pod requests (and is limited to); default: the LimitRange default.")
    schedule: Schedule | None = Field(default=None, description="Scheduled retraining: train → evaluate → register, never two runs at once (needs `image`).")
    evaluation: Evaluation | None = Field(default=None, description="A gate between training and registration: the model is registered only if the metric passes.")
    data_version: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:/@-]{1,128}$",
        description="Version of the data the job trains on (a dataset tag or snapshot), recorded as lineage; default: the run's date.",
    )
    registered_model: DnsLabel | None = Field(
        default=None, description="Registry model a scheduled run registers its result as; default: the job's name."
    )
