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
    velero = f"velero --namespace {namespace}"
    rows = "\n".join(
        f"| `{s.name}` | {', '.join(f'`{n}`' for n in s.namespaces)} | every {s.every_hours:g} h | {_days(s.ttl_hours)} | {s.volumes} |" for s in planned
    )
    teams = [s for s in planned if s.name != "platform"]
    example = teams[0] if teams else planned[0]
    ns = example.namespaces[0]
    per_schedule = "\n".join(f"{velero} restore create --from-schedule {s.name} --wait" for s in planned)
    return f"""# Restoring cluster `{cluster}`

Written by `hybridai plan` from the Velero objects it creates on this cluster; how backups work and
why: docs/backups.md in the project. Run these commands with the `velero` CLI (the version of the
server, 1.18) against this cluster's kubeconfig context.

## What is backed up

Velero in namespace `{namespace}` writes every backup to {_where(location)}.

| schedule | namespaces | runs | kept | volumes |
|---|---|---|---|---|
{rows}

`file-system`: volumes are copied file by file by Velero's node agent into the same store;
`csi-snapshot`: volumes are CSI snapshots of the cluster's storage.

## Which backups exist

```sh
{velero} backup-location get                     # the location must be Available
{velero} schedule get
{velero} backup get --selector velero.io/schedule-name={example.name}
{velero} backup describe <backup> --details       # what a backup holds, volumes included
```

A lost cluster rebuilt with `pulumi up` gets the same location back; Velero then lists the backups
already in the store within a minute (its backup sync).

## Restore one namespace

From the latest backup of its schedule (here `{ns}`, schedule `{example.name}`); pick an older one
from `backup get` with `--from-backup <backup>` instead of `--from-schedule`:

```sh
{velero} restore create --from-schedule {example.name} --include-namespaces {ns} --wait
{velero} restore describe <restore> --details
```

Velero never overwrites what exists: delete the broken objects (or the whole namespace) first, or
restore into a new namespace to compare: `--namespace-mappings {ns}:{ns}-restored`. A volume's data
comes back with its claim and the pod that mounts it: a claim that still exists (even empty) is
skipped, so delete the claims to restore together with their workloads.

## Restore the whole platform

After `pulumi up` has rebuilt the cluster (namespaces, Velero and its location), delete the new,
empty claims whose data is to come back (and scale their workloads to zero), then restore every
schedule's latest backup, the platform's first:

```sh
{per_schedule}
```

## Check

```sh
{velero} restore get
kubectl get pvc --all-namespaces   # every claim Bound
```

A restore that ends `PartiallyFailed` lists what it skipped in `velero restore describe --details`.
"""


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
