"""The workload catalog of a stack — models served with KServe, weekly training jobs — as values.
What they make of the GPUs (replicas, slices, layouts, quotas, overflow) is decided in
hybridai/capacity from these."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybridai.config.base import DnsLabel, Model


class Canary(Model):
    """A new version of a model taking a share of its traffic before it replaces the stable one."""

    storage_uri: str = Field(examples=["s3://models/chest-xray/v4"], pattern=r"^(s3|gs|pvc|https|oci|hf)://", description="Where KServe fetches the canary version from.")
    traffic_percent: int = Field(ge=1, le=99, examples=[10], description="Share of requests the canary receives (KServe splits traffic with Gateway API route weights).")


class ServedModel(Model):
    """A model served with KServe (RawDeployment) from the stack's catalog."""

    name: DnsLabel = Field(examples=["chest-xray"], description="InferenceService name.")
    team: DnsLabel = Field(examples=["radiology"], description="Team that owns it; it runs in that team's namespace, under its quota.")
    model_format: Literal["triton", "onnx", "pytorch", "tensorflow", "huggingface", "sklearn", "xgboost"] = Field(
        default="triton", description="KServe model format (selects the serving runtime)."
    )
    storage_uri: str = Field(examples=["s3://models/chest-xray/v3"], pattern=r"^(s3|gs|pvc|https|oci|hf)://", description="Where KServe fetches the model from.")
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
    isolation: Literal["mig", "whole-gpu"] = Field(default="mig", description="`mig`: a hardware-isolated slice is enough; `whole-gpu`: a GPU of its own.")
    production: bool = Field(default=True, description="Production models keep at least two replicas, spread over nodes, with a disruption budget.")
    canary: Canary | None = Field(
        default=None,
        description="A canary version beside the stable one. The planner reserves slices for its replicas (its traffic share of the peak "
        "replicas, at least one), so the rollout never waits for quota. Needs `serving.gateway`.",
    )


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
