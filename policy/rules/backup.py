"""Backup rules: production stacks back up every namespace holding data, within the profiles'
recovery point objective and retention, to locations that are encrypted and in the stack's
jurisdiction (docs/backups.md)."""
from __future__ import annotations

from typing import Iterator
from urllib.parse import urlsplit

from hybridai.config import Problem, StackSpec
from hybridai.recorded import BACKUP_LOCATION_TYPE, cloud_store_host, covering_schedules, schedules, stateful_namespaces
from hybridai.policy.rules.base import Finding, PolicyContext, Resource, metadata, of_type, rule


def _namespace_urns(resources: list[Resource]) -> dict[tuple[str, str], str]:
    """(target, namespace) → the URN a finding about it points at: the Namespace object, if the plan has one."""
    urns: dict[tuple[str, str], str] = {}
    for r in resources:
        m = metadata(r)
        key = (r.get("target"), m.get("name") if r["inputs"].get("kind") == "Namespace" else m.get("namespace"))
        if key[1] and (key not in urns or r["inputs"].get("kind") == "Namespace"):
            urns[key] = r["urn"]
    return urns


def _edge_sites_backed_up(spec: StackSpec) -> Iterator[Problem]:
    """Ahead of the plan: a prod stack's `backups.sites` lists every edge site, since each holds
    data (its model cache volume, its protected monitoring namespace: modules/edge_site.py)."""
    if spec.environment != "prod" or spec.backups is None:
        return
    missing = [site.name for site in spec.edge_sites() if site.name not in spec.backups.sites]
    if missing:
        yield Problem(
            ("backups", "sites"), "site_not_backed_up",
            f"a prod stack backs up every namespace holding data (policy rule backup-stateful-namespaces), and every edge site holds some "
            f"(its model cache, its monitoring): add {', '.join(missing)}",
            list(spec.backups.sites),
        )


@rule(
    "backup-stateful-namespaces",
    "Production stacks back up every namespace holding data (PVCs, StatefulSets, protected namespaces) with a Velero schedule within the profiles' RPO and retention",
    ahead=_edge_sites_backed_up,
)
def stateful_backed_up(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    if not ctx.production:
        return
    urns = _namespace_urns(resources)
    why = stateful_namespaces(resources)
    for (target, namespace), found in sorted(covering_schedules(resources).items()):
        urn = urns.get((target, namespace), f"{target}/{namespace}")
        if not found:
            yield Finding(urn, f"namespace {namespace} on {target} holds data ({why[(target, namespace)]}) but no Velero schedule backs it up")
            continue
        rpo, keep = ctx.backup_rpo_hours, ctx.backup_retention_days
        if rpo is not None and not any(s.every_hours is not None and s.every_hours <= rpo for s in found):
            yield Finding(urn, f"namespace {namespace} on {target}: no schedule backing it up runs at least every {rpo} h (the profiles' RPO)")
        if keep is not None and not any(s.ttl_hours is not None and s.ttl_hours >= keep * 24 for s in found):
            yield Finding(urn, f"namespace {namespace} on {target}: no schedule backing it up keeps its backups {keep} days (the profiles' least retention)")


@rule(
    "backup-every-namespace",
    "On every cluster Velero backs up, each namespace the stack creates is in one of its schedules (Velero's own excepted: `pulumi up` rebuilds it before any restore)",
)
def every_namespace(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    # Per cluster (placement), not per target: a GitOps site's Argo CD is bootstrapped through a
    # target of its own onto the site's cluster, and the site's Velero backs it up.
    placement_of = {r.get("target"): r.get("placement") for r in resources if r.get("target")}
    covered: dict[str | None, set[str]] = {}
    for s in schedules(resources):
        covered.setdefault(placement_of.get(s.target), set()).update(s.namespaces)
    velero = {r.get("placement"): metadata(r).get("namespace") for r in of_type(resources, BACKUP_LOCATION_TYPE)}
    for r in of_type(resources, "kubernetes:core/v1:Namespace"):
        placement, name = r.get("placement"), metadata(r).get("name")
        backed_up = covered.get(placement)
        if backed_up is None or name == velero.get(placement) or name in backed_up or "*" in backed_up:
            continue
        yield Finding(r["urn"], f"namespace {name} on {placement} is in none of the cluster's Velero schedules: a restore of the cluster would lose what it holds")


@rule("backup-locations-encrypted-in-jurisdiction", "Backup storage locations are encrypted at rest, reached over TLS, and in the stack's jurisdiction (on-prem stores stay on the premises)")
def locations(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, BACKUP_LOCATION_TYPE):
        name = f"BackupStorageLocation {metadata(r).get('name')} on {r.get('target')}"
        config = (r["inputs"].get("spec") or {}).get("config") or {}
        if config.get("s3Url"):
            scheme = urlsplit(config["s3Url"]).scheme
            if scheme != "https":
                yield Finding(r["urn"], f"{name} reaches its store over {scheme or 'no scheme'}, not https")
            if host := cloud_store_host(config["s3Url"]):
                yield Finding(r["urn"], f"{name} sends {r.get('placement')} backups to AWS ({host}): on-prem and edge backups stay on the premises")
            if not config.get("serverSideEncryption") and not config.get("kmsKeyId"):
                yield Finding(r["urn"], f"{name} doesn't ask its store to encrypt backups (serverSideEncryption)")
        else:
            if config.get("region") not in ctx.allowed_regions:
                yield Finding(r["urn"], f"{name} keeps backups in {config.get('region')!r}, outside the allowed regions {', '.join(ctx.allowed_regions) or '(none)'}")
            if not config.get("kmsKeyId"):
                yield Finding(r["urn"], f"{name} keeps backups in S3 without the stack's KMS key (kmsKeyId)")
