"""Compliance evidence by control (docs/compliance-evidence.md): what implements each control of
the stack's frameworks, how the plan's policy checks prove it, and the values that matter —
controls.json, OSCAL, a report, and a manifest of the plan folder."""
from hybridai.evidence.assess import MANUAL, NOT_SATISFIED, SATISFIED, assess, frameworks_of
from hybridai.evidence.parameters import Inputs

__all__ = ["MANUAL", "NOT_SATISFIED", "SATISFIED", "Inputs", "assess", "frameworks_of"]
