"""The values that matter to a control, by the names controls.yaml gives them: what an auditor
checks against the requirement (retention days, lock mode, key rotation, the TLS issuer, backup
schedules). Each is read from the plan's records (what will be deployed) or from the validated
stack spec (what the stack declares) — never parsed back out of an artifact."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from hybridai import recorded
from hybridai.config import StackSpec
from hybridai.recorded import NAMESPACE_TYPE


@dataclass(frozen=True)
class Inputs:
    """What the parameters are read from: the validated spec, the plan's records and its estimate."""

    spec: StackSpec
    records: list[dict[str, Any]]
    cost: dict[str, Any] | None


def _kind(r: dict[str, Any]) -> str | None:
    return r["inputs"].get("kind") if r["type"].startswith("kubernetes:") else None


def identity_groups(i: Inputs) -> dict[str, Any]:
    """The identity-provider group each team's namespace trusts (its Role's binding)."""
    return {"teams": {t.name: t.group for t in i.spec.all_teams()}}


def network_isolation(i: Inputs) -> dict[str, Any]:
    """Namespaces the stack creates, and how many of them a NetworkPolicy selects."""
    namespaces = {(r["target"], r["inputs"]["metadata"]["name"]) for r in i.records if r["type"] == NAMESPACE_TYPE}
    covered = {(r["target"], r["inputs"]["metadata"].get("namespace")) for r in i.records if _kind(r) == "NetworkPolicy"}
    return {"namespaces": len(namespaces), "with_network_policy": len(namespaces & covered)}


def kms_keys(i: Inputs) -> dict[str, Any]:
    """The stack's KMS keys: how many, how many rotate, their deletion windows."""
    keys = [r["inputs"] for r in i.records if r["type"] == "aws:kms/key:Key"]
    return {
        "keys": len(keys),
        "rotating": sum(bool(k.get("enableKeyRotation")) for k in keys),
        "deletion_window_days": sorted({k.get("deletionWindowInDays") for k in keys if k.get("deletionWindowInDays") is not None}),
    }


def credential_sources(i: Inputs) -> dict[str, Any]:
    """Where the platform's Secrets come from: per store (its kind), or Pulumi secrets."""
    stores = {s.name: "vault" if s.vault is not None else "aws-secrets-manager" for s in i.spec.secrets.stores}
    by = Counter(stores[s.store] if s.store else "pulumi-secrets" for s in i.spec.secrets.sources)
    return {"stores": dict(sorted(stores.items())), "sources_by_kind": dict(sorted(by.items()))}


def log_retention(i: Inputs) -> dict[str, Any]:
    """Days the log store keeps application logs and the audit stream (the profiles' or longer)."""
    retention = i.spec.log_retention()
    return {"application_days": retention.log_days, "audit_days": retention.audit_days}


def audit_archive(i: Inputs) -> dict[str, Any]:
    """The write-once archives: the on-prem store's declared Object Lock, the cloud buckets' locks."""
    out: dict[str, Any] = {}
    archive = i.spec.logging.audit_archive if i.spec.logging is not None else None
    if archive is not None:
        out["onprem"] = {"endpoint_host": urlsplit(archive.endpoint).hostname, "bucket": archive.bucket, "mode": archive.object_lock.mode, "days": archive.object_lock.retention_days}
    locks = []
    for r in i.records:
        if r["type"] == "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
            rule = (r["inputs"].get("rule") or {}).get("defaultRetention") or {}
            locks.append({"resource": r["name"], "mode": rule.get("mode"), "days": rule.get("days"), "years": rule.get("years")})
    if locks:
        out["cloud"] = sorted(locks, key=lambda lock: lock["resource"])
    return out


def decision_trail(i: Inputs) -> dict[str, Any]:
    """Where each served model's decisions go: the stack's sink, or the external override."""
    external = i.spec.external_decision_log()
    logged = {m.name: m.decision_log for m in i.spec.models}
    return {"sink": "external" if external else ("in-cluster" if i.spec.decision_sink() is not None else None), "models_logged": sum(logged.values()), "models": len(logged)}


def eks_audit(i: Inputs) -> dict[str, Any]:
    """The EKS control-plane log: its retention and whether its audit events reach the archive."""
    groups = [r["inputs"] for r in i.records if r["type"] == "aws:cloudwatch/logGroup:LogGroup"]
    filters = [r for r in i.records if r["type"] == "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter"]
    if not groups and not filters:
        return {}
    return {"log_retention_days": sorted({g.get("retentionInDays") for g in groups if g.get("retentionInDays")}), "archived": bool(filters)}


def tls(i: Inputs) -> dict[str, Any]:
    """The stack's certificate issuer and the serving Gateway's host names."""
    if i.spec.tls is None:
        return {"issuer": None}
    issuer = i.spec.tls.issuer
    return {"issuer": f"internal CA (Secret {issuer.ca.secret})" if issuer.ca else f"ClusterIssuer {issuer.existing}", "acme": i.spec.tls.acme is not None, "gateway_hosts": list(i.spec.tls.gateway_hosts)}


def backups(i: Inputs) -> dict[str, Any]:
    """What the profiles require of backups and each Velero schedule the plan creates."""
    required = i.spec.backup_policy()
    return {
        "required": {"rpo_hours": required.rpo_hours, "retention_days": required.retention_days},
        "schedules": [
            {"cluster": s.target, "name": s.name, "every_hours": s.every_hours, "kept_days": round(s.ttl_hours / 24, 1) if s.ttl_hours else None, "namespaces": len(s.namespaces)}
            for s in sorted(recorded.schedules(i.records), key=lambda s: (s.target, s.name))
        ],
    }


def registry_models(i: Inputs) -> dict[str, Any]:
    """Each model served from a registry version, and the models served from a raw storage URI."""
    served = recorded.served_versions(i.records)
    return {"from_registry": {where: f"{model} v{version}" for where, (model, version) in sorted(served.items())}, "from_storage_uri": sorted(m.name for m in i.spec.models if m.registry is None)}


def alerting(i: Inputs) -> dict[str, Any]:
    """Who receives critical alerts."""
    settings = i.spec.monitoring.alerting
    return {"critical_receiver": settings.critical, "receivers": len(settings.receivers)}


def jurisdiction(i: Inputs) -> dict[str, Any]:
    """The stack's jurisdiction and the cloud regions it allows."""
    return {"jurisdiction": getattr(i.spec, "jurisdiction", None), "allowed_regions": list(i.spec.allowed_regions())}


def cost(i: Inputs) -> dict[str, Any]:
    """The monthly estimate against the stack's ceiling."""
    if not i.cost:
        return {}
    return {"monthly_estimate_usd": round(i.cost["total"]["estimate"]), "monthly_ceiling_usd": i.spec.cost.monthly_ceiling_usd}


PARAMETERS: dict[str, Callable[[Inputs], dict[str, Any]]] = {
    "identity-groups": identity_groups,
    "network-isolation": network_isolation,
    "kms-keys": kms_keys,
    "credential-sources": credential_sources,
    "log-retention": log_retention,
    "audit-archive": audit_archive,
    "decision-trail": decision_trail,
    "eks-audit": eks_audit,
    "tls": tls,
    "backups": backups,
    "registry-models": registry_models,
    "alerting": alerting,
    "jurisdiction": jurisdiction,
    "cost": cost,
}
"""Every parameter a control may name (controls.yaml `parameters`), by name."""
