"""GPU capacity planning: replicas, MIG profiles and layouts, team quotas, burst pool size."""
from hybridai.capacity.planner import (
    CapacityError,
    GpuPlan,
    InferenceDemand,
    Misfit,
    PoolInventory,
    TrainingDemand,
    lower_bound,
    pack,
    plan_inference,
)

__all__ = ["CapacityError", "GpuPlan", "InferenceDemand", "Misfit", "PoolInventory", "TrainingDemand", "lower_bound", "pack", "plan_inference"]
