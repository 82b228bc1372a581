"""Blueprint registry: each industry blueprint, its stack spec and the function that builds it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hybridai.blueprints import finance_hybrid, healthcare_onprem, manufacturing_edge
from hybridai.capacity import CapacityPlan
from hybridai.config.finance import FinanceHybridSpec
from hybridai.config.healthcare import HealthcareOnpremSpec
from hybridai.config.manufacturing import ManufacturingEdgeSpec
from hybridai.config.spec import StackSpec


@dataclass(frozen=True)
class Blueprint:
    name: str
    spec: type[StackSpec]
    build: Callable[[StackSpec, CapacityPlan], None]

    @property
    def summary(self) -> str:
        return self.spec.summary


BLUEPRINTS: dict[str, Blueprint] = {
    bp.name: bp
    for bp in [
        Blueprint("finance-hybrid", FinanceHybridSpec, finance_hybrid.build),
        Blueprint("healthcare-onprem", HealthcareOnpremSpec, healthcare_onprem.build),
        Blueprint("manufacturing-edge", ManufacturingEdgeSpec, manufacturing_edge.build),
    ]
}

SPECS: dict[str, type[StackSpec]] = {name: bp.spec for name, bp in BLUEPRINTS.items()}
