"""The `gpuHealth` block: GPU fault quarantine and drain on the on-prem cluster (NVSentinel)."""
from __future__ import annotations

from pydantic import Field

from hybridai.config.base import DnsLabel, Model

MAX_TRAINING_DRAIN_MINUTES = 1440
"""The longest a faulted node may hold its training pods: NVSentinel's node-drainer takes any
positive number of minutes (`deleteAfterTimeoutMinutes`, validated positive in its config.go); a day
is ours, because the node keeps a GPU the catalog says can't be trusted for that long."""


class GpuHealthSettings(Model):
    """What happens to a GPU node whose GPU faults, on the on-prem cluster (docs/operations.md#gpu-health)."""

    enabled: bool | None = Field(
        default=None,
        description="Run NVIDIA NVSentinel on the on-prem cluster: it turns GPU faults (DCGM health checks, XIDs in the "
        "kernel log) into node conditions and events, cordons the node and drains it by the drain policy below. Off: the "
        "XID alerts still page, and on-call cordons and drains by hand. Default: on where the stack has `tls` — NVSentinel's "
        "MongoDB store takes its certificates from cert-manager, which `tls` installs.",
    )
    namespace: DnsLabel = Field(default="nvsentinel", description="Namespace NVSentinel runs in (privileged: its monitors read the host's kernel log).")
    training_drain_minutes: int = Field(
        default=60,
        ge=1,
        le=MAX_TRAINING_DRAIN_MINUTES,
        description="Minutes a faulted node's training pods get to finish or checkpoint and exit before they are deleted "
        "(NVSentinel's `DeleteAfterTimeout` for the training teams' namespaces, counted from the fault). Serving pods are "
        "evicted at once through the Eviction API, which keeps each production model at its PodDisruptionBudget.",
        examples=[120],
    )

    def runs(self, has_tls: bool) -> bool:
        """Whether NVSentinel runs: as the stack says, else wherever cert-manager does (`tls`)."""
        return has_tls if self.enabled is None else self.enabled
