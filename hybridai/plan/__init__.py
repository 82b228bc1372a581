"""Offline plan: run the real Pulumi program in-process under the SDK's mock monitor, record every
registration, and write reviewable artifacts."""
from hybridai.plan.engine import Plan, PlanError, run_plan
from hybridai.recorded import Resource

__all__ = ["Plan", "PlanError", "Resource", "run_plan"]
