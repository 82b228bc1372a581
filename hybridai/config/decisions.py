"""The decision sink's settings: where every served model's requests and responses are received,
buffered and written — to the write-once audit archive and Loki's `decision` stream — and what the
drift check beside it reads them back with (docs/audit.md; the models' own drift settings:
hybridai/config/drift.py)."""
from __future__ import annotations

from pydantic import Field

from hybridai.config.base import DnsLabel, Model

MIB = 1024 * 1024
VECTOR_MIN_DISK_BUFFER_BYTES = 268435488
"""The smallest disk buffer Vector 0.56 accepts (lib/vector-buffers/src/config.rs: "at least ~256
megabytes (268435488 bytes)", two 128 MiB data files and the ledger); it refuses to start below."""
ARCHIVE_BATCH_SECONDS = 600
"""The sink writes an archive object every 10 minutes at most (or 50 MB), as the collectors write
theirs: what a reader of the archive waits for."""
MIN_DECISIONS = 500
"""Values of a feature — among a window's decisions, and in a training reference — below which its
drift isn't computed: with B bins and n values the index of an unchanged distribution is about
(B − 1)/n from sampling alone, under 0.03 here, far below any sensible threshold. Latency is still
reported with fewer decisions."""
BUFFERED_SECONDS = 60
"""Each destination's buffer holds at least this long of the stack's peak decisions: a store or
Loki restart of a minute loses nothing and never holds up the models."""


class DriftCheckSettings(Model):
    """What the drift check reads with: a key that may only read the archive's decisions and an
    MLflow login for the baselines, both from Secrets in the decision sink's namespace (mounted as
    files, never environment variables), and how much it reads per run."""

    archive_reader_secret: DnsLabel = Field(
        default="decision-archive-reader",
        description="Secret (keys `access-key-id`, `secret-access-key`) in the decision sink's namespace holding a key that may only list and "
        "read `decision/<cluster>/` of the audit archive (`s3:ListBucket`, `s3:GetObject`): never the writer key, which can't read.",
    )
    mlflow_secret: DnsLabel = Field(
        default="drift-monitor-mlflow",
        description="Secret (keys `username`, `password`) in the decision sink's namespace holding the MLflow login the check reads baselines with: "
        "a user with READ on each served registered model and on the experiment that trained it, nothing else.",
    )
    max_decisions: int = Field(
        default=20000,
        ge=MIN_DECISIONS,
        le=500000,
        description=f"Decisions of each model version a check samples from its window (whole archive objects, in random order): "
        f"enough for a stable index and p95, bounded so a busy model's check stays minutes long. At least {MIN_DECISIONS}.",
    )
    max_read_mib: int = Field(
        default=4096,
        ge=64,
        le=262144,
        description="Archive objects (as stored, gzipped) a check reads at most per run: the objects hold every model of the cluster, so a "
        "rarely called model may need many; past this the check reports what it sampled.",
    )

    @property
    def max_read_bytes(self) -> int:
        """`maxReadMib` in bytes, as the check counts what it read."""
        return self.max_read_mib * 1024 * 1024


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
    drift: DriftCheckSettings = Field(
        default_factory=DriftCheckSettings,
        description="The drift check beside the sink (where the stack has MLflow): the Secrets it reads the archive and the baselines with, "
        "and how much it samples per run. See [audit](audit.md#drift-and-latency-per-model-version).",
    )

    @property
    def buffer_bytes(self) -> int:
        """One destination's disk buffer in bytes, as Vector takes it."""
        return self.buffer_mib * MIB

    def buffered_seconds(self, peak_rps: float) -> float:
        """How many seconds of decisions at `peak_rps` one buffer holds."""
        return self.buffer_bytes / (peak_rps * self.record_bytes)
