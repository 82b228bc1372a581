"""Drift and latency per model version, from the decision trail: how each served model is watched
(`models[].drift`) and what the stack's drift check reads with (`logging.decisions.drift`, hybridai/config/decisions.py).

A scheduled check (an Argo CronWorkflow beside the decision sink, modules/drift_monitor.py) samples a
window of each model version's decisions from the write-once archive, compares their input features
with the baseline the training workflow recorded for that registry version (the population
stability index of each feature, computed with numpy), and takes the p95 of their latency; the
values are Prometheus metrics with alerts (docs/audit.md)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field

from hybridai.config.base import Model
from hybridai.config.decisions import ARCHIVE_BATCH_SECONDS
from hybridai.config.mlops import Schedule

PSI_BINS = 10
"""A baseline bins each feature at its training deciles (and keeps a bin below and one above the
training range): the binning PSI is conventionally computed on."""
PSI_EPSILON = 1e-4
"""The share a bin without values counts as on either side, so the index stays finite when
decisions fall where training had none (or the reverse)."""
DEFAULT_THRESHOLD = 0.25
"""The conventional credit-scoring reading of the index: under 0.1 no real change, 0.1–0.25 a
moderate shift to watch, above 0.25 a significant one the model should be reviewed (or retrained) for."""
MIN_WINDOW_MINUTES = ARCHIVE_BATCH_SECONDS // 60
"""The sink writes an archive object every 10 minutes at most: a shorter window could hold none."""
MAX_WINDOW_MINUTES = 7 * 24 * 60
"""A week: it covers weekly seasonality; a longer trend is read from the weekly values' history."""
CHECK_LAG_SECONDS = ARCHIVE_BATCH_SECONDS + 300
"""The window ends this long before the check runs: every decision of it has reached the archive by
then (an object is written at most 10 minutes after its first record, plus 5 for a store's retries)."""


def psi_ceiling(bins: int = PSI_BINS, epsilon: float = PSI_EPSILON) -> float:
    """The largest index a feature binned at deciles can reach: every decision in a bin training
    never filled (below or above its range). A threshold at or above it could never fire."""
    share = 1 / bins
    return (1 - epsilon) * math.log(1 / epsilon) + bins * (share - epsilon) * math.log(share / epsilon)


def _hourly() -> Schedule:
    return Schedule(cron="0 * * * *")


class ModelDrift(Model):
    """How one served model's decisions are checked against its training baseline: where the stack
    keeps its decisions write-once and has MLflow, every decision-logged model served from a
    `registry` version is checked on this schedule (docs/audit.md)."""

    threshold: float = Field(
        default=DEFAULT_THRESHOLD,
        gt=0,
        lt=psi_ceiling(),
        description="Population stability index above which a feature's inputs have drifted from training: the alert `ModelInputDrift` "
        "fires when the largest of the model's features passes it. Default 0.25 (the conventional 'significant shift'; 0.1 marks a "
        f"moderate one); below {psi_ceiling():.1f}, the most a decile-binned feature can reach.",
    )
    window_minutes: int = Field(
        default=60,
        ge=MIN_WINDOW_MINUTES,
        le=MAX_WINDOW_MINUTES,
        description=f"Minutes of decisions each check reads, ending {CHECK_LAG_SECONDS // 60} minutes before it runs (when all of them are in the archive). "
        f"Default 60, a window per hourly check; at least {MIN_WINDOW_MINUTES} (the sink writes an archive object every {MIN_WINDOW_MINUTES} minutes), at most a week.",
    )
    schedule: Schedule = Field(
        default_factory=_hourly,
        description="When the check runs (five-field cron in an IANA time zone); default hourly (`0 * * * *`, UTC), so a broken input pipeline "
        "shows within the hour. Models with the same schedule and window are checked by one run.",
    )

    def longest_gap_seconds(self) -> int:
        """The longest time between two scheduled checks: over the first 400 runs within a year from
        2026-01-01 in the schedule's zone (a fixed start, so every plan reads the same)."""
        start = datetime(2026, 1, 1, tzinfo=ZoneInfo(self.schedule.time_zone))
        runs = croniter(self.schedule.cron, start)
        times: list[datetime] = []
        for _ in range(400):
            time = runs.get_next(datetime)
            if times and time - times[0] > timedelta(days=366):
                break
            times.append(time)
        gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
        return int(max(gaps)) if gaps else 366 * 24 * 3600
