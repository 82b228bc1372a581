"""The decision sink's settings: where every served model's requests and responses are received,
buffered and written — to the write-once audit archive and Loki's `decision` stream (docs/audit.md)."""
from __future__ import annotations

from pydantic import Field

from hybridai.config.base import DnsLabel, Model

MIB = 1024 * 1024
VECTOR_MIN_DISK_BUFFER_BYTES = 268435488
"""The smallest disk buffer Vector 0.56 accepts (lib/vector-buffers/src/config.rs: "at least ~256
megabytes (268435488 bytes)", two 128 MiB data files and the ledger); it refuses to start below."""
BUFFERED_SECONDS = 60
"""Each destination's buffer holds at least this long of the stack's peak decisions: a store or
Loki restart of a minute loses nothing and never holds up the models."""


class DecisionSinkSettings(Model):
    """The decision sink (Vector, pinned) on the on-prem cluster serving the models: KServe's logger
    posts each request and response to it over https; it pairs them by their CloudEvent id, adds
    the model's registry version, team and cluster, and writes the record to the audit archive and
    to Loki. Provisioned where the stack serves models and has an audit archive."""

    namespace: DnsLabel = Field(default="decisions", description="Namespace of the decision sink (Pod Security restricted); only the serving teams' namespaces reach it.")
    buffer_mib: int = Field(
        default=4096,
        ge=-(-VECTOR_MIN_DISK_BUFFER_BYTES // MIB),
        le=1024 * 1024,
        description="Disk buffer of each destination (the archive, Loki), in MiB: records wait there while a destination is unreachable, "
        "and once it is full the sink stops taking records, so KServe's logger waits instead of anything being dropped. "
        f"At least Vector's minimum (257 MiB) and {BUFFERED_SECONDS} s of the catalog's peak decisions (`peakRps` × `recordBytes`).",
    )
    record_bytes: int = Field(
        default=16384,
        ge=256,
        le=64 * MIB,
        description="Average size of one decision record (request and response bodies with their attributes, before compression): sizes the buffers.",
    )
    storage_class: str | None = Field(default=None, description="StorageClass of the sink's volume (its disk buffers); default: the cluster's default class.")

    @property
    def buffer_bytes(self) -> int:
        """One destination's disk buffer in bytes, as Vector takes it."""
        return self.buffer_mib * MIB

    def buffered_seconds(self, peak_rps: float) -> float:
        """How many seconds of decisions at `peak_rps` one buffer holds."""
        return self.buffer_bytes / (peak_rps * self.record_bytes)
