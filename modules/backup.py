"""Backup: Velero (pinned) on one cluster — its backup storage location, a schedule per team
namespace and one for the platform's namespaces, the scrape of its metrics and its alerts.

The backup storage location and the schedules are explicit objects, not chart values, so the plan
records them: the restore runbook, the restore-coverage test and the backup policy rules read them
back (hybridai/recorded.py). Volumes go by CSI snapshot where the cluster's storage supports it
(`backups.volumes`), else file by file through Velero's node agent (file-system backup, kopia),
into the same store as the objects. docs/backups.md.
"""
from __future__ import annotations

from typing import Any, Iterable, Literal

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.backup import BackupSettings
from hybridai.config.components import Team
from hybridai.config.operations import SecretKeyRef
from hybridai.modules.base import MANAGED_BY, NO_PRIVILEGE_ESCALATION, READ_ONLY_ROOT_FILESYSTEM, RESTRICTED_CONTAINER, RESTRICTED_POD, RUNTIME_DEFAULT_SECCOMP, Args, StoreBucketArgs, aws_key_env, Module, child, from_namespace, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.observability import _alert
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.recorded import SCHEDULE_EVERY_PREFIX, VELERO_API, component_type

RELEASE = "velero"
"""Release name, and so the name of Velero's Deployment, Service and metrics labels."""
SERVER_SERVICE_ACCOUNT = "velero-server"
"""Velero's service account: on EKS the one its Pod Identity association names."""
LOCATION = "default"
"""The cluster's one backup storage location (Velero's default)."""
PLATFORM_SCHEDULE = "platform"
METRICS_PORT = 8085
RESTRICTED_USER = 65532
"""Velero's image runs as a named user (`cnb`); a numeric non-root id lets the kubelet check it."""


def team_schedule(team: str) -> str:
    """Name of a team's schedule (the restore runbook names it to restore the team)."""
    return f"team-{team}"


class BackupStoreArgs(StoreBucketArgs):
    """Where a cluster's backups go: the on-prem store (on-prem, edge) with its access key, or the
    EKS cluster's bucket in the cloud account, reached through Pod Identity."""

    endpoint: str | None = None
    """An S3-compatible store's https endpoint (on-prem, edge); None: AWS S3 in `region`."""
    prefix: str
    """The cluster's folder in the bucket (its name), so clusters sharing a store never mix backups."""
    kms_key: str | None = None
    """AWS: the KMS key (`alias/…`) every backup object is encrypted with (SSE-KMS)."""
    access_key_id: SecretKeyRef | None = None
    """An S3-compatible store's access key id, from a Secret in Velero's namespace; None on EKS,
    where Pod Identity gives Velero its role."""
    secret_access_key: SecretKeyRef | None = None
    """Its secret access key (environment variables of the server and the node agent); None on EKS."""


class ScheduleArgs(Args):
    name: str
    """Schedule name: `team-<team>`, or `platform` for the platform's namespaces."""
    namespaces: tuple[str, ...]
    """Namespaces each backup of the schedule holds."""


