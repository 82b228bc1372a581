"""Stack config of backups: Velero on every data-center and EKS cluster, and at the edge sites the
stack lists, with its objectives from the stack's compliance profiles (docs/backups.md)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hybridai.config.base import DnsLabel, Model
from hybridai.config.operations import ObjectStore, store_example

VolumeBackup = Literal["csi-snapshot", "file-system"]
"""How a cluster's persistent volumes are backed up: by CSI snapshots, where its storage class's
CSI driver takes them and a VolumeSnapshotClass for it is labelled for Velero; else file by file
by Velero's node agent (file-system backup, into the backup store)."""


class CloudBackup(Model):
    """Where the EKS burst pool's backups go: a bucket the stack creates in the cloud account
    (KMS-encrypted, versioned, TLS-only, protected), reached by Velero through EKS Pod Identity."""

    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        examples=["eu-west-1"],
        description="AWS region of the backup bucket; default: the burst pool's region. Another region of the stack's jurisdiction "
        "keeps the backups through the loss of the pool's region; a region outside the jurisdiction is refused.",
    )


class BackupSettings(Model):
    """Velero on every cluster of the stack that keeps state: the on-prem cluster and the EKS burst
    pool always, edge sites when listed in `sites`. Each cluster has one backup storage location (the
    on-prem object store for on-prem and edge clusters, so their backups never leave the premises; a
    bucket in the cloud account for the EKS cluster), a schedule per team namespace and one for the
    platform's namespaces, each running at least as often as the stack's recovery point objective
    and keeping its backups at least as long as its compliance profiles require."""

    namespace: DnsLabel = Field(
        default="velero",
        description="Namespace of Velero on every backed-up cluster. Restricted, unless a cluster backs its volumes up by file system: "
        "Velero's node agent, which must share Velero's namespace, reads pod volumes through a hostPath mount, so the namespace is then "
        "privileged (the Velero server's own containers stay unprivileged, non-root, without capabilities).",
    )
    object_store: ObjectStore = Field(
        examples=[store_example("hybridai-backups", "velero-object-store")],
        description="Where the on-prem cluster's and the backed-up edge sites' backups go: a bucket of the on-prem S3-compatible store, "
        "each cluster under its own prefix (its name). The access key's Secret is read in Velero's namespace on each of those clusters (made by the stack from `secrets.sources`). "
        "Never an AWS endpoint: on-prem and edge backups stay on the premises.",
    )
    cloud: CloudBackup = Field(default_factory=CloudBackup, description="The EKS burst pool's backup bucket (stacks with a cloud pool).")
    sites: list[DnsLabel] = Field(
        default_factory=list,
        examples=[["line-1"]],
        description="Edge sites backed up too (their model caches survive the loss of the node); each needs the object store's Secret in "
        "Velero's namespace and a route to the store. Unlisted sites have no Velero.",
    )
    volumes: dict[DnsLabel, VolumeBackup] = Field(
        default_factory=dict,
        examples=[{"dc1": "csi-snapshot"}],
        description="How each cluster (the on-prem cluster's, the EKS cluster's or a site's name) backs up its persistent volumes: "
        "`csi-snapshot` where its storage classes' CSI driver takes snapshots and a VolumeSnapshotClass of that driver carries the label "
        "`velero.io/csi-volumesnapshot-class: \"true\"`; `file-system` (the default) copies the files with Velero's node agent.",
    )
    every_hours: int | None = Field(
        default=None,
        ge=1,
        le=168,
        description="Hours between two backups of each schedule; default, and the most allowed: the recovery point objective of the "
        "stack's compliance profiles (hybridai/data/compliance.yaml; 24 for HIPAA and SOX).",
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days each backup is kept (Velero's TTL); default, and the least allowed: the longest the stack's compliance profiles require.",
    )

    def cloud_region(self, pool_region: str) -> str:
        """Region of the EKS cluster's backup bucket: `cloud.region`, else the pool's."""
        return self.cloud.region or pool_region

    def volume_backup(self, cluster: str) -> VolumeBackup:
        """How `cluster` backs up its persistent volumes: `volumes`, else by file system (any storage, no VolumeSnapshotClass needed)."""
        return self.volumes.get(cluster, "file-system")
