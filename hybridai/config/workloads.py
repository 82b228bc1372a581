"""The workload catalog of a stack — models served with KServe, weekly training jobs — as values.
What they make of the GPUs (replicas, slices, layouts, quotas, overflow) is decided in
hybridai/capacity from these."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from hybridai.config.base import PLACEHOLDER, DnsLabel, Model, Quantity
from hybridai.config.drift import ModelDrift
from hybridai.config.mlops import DigestImage, Evaluation, RegistryRef, Schedule


class Canary(Model):
    """A new version of a model taking a share of its traffic before it replaces the stable one."""

    storage_uri: str = Field(examples=["s3://models/chest-xray/v4"], json_schema_extra=PLACEHOLDER, pattern=r"^(s3|gs|pvc|https|oci|hf)://", description="Where KServe fetches the canary version from.")
    traffic_percent: int = Field(ge=1, le=99, examples=[10], description="Share of requests the canary receives (KServe splits traffic with Gateway API route weights).")


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
    gpu_memory_gb: float = Field(gt=0, examples=[18], description="GPU memory one replica needs.")
    peak_rps: float = Field(gt=0, examples=[120], description="Peak requests per second.")
    throughput_rps: float = Field(gt=0, examples=[40], description="Requests per second one replica sustains within the latency objective (measured, at p99).")
    latency_objective_ms: int | None = Field(
        default=None,
        ge=1,
        le=60000,
        examples=[50],
        description="p99 latency objective of the model; its own alert fires when it is exceeded for 10 minutes. Default: `monitoring.latencyObjectiveMs`.",
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
    canary: Canary | None = Field(
        default=None,
        description="A canary version beside the stable one. The planner reserves slices for its replicas (its traffic share of the peak "
        "replicas, at least one), so the rollout never waits for quota. Needs `serving.gateway`.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServedModel:
        if (self.storage_uri is None) == (self.registry is None):
            raise PydanticCustomError("model_source", "name where the model comes from: `registry: {model, version}` or `storageUri`, one of them")
        return self

    @property
    def min_replicas(self) -> int:
        """Replicas it keeps off-peak: two for a production model, so one node's loss or drain never
        stops serving; one otherwise."""
        return 2 if self.production else 1


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