class BackupArgs(Args):
    namespace: str = "velero"
    """Velero's namespace (default: the stack's default)."""
    pod_security: Literal["restricted", "privileged"] = "restricted"
    """The stack's level for Velero's namespace (StackSpec.platform_namespaces): privileged when a
    cluster of the stack runs the node agent. Default: restricted, no node agent anywhere."""
    store: BackupStoreArgs
    """The cluster's backup location."""
    schedules: tuple[ScheduleArgs, ...]
    """A schedule per team namespace, and the platform's (`with_platform`)."""
    also_backed_up: tuple[str, ...] = ()
    """Platform namespaces of the cluster made outside its GpuPlatform (EKS: Karpenter's, composed
    after the platform), for the platform schedule; the platform's own parts' namespaces are known
    to the platform itself. Default: none."""
    every_hours: int
    """Hours between two backups of each schedule: the stack's recovery point objective at most."""
    retention_days: int
    """Days each backup is kept (Velero's TTL): at least the compliance profiles' retention."""
    volumes: Literal["csi-snapshot", "file-system"] = "file-system"
    """How persistent volumes are backed up: CSI snapshots, or file by file by the node agent
    (default, the stack's: it works on any storage)."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes Velero's metrics (default: the stack's default monitoring namespace)."""
    alert_rules: bool = True
    """False on an edge site: its Prometheus is an agent, the hub evaluates its series."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of Velero's namespace the program creates (the object store's access key)."""

    @classmethod
    def of(
        cls,
        settings: BackupSettings,
        policy: catalog.BackupPolicy,
        pod_security: str,
        cluster: str,
        store: BackupStoreArgs,
        teams: Iterable[Team],
        monitoring_namespace: str,
        alert_rules: bool = True,
        also_backed_up: Iterable[str] = (),
    ) -> BackupArgs:
        """Velero on cluster `cluster`: a schedule per team namespace (and, `with_platform`, one for
        the platform's), every `policy.rpo_hours` and kept `policy.retention_days` (the stack's
        backup policy); volumes as `backups.volumes` says for the cluster; `pod_security`: the
        stack's level for Velero's namespace."""
        schedules = [ScheduleArgs(name=team_schedule(t.name), namespaces=(t.namespace,)) for t in teams]
        return cls(
            also_backed_up=tuple(also_backed_up),
            namespace=settings.namespace,
            pod_security=pod_security,
            store=store,
            schedules=tuple(schedules),
            every_hours=policy.rpo_hours,
            retention_days=policy.retention_days,
            volumes=settings.volume_backup(cluster),
            monitoring_namespace=monitoring_namespace,
            alert_rules=alert_rules,
        )


    def with_platform(self, created: Iterable[str]) -> BackupArgs:
        """These args with the platform schedule: every platform namespace `created` on the cluster
        and `also_backed_up`, in name order — but Velero's own. Velero restores with a running
        Velero: `pulumi up` rebuilds its namespace (server, location, schedules) before any restore,
        and restoring it over the running server would replace the configuration doing the restore."""
        namespaces = sorted({*created, *self.also_backed_up} - {self.namespace})
        return self.model_copy(update={"schedules": (*self.schedules, ScheduleArgs(name=PLATFORM_SCHEDULE, namespaces=tuple(namespaces)))})


def ttl(days: int) -> str:
    """Velero's TTL (a Go duration)."""
    return f"{days * 24}h0m0s"


VELERO_CONTAINER = {**RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM}
"""Velero's containers (server, plugin, kubectl hook): restricted, with a read-only root filesystem
(the chart then mounts an emptyDir at /tmp)."""


def velero_values(args: BackupArgs) -> dict[str, Any]:
    """The Velero chart's values: the server unprivileged, its object-store plugin, credentials
    from Secrets or Pod Identity, no location or schedule of the chart's own (they are explicit
    objects), and the node agent where volumes are backed up by file system."""
    file_system = args.volumes == "file-system"
    values: dict[str, Any] = {
        "initContainers": [
            {
                "name": "velero-plugin-for-aws",
                "image": catalog.image("velero-plugin-for-aws"),
                "imagePullPolicy": "IfNotPresent",
                "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                "securityContext": VELERO_CONTAINER,
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
            }
        ],
        # Restricted, non-root by number (RESTRICTED_USER).
        "podSecurityContext": {**RESTRICTED_POD, "runAsUser": RESTRICTED_USER, "runAsGroup": RESTRICTED_USER, "fsGroup": RESTRICTED_USER},
        "containerSecurityContext": VELERO_CONTAINER,
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "kubectl": {"containerSecurityContext": VELERO_CONTAINER, "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}},
        "configuration": _configuration(args),
        # Credentials never go into a Secret the chart writes: from existing Secrets (environment
        # variables of the configuration) or, on EKS, from the Pod Identity association of the
        # service account.
        "credentials": {"useSecret": False},
        "backupsEnabled": False,
        "snapshotsEnabled": False,
        "serviceAccount": {"server": {"name": SERVER_SERVICE_ACCOUNT}},
        # Backups read every object and restores create them: Velero's documented cluster-wide role.
        "rbac": {"create": True, "clusterAdministrator": True},
        # Scraped through the explicit ServiceMonitor below (planned and validated), not the chart's.
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}},
        "deployNodeAgent": file_system,
    }
    if file_system:
        values["nodeAgent"] = NODE_AGENT
    return values


