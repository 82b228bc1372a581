"""The inference catalog of an on-prem cluster: models, their load, and how isolated they must be."""
from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field

from hybridai import catalog
from hybridai.capacity.planner import WHOLE, InferenceDemand
from hybridai.config.base import DnsLabel, Model, Problem
from hybridai.config.components import OnpremCluster, Team


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
    throughput_rps: float = Field(gt=0, examples=[40], description="Requests per second one replica sustains within the latency objective.")
    isolation: Literal["mig", "whole-gpu"] = Field(default="mig", description="`mig`: a hardware-isolated slice is enough; `whole-gpu`: a GPU of its own.")
    production: bool = Field(default=True, description="Production models keep at least two replicas, spread over nodes, with a disruption budget.")

    def demand(self) -> InferenceDemand:
        return InferenceDemand(self.name, self.team, self.gpu_memory_gb, self.peak_rps, self.throughput_rps, self.isolation, self.production)


def _slice_in(pool, demand: InferenceDemand) -> str | None:
    """The smallest slice a pool offers that holds a replica: a profile of its MIG layout (for
    `mig` isolation), or a whole GPU of a pool without MIG."""
    model = catalog.gpus().models[pool.gpu_model]
    if not pool.mig:
        return WHOLE if demand.gpu_memory_gb <= model.memory_gb else None
    if demand.isolation == "whole-gpu":
        return None
    fitting = [(model.mig.profiles[p].compute, p) for p in pool.mig if model.mig.profiles[p].memory_gb >= demand.gpu_memory_gb]
    return min(fitting)[1] if fitting else None


def serving_plan(cluster: OnpremCluster, models: list[ServedModel]) -> dict[str, tuple[str, int]]:
    """Model → (slice, replicas) on the first pool that offers a slice holding a replica."""
    plan = {}
    for m in models:
        demand = m.demand()
        usable = [s for s in (_slice_in(pool, demand) for pool in cluster.gpu_pools) if s is not None]
        if usable:
            plan[m.name] = (usable[0], demand.replicas)
    return plan


def check_serving(cluster: OnpremCluster, teams: list[Team], models: list[ServedModel], mig_strategy: str) -> list[Problem]:
    """Every model has a team, a pool that can hold it, and room in its team's quota."""
    problems: list[Problem] = []
    by_team = {t.name: t for t in teams}
    plan = serving_plan(cluster, models)
    need: dict[str, Counter] = {}
    for i, m in enumerate(models):
        if m.team not in by_team:
            problems.append(Problem(("models", i, "team"), "team_unknown", f"no team {m.team} in `teams`", m.team))
            continue
        if m.name not in plan:
            problems.append(Problem(("models", i, "gpuMemoryGb"), "model_unplaceable", "no pool of the cluster offers a MIG slice or whole GPU that holds a replica; add a layout with a larger profile or a whole-GPU pool", m.gpu_memory_gb))
            continue
        profile, replicas = plan[m.name]
        resource = "gpu" if profile == WHOLE or mig_strategy == "single" else profile
        need.setdefault(m.team, Counter())[resource] += replicas
    for i, m in enumerate(models):
        team = by_team.get(m.team)
        if team is None or m.name not in plan:
            continue
        profile, _ = plan[m.name]
        resource = "gpu" if profile == WHOLE or mig_strategy == "single" else profile
        allowed = team.quota.gpus if resource == "gpu" else team.quota.mig.get(resource, 0)
        if need[m.team][resource] > allowed:
            unit = "GPUs" if resource == "gpu" else f"× {resource}"
            problems.append(
                Problem(
                    ("models", i, "peakRps"),
                    "quota_too_small",
                    f"team {m.team}'s models need {need[m.team][resource]} {unit} at peak but its quota allows {allowed}; raise the quota or lower the load",
                    m.peak_rps,
                )
            )
    return problems
