"""The `gpuHealth` block: GPU fault quarantine and drain on the on-prem cluster (NVSentinel)."""
from __future__ import annotations

from pydantic import Field

from hybridai.config.base import DnsLabel, Model

MAX_TRAINING_DRAIN_MINUTES = 1440
"""The longest a faulted node may hold its training pods: NVSentinel's node-drainer takes any
positive number of minutes (`deleteAfterTimeoutMinutes`, validated positive in its config.go); a day
is ours, because the node keeps a GPU the catalog says can't be trusted for that long."""


MAX_DIAG_LEVEL = 4
"""DCGM's deepest diagnostic: `dcgmi diag -r` takes 1 (quick, seconds), 2 (medium, about two
minutes), 3 (long, about half an hour) or 4 (extended, an hour or more); no other level exists."""


class BurnInSettings(Model):
    """How a new GPU node proves its GPUs before it takes work (docs/operations.md#burn-in)."""

    enabled: bool = Field(
        default=True,
        description="Burn new GPU nodes in: they join with the taint `hybrid-ai.io/burn-in=pending:NoSchedule` (Karpenter's "
        "`startupTaints` on the cloud NodePools; on-prem, the node's kubelet registers with it), a Job per node runs DCGM "
        "diagnostics and, where the GPU model and interconnect have a floor in hybridai/data/gpu-health.yaml, an NCCL "
        "all-reduce; a pass removes the taint, a failure sets it to `failed` and alerts. Off: new nodes take work at once.",
    )
    namespace: DnsLabel = Field(default="gpu-burn-in", description="Namespace the burn-in runs in (privileged: DCGM's diagnostic runs as root with `SYS_ADMIN`).")
    diag_level: int = Field(
        default=3,
        ge=1,
        le=MAX_DIAG_LEVEL,
        description="DCGM diagnostic level (`dcgmi diag -r`): 1 quick (seconds; deployment and software checks), 2 medium "
        "(about 2 minutes; adds PCIe, memory and a short stress), 3 long (about 30 minutes; adds the targeted power and stress "
        "tests that find weak GPUs), 4 extended (an hour or more; adds memory bandwidth and the pulse test). Default 3: a new "
        "node is worth half an hour before it is trusted with a multi-day training run.",
        examples=[2],
    )


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

    burn_in: BurnInSettings = Field(default_factory=BurnInSettings, description="Burn-in of new GPU nodes (on-prem and the cloud burst pool) before they take work.")

    def runs(self, has_tls: bool) -> bool:
        """Whether NVSentinel runs: as the stack says, else wherever cert-manager does (`tls`)."""
        return has_tls if self.enabled is None else self.enabled