def _configuration(args: BackupArgs) -> dict[str, Any]:
    """The chart's `configuration`: Velero's server settings, and the object store's credentials
    where they come from Secrets."""
    file_system = args.volumes == "file-system"
    store = args.store
    env = aws_key_env(store.access_key_id, store.secret_access_key) if store.access_key_id and store.secret_access_key else []
    return {
        # The location and schedules are explicit objects (recorded, validated, read by the runbook).
        "backupStorageLocation": [],
        "volumeSnapshotLocation": [],
        "defaultBackupStorageLocation": LOCATION,
        "uploaderType": "kopia",
        # Expired backups are deleted by Velero's garbage collection at the schedules' TTL.
        "defaultBackupTTL": ttl(args.retention_days),
        "defaultVolumesToFsBackup": file_system,
        **({"extraEnvVars": env} if env else {}),
        # CSI snapshots go through Velero's built-in CSI support, behind its feature flag.
        **({} if file_system else {"features": "EnableCSI"}),
    }


NODE_AGENT = {
    # Every node, GPU nodes included: a pod's volumes are read on the node it runs on.
    "tolerations": [{"operator": "Exists"}],
    # Root with the runtime's default capabilities (none dropped), to read every pod's files
    # whatever their owner (and restore their ownership); not privileged, no privilege
    # escalation, no host namespaces, the runtime's seccomp profile (on the container). The
    # hostPath of /var/lib/kubelet/pods is why its namespace is privileged.
    "podSecurityContext": {"runAsUser": 0},
    "containerSecurityContext": {"privileged": False, **NO_PRIVILEGE_ESCALATION, **RUNTIME_DEFAULT_SECCOMP},
    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
}
"""The chart's `nodeAgent` values, where volumes are backed up file by file."""


def location_config(store: BackupStoreArgs) -> dict[str, str]:
    """The AWS plugin's location settings: encrypted at rest (SSE-KMS with the stack's key on AWS,
    the store's own SSE-S3 on premises) and reached over https only."""
    if store.endpoint is None:
        return {"region": store.region or "", "kmsKeyId": store.kms_key or ""}
    config = {"s3Url": store.endpoint, "s3ForcePathStyle": "true", "serverSideEncryption": "AES256"}
    if store.region:
        config["region"] = store.region
    return config


def backup_alert_groups(every_hours: int) -> list[dict[str, Any]]:
    """Velero's alerts (metric names of Velero 1.18's pkg/metrics): a schedule without a success
    within its period (plus an hour for the backup to run), a failed backup, a storage location
    Velero can't reach."""
    overdue = (every_hours + 1) * 3600
    by = "cluster, schedule"
    return [
        {
            "name": "hybridai-backups",
            "rules": [
                _alert(
                    "VeleroBackupOverdue",
                    f'time() - max by ({by}) (velero_backup_last_successful_timestamp{{schedule!=""}}) > {overdue}',
                    "10m",
                    "critical",
                    "Schedule {{ $labels.schedule }} has no successful backup within its period",
                    f"The last successful backup of schedule {{{{ $labels.schedule }}}} is older than {every_hours + 1} hours (it runs every {every_hours}): "
                    "the recovery point objective is missed. `velero backup get --selector velero.io/schedule-name={{ $labels.schedule }}` and "
                    "`velero backup logs <backup>` show why (docs/backups.md).",
                ),
                _alert(
                    "VeleroScheduleNeverSucceeded",
                    f'max by ({by}) (velero_backup_attempt_total{{schedule!=""}}) unless max by ({by}) (velero_backup_last_successful_timestamp{{schedule!=""}})',
                    f"{every_hours + 1}h",
                    "critical",
                    "Schedule {{ $labels.schedule }} has never completed a backup",
                    f"Schedule {{{{ $labels.schedule }}}} has existed for more than {every_hours + 1} hours without a successful backup: nothing can be restored from it.",
                ),
                _alert(
                    "VeleroBackupFailed",
                    f'sum by ({by}) (increase(velero_backup_failure_total{{schedule!=""}}[1h])) > 0',
                    "0m",
                    "critical",
                    "A backup of schedule {{ $labels.schedule }} failed",
                    "Velero marked a backup Failed in the last hour. `velero backup describe <backup> --details` and `velero backup logs <backup>` show why.",
                ),
                _alert(
                    "VeleroBackupPartiallyFailed",
                    f'sum by ({by}) (increase(velero_backup_partial_failure_total{{schedule!=""}}[1h])) > 0',
                    "0m",
                    "warning",
                    "A backup of schedule {{ $labels.schedule }} partially failed",
                    "Some items or volumes of a backup were not saved (PartiallyFailed). `velero backup describe <backup> --details` lists them.",
                ),
                _alert(
                    "VeleroBackupLocationUnavailable",
                    "max by (cluster, backup_location_name) (velero_backup_location_status_gauge) == 0",
                    "15m",
                    "critical",
                    "Backup storage location {{ $labels.backup_location_name }} is unavailable",
                    "Velero can't reach its backup store (endpoint, credentials, bucket or network): no backup can be written or restored. "
                    "`velero backup-location get` shows the phase and the error.",
                ),
            ],
        }
    ]


