"""Velero on each cluster: its values, location and schedules in the example plans, and its alerts
(parsed, `promtool check rules`, and fired — or quiet — on synthetic series with `promtool test rules`)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from hybridai.modules.backup import BackupArgs, BackupStoreArgs, ScheduleArgs, backup_alert_groups, velero_values
from hybridai.recorded import BACKUP_LOCATION_TYPE, SCHEDULE_TYPE
from tests.conftest import planned
from tests.helpers import of_kind, prepared, promtool, promtool_test


def records(stack: str) -> list[dict[str, Any]]:
    _, files = planned(stack)
    return json.loads(files[Path("resources.json")])["resources"]


def on(stack: str, target: str, type_: str) -> list[dict[str, Any]]:
    return [r for r in records(stack) if r["type"] == type_ and r["target"] == target]


def velero_release(stack: str, target: str) -> dict[str, Any]:
    [release] = [r for r in records(stack) if r["type"] == "kubernetes:helm.sh/v3:Release" and r["target"] == target and r["inputs"]["name"] == "velero"]
    return release


def test_onprem_velero_is_unprivileged_reads_its_keys_from_secrets_and_copies_volumes_with_the_node_agent() -> None:
    # GIVEN healthcare-prod's on-prem cluster (file-system backup, the default)
    release = velero_release("healthcare-prod", "dc1")
    values = release["inputs"]["values"]
    # THEN the pinned chart, in the velero namespace
    assert (release["inputs"]["version"], release["inputs"]["namespace"]) == ("12.1.0", "velero")
    # AND the server runs non-root, without capabilities, on a read-only root filesystem
    assert values["podSecurityContext"]["runAsNonRoot"] is True and values["podSecurityContext"]["runAsUser"] == 65532
    assert values["containerSecurityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    # AND no credential goes into a Secret the chart writes: the store's keys come from the stack's Secret
    assert values["credentials"] == {"useSecret": False}
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values["configuration"]["extraEnvVars"]}
    assert env == {"AWS_ACCESS_KEY_ID": {"name": "velero-object-store", "key": "access-key-id"}, "AWS_SECRET_ACCESS_KEY": {"name": "velero-object-store", "key": "secret-access-key"}}
    # AND the chart makes no location or schedule of its own (they are explicit objects)
    assert values["configuration"]["backupStorageLocation"] == [] and values["backupsEnabled"] is False and values["snapshotsEnabled"] is False
    # AND volumes go by file system: the node agent on every node, not privileged
    assert values["deployNodeAgent"] is True and values["configuration"]["defaultVolumesToFsBackup"] is True
    assert values["nodeAgent"]["containerSecurityContext"]["privileged"] is False
    assert values["nodeAgent"]["tolerations"] == [{"operator": "Exists"}]
    assert values["initContainers"][0]["image"] == "docker.io/velero/velero-plugin-for-aws:v1.14.0"


def test_onprem_location_stays_on_premises_encrypted_under_the_clusters_prefix() -> None:
    [location] = on("healthcare-prod", "dc1", BACKUP_LOCATION_TYPE)
    spec = location["inputs"]["spec"]
    assert spec["objectStorage"] == {"bucket": "hc-prod-backups", "prefix": "dc1"}
    assert spec["config"] == {"s3Url": "https://s3.hospital.example", "s3ForcePathStyle": "true", "serverSideEncryption": "AES256"}
    assert spec["default"] is True and spec["provider"] == "aws"


def test_eks_location_is_the_stacks_kms_encrypted_bucket_reached_through_pod_identity() -> None:
    # GIVEN finance-prod's EKS cluster, its backups in the pool's region
    [location] = on("finance-prod", "training", BACKUP_LOCATION_TYPE)
    assert location["inputs"]["spec"]["objectStorage"] == {"bucket": "fin-prod-training-backup-210987654321", "prefix": "training"}
    assert location["inputs"]["spec"]["config"] == {"region": "eu-central-1", "kmsKeyId": "alias/fin-prod-training-backup"}
    # AND Velero holds no key: no credential variables (Pod Identity gives its pods the role)
    values = velero_release("finance-prod", "training")["inputs"]["values"]
    assert "extraEnvVars" not in values["configuration"] and values["serviceAccount"]["server"]["name"] == "velero-server"


def test_every_team_namespace_and_the_platform_get_a_daily_schedule_kept_as_the_profile_requires() -> None:
    # GIVEN healthcare-prod (HIPAA: every 24 h, kept 35 days)
    schedules = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in on("healthcare-prod", "dc1", SCHEDULE_TYPE)}
    assert set(schedules) == {"team-radiology", "team-pathology", "team-clinical-research", "team-ml-platform", "team-clinical-notes", "platform"}
    assert schedules["team-radiology"]["template"]["includedNamespaces"] == ["radiology"]
    # AND the platform's: every platform namespace dc1 runs (what its parts created), Velero's own excepted
    assert schedules["platform"]["template"]["includedNamespaces"] == [
        "argo", "cert-manager", "decisions", "envoy-ai-gateway-system", "envoy-gateway-system", "external-secrets", "gpu-burn-in", "gpu-operator", "inference-gateway", "jobset-system", "keda", "kserve",
        "kueue-system", "log-collector", "logging", "mlflow", "monitoring", "nvsentinel", "wva-system",
    ]
    for spec in schedules.values():
        assert spec["schedule"] == "@every 24h" and spec["useOwnerReferencesInBackup"] is False
        assert spec["template"]["ttl"] == "840h0m0s" and spec["template"]["storageLocation"] == "default"
        assert spec["template"]["defaultVolumesToFsBackup"] is True and spec["template"]["snapshotVolumes"] is False


def test_edge_sites_back_up_their_model_cache_and_leave_alerts_to_the_hub() -> None:
    # GIVEN manufacturing-prod, every line backed up into the plant's store under its own prefix
    for site in ("line-1", "line-2", "line-3"):
        names = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]["template"]["includedNamespaces"] for r in on("manufacturing-prod", site, SCHEDULE_TYPE)}
        # (line-3's Argo CD, bootstrapped onto the site by a target of its own, is the site's too)
        argocd = ["argocd"] if site == "line-3" else []
        assert names == {"team-manufacturing-ops": ["inference"], "platform": sorted([*argocd, "external-secrets", "gpu-operator", "log-collector", "monitoring"])}
        [location] = on("manufacturing-prod", site, BACKUP_LOCATION_TYPE)
        assert location["inputs"]["spec"]["objectStorage"]["prefix"] == site
    # AND the edge agents scrape Velero, but its alerts are evaluated at the hub only
    plan, _ = planned("manufacturing-prod")
    rules = {r.target for r in of_kind(plan.resources, "PrometheusRule") if r.inputs["metadata"]["name"] == "hybridai-backup-alerts"}
    monitors = {r.target for r in of_kind(plan.resources, "ServiceMonitor") if r.inputs["metadata"]["name"] == "velero"}
    assert rules == {"plant-dc", "training"}
    assert monitors == {"plant-dc", "training", "line-1", "line-2", "line-3"}


def test_csi_snapshot_clusters_run_no_node_agent_and_enable_velero_csi() -> None:
    # GIVEN a cluster whose storage takes CSI snapshots
    store = BackupStoreArgs(bucket="b", prefix="dc1", endpoint="https://s3.dc1.example")
    args = BackupArgs(store=store, schedules=(ScheduleArgs(name="platform", namespaces=("monitoring",)),), every_hours=24, retention_days=35, volumes="csi-snapshot")
    values = velero_values(args)
    # THEN no node agent, no file-system default, Velero's CSI support on
    assert values["deployNodeAgent"] is False and "nodeAgent" not in values
    assert values["configuration"]["defaultVolumesToFsBackup"] is False and values["configuration"]["features"] == "EnableCSI"


RULES = {"groups": backup_alert_groups(24)}


def rule(name: str) -> dict[str, Any]:
    return next(r for g in RULES["groups"] for r in g["rules"] if r["alert"] == name)


def fired(name: str, labels: dict[str, str]) -> dict[str, Any]:
    r = rule(name)
    render = lambda text: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)  # noqa: E731
    return {"exp_labels": {**r["labels"], **labels}, "exp_annotations": {k: render(v) for k, v in r["annotations"].items()}}


def test_backup_alert_expressions_parse_and_pass_promtool_check(tmp_path: Path) -> None:
    for group in RULES["groups"]:
        for r in group["rules"]:
            promql_parser.parse(r["expr"])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(RULES))
    result = subprocess.run([promtool(), "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_backup_alerts_fire_on_overdue_failed_and_unreachable_and_stay_quiet_otherwise(tmp_path: Path) -> None:
    # GIVEN schedule team-a whose last success is at time 0, team-b succeeding all along (its
    # timestamp follows the clock), team-c attempted but never successful, a failure of team-a at
    # minute 2, and a location that is unavailable
    series = [
        ('velero_backup_last_successful_timestamp{schedule="team-a"}', "0x1600"),
        ('velero_backup_last_successful_timestamp{schedule="team-b"}', "0+60x1600"),
        ('velero_backup_attempt_total{schedule="team-a"}', "1x1600"),
        ('velero_backup_attempt_total{schedule="team-b"}', "1x1600"),
        ('velero_backup_attempt_total{schedule="team-c"}', "1x1600"),
        ('velero_backup_failure_total{schedule="team-a"}', "0 0 1x1600"),
        ('velero_backup_failure_total{schedule="team-b"}', "0x1600"),
        ('velero_backup_partial_failure_total{schedule="team-b"}', "0x1600"),
        ('velero_backup_location_status_gauge{backup_location_name="default"}', "0x1600"),
        ('velero_backup_location_status_gauge{backup_location_name="spare"}', "1x1600"),
    ]
    checks = [
        # WHEN 25 h and 10 min have passed, THEN team-a is overdue, team-b isn't
        (25 * 60 + 15, "VeleroBackupOverdue", [fired("VeleroBackupOverdue", {"schedule": "team-a"})]),
        # AND team-c, attempted but never successful for more than 25 h, has never succeeded
        (25 * 60 + 5, "VeleroScheduleNeverSucceeded", [fired("VeleroScheduleNeverSucceeded", {"schedule": "team-c"})]),
        # AND right after team-a's failure, the failure alert; partial failures stay quiet
        (5, "VeleroBackupFailed", [fired("VeleroBackupFailed", {"schedule": "team-a"})]),
        (5, "VeleroBackupPartiallyFailed", []),
        # AND the unreachable location after 15 minutes, not before
        (10, "VeleroBackupLocationUnavailable", []),
        (20, "VeleroBackupLocationUnavailable", [fired("VeleroBackupLocationUnavailable", {"backup_location_name": "default"})]),
    ]
    result = promtool_test(RULES, series, checks, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_cluster_is_backed_up_on_the_stacks_policy_a_schedule_per_team_and_one_for_the_platform() -> None:
    # GIVEN manufacturing-prod's backups, the plant cluster taking CSI snapshots
    spec, _ = prepared("manufacturing-prod")
    settings = spec.backups.model_copy(update={"volumes": {"plant-dc": "csi-snapshot"}})
    store = BackupStoreArgs.of_store(settings.object_store, prefix="plant-dc")
    # WHEN the plant's and a site's Velero args are made, the plant's with the platform namespaces
    # its parts created (monitoring twice, Velero's own among them) and one composed beside it
    plant = BackupArgs.of(settings, spec.backup_policy(), "restricted", "plant-dc", store, spec.teams, "monitoring", also_backed_up=["karpenter"])
    plant = plant.with_platform(["monitoring", "gpu-operator", settings.namespace, "monitoring"])
    site = BackupArgs.of(settings, spec.backup_policy(), "restricted", "line-1", store, [spec.sites[0].owner()], "monitoring", alert_rules=False)
    # THEN every schedule runs on the stack's RPO and keeps backups its retention
    assert (plant.every_hours, plant.retention_days) == (spec.backup_policy().rpo_hours, spec.backup_policy().retention_days)
    # AND a schedule per team namespace, one for the platform's namespaces: each once, in name
    # order, the one composed beside the platform too, Velero's own not (it is rebuilt, not restored)
    assert [(s.name, s.namespaces) for s in plant.schedules] == [("team-plant-analytics", ("plant-analytics",)), ("platform", ("gpu-operator", "karpenter", "monitoring"))]
    # AND volumes as the stack says for the cluster, else by file system; a site's alerts are the hub's
    assert (plant.volumes, site.volumes, plant.alert_rules, site.alert_rules) == ("csi-snapshot", "file-system", True, False)
    # AND the store is the on-prem one with its key, under the cluster's folder
    assert (store.endpoint, store.bucket, store.prefix, store.access_key_id, store.kms_key) == (settings.object_store.endpoint, settings.object_store.bucket, "plant-dc", settings.object_store.access_key_id, None)
