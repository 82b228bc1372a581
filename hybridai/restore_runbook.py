"""Restore runbook per backed-up cluster: `restore/<cluster>/runbook.md`.

Written from the plan's own records (the Velero Schedules and BackupStorageLocation it creates,
read through hybridai/recorded.py), so the runbook names exactly the schedules, namespaces, store
and retention the cluster gets: which backups exist and how to list them, the `velero restore
create` commands for one namespace and for the whole platform, and how to check a restore
(docs/backups.md).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from hybridai.recorded import BACKUP_LOCATION_TYPE, RecordedSchedule, schedules
from hybridai.rendering import template

FOLDER = "restore"
RUNBOOK = "runbook.md"


def _location(records: list[dict[str, Any]], target: str) -> tuple[str, dict[str, Any]]:
    """(Velero's namespace, the location's spec) on `target`."""
    for r in records:
        if r["type"] == BACKUP_LOCATION_TYPE and r.get("target") == target:
            return (r["inputs"].get("metadata") or {}).get("namespace", "velero"), r["inputs"].get("spec") or {}
    return "velero", {}


def _where(spec: dict[str, Any]) -> str:
    storage, config = spec.get("objectStorage") or {}, spec.get("config") or {}
    place = f"the on-prem object store {config['s3Url']}" if config.get("s3Url") else f"AWS S3 in {config.get('region', '?')}, encrypted with the KMS key `{config.get('kmsKeyId', '?')}`"
    return f"bucket `{storage.get('bucket', '?')}`, prefix `{storage.get('prefix', '')}`, on {place}"


def _days(hours: float | None) -> str:
    return "?" if hours is None else f"{hours / 24:g} days"


def runbook(cluster: str, namespace: str, location: dict[str, Any], planned: list[RecordedSchedule]) -> str:
    """The runbook of `cluster`: its Velero in `namespace`, writing to `location`, on the `planned`
    schedules (the platform's and a team's, whose first namespace the one-namespace example uses)."""
    teams = [s for s in planned if s.name != "platform"]
    example = teams[0] if teams else planned[0]
    rows = [f"| `{s.name}` | {', '.join(f'`{n}`' for n in s.namespaces)} | every {s.every_hours:g} h | {_days(s.ttl_hours)} | {s.volumes} |" for s in planned]
    return template("runbook.md.j2").render(
        cluster=cluster, namespace=namespace, where=_where(location), rows="\n".join(rows), velero=f"velero --namespace {namespace}", example=example, ns=example.namespaces[0], schedules=planned
    )


def render(records: Iterable[dict[str, Any]]) -> dict[Path, str]:
    """`restore/<cluster>/runbook.md` for every cluster the plan gives Velero schedules."""
    records = list(records)
    by_target: dict[str, list[RecordedSchedule]] = defaultdict(list)
    for schedule in schedules(records):
        by_target[schedule.target].append(schedule)
    files: dict[Path, str] = {}
    for target in sorted(by_target):
        planned = sorted(by_target[target], key=lambda s: (s.name != "platform", s.name))
        namespace, location = _location(records, target)
        files[Path(FOLDER, target, RUNBOOK)] = runbook(target, namespace, location, planned)
    return files