class Backup(Module):
    """Velero in its own namespace, its one backup storage location and its schedules; a
    ServiceMonitor so Prometheus scrapes it and, where alerts are evaluated, its alert rules."""

    def __init__(self, target: Target, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-backup"
        super().__init__(component_type("backup", "Backup"), name, None, placed(target, opts))
        provider = target.provider
        ns = args.namespace
        # Only Prometheus connects (to the metrics port); Velero itself calls out to the store and the API server.
        scrape = {**from_namespace(args.monitoring_namespace), "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}
        namespace = platform_namespace(f"{name}-ns", ns, pod_security(args.pod_security), [scrape], self, provider)
        secrets = credential_secrets(name, args.credentials, self, provider, [namespace])
        self.release = pinned_release(f"{name}-velero", RELEASE, ns, velero_values(args), child(self, provider, depends_on=[namespace, *secrets]), gitops=target.gitops)
        # Velero's CRDs come with its chart; the monitoring CRDs with the monitoring stack (the
        # platform creates this module after it).
        after = child(self, provider, depends_on=[self.release])
        store = args.store
        self.location = k8s.apiextensions.CustomResource(
            f"{name}-location",
            api_version=VELERO_API,
            kind="BackupStorageLocation",
            metadata={"name": LOCATION, "namespace": ns, "labels": MANAGED_BY},
            spec={
                "provider": "aws",
                "default": True,
                "accessMode": "ReadWrite",
                "objectStorage": {"bucket": store.bucket, "prefix": store.prefix},
                "config": location_config(store),
                "validationFrequency": "1m0s",
            },
            opts=after,
        )
        self.schedules = {
            schedule.name: k8s.apiextensions.CustomResource(
                f"{name}-schedule-{schedule.name}",
                api_version=VELERO_API,
                kind="Schedule",
                metadata={"name": schedule.name, "namespace": ns, "labels": MANAGED_BY},
                spec=schedule_spec(args, schedule),
                opts=child(self, provider, depends_on=[self.location]),
            )
            for schedule in args.schedules
        }
        self._monitoring(name, args, after)
        self.register_outputs({"namespace": ns, "schedules": sorted(self.schedules)})

    def _monitoring(self, name: str, args: BackupArgs, after: pulumi.ResourceOptions) -> None:
        """Velero's ServiceMonitor and, where alerts are evaluated, its alert rules (in the monitoring namespace)."""
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": RELEASE, "namespace": args.monitoring_namespace, "labels": MANAGED_BY},
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": RELEASE, "app.kubernetes.io/instance": RELEASE}},
                "namespaceSelector": {"matchNames": [args.namespace]},
                "endpoints": [{"port": "http-monitoring", "interval": "30s"}],
            },
            opts=after,
        )
        if args.alert_rules:
            k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": "hybridai-backup-alerts", "namespace": args.monitoring_namespace, "labels": MANAGED_BY},
                spec={"groups": backup_alert_groups(args.every_hours)},
                opts=after,
            )


def schedule_spec(args: BackupArgs, schedule: ScheduleArgs) -> dict[str, Any]:
    """A Schedule's spec: every `every_hours`, its namespaces into the one location, kept for the
    retention; volumes by CSI snapshot or file by file."""
    fs = args.volumes == "file-system"
    return {
        "schedule": f"{SCHEDULE_EVERY_PREFIX}{args.every_hours}h",
        # Backups outlive their schedule: deleting a Schedule never deletes its backups.
        "useOwnerReferencesInBackup": False,
        "template": {
            "includedNamespaces": list(schedule.namespaces),
            "storageLocation": LOCATION,
            "ttl": ttl(args.retention_days),
            "snapshotVolumes": not fs,
            "defaultVolumesToFsBackup": fs,
            "metadata": {"labels": MANAGED_BY},
        },
    }
