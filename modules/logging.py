"""Logging: the log collector (Fluent Bit, pinned) on every cluster and the log store (Loki, pinned)
on the on-prem cluster, in their own namespace.

Loki runs as one binary (the chart's `Monolithic` mode, formerly `SingleBinary`): a data-center
cluster's log volume — tens of GB a day at most — fits one process, and one process has no Kafka, no
memberlist ring and no read/write/backend split to operate. The logs themselves live in the on-prem
S3-compatible object store; the pod's volume holds only the write-ahead log and index cache, so a
lost pod loses nothing committed. Retention comes from the stack's compliance profiles: application
logs for `log_retention_days`, the `stream="audit"` streams for `audit_retention_days`, enforced by
Loki's compactor, which also keeps its delete requests in the object store. docs/logging.md.
"""
from __future__ import annotations

import math

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.operations import SecretKeyRef
from hybridai.modules.base import NON_ROOT, READ_ONLY_ROOT_FILESYSTEM, RESTRICTED_CONTAINER, RUNTIME_DEFAULT_SECCOMP, Args, StoreBucketArgs, Module, AWS_KEY_FILES, aws_key_env, aws_key_files, child, from_namespace, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.certificates import TlsArgs, certificate, service_certificate
from hybridai.modules.scripts import script
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.recorded import API_AUDIT_INPUT, ARCHIVE_CHECK, ARCHIVE_OUTPUT, TEAM_LABEL, component_type

LOKI_SERVICE = "loki"
"""Loki's service (`fullnameOverride: loki`): push (`/loki/api/v1/push`) and query on one port."""
LOKI_PORT = 3100
AUDIT_STREAMS = ("audit", "change", "decision")
"""Streams kept for the audit retention (and written to the audit archive): Kubernetes API audit
events, the changes among them (the collectors), and model decisions (the decision sink,
modules/decision_log.py); each labelled `stream: <name>`."""
AUDIT_SELECTOR = '{stream=~"%s"}' % "|".join(AUDIT_STREAMS)
METRICS_PORT = 2020
"""Fluent Bit's HTTP server (the chart's `metricsPort`): metrics at /api/v2/metrics/prometheus."""
CHANGE_LEVEL = "RequestResponse"
"""API audit events the audit policy records at this level are also the `change` stream: the writes
to access (RBAC), tenancy limits (quotas, limit ranges, namespaces) and the platform's own resources,
with what they were changed to (hybridai/audit_policy.py). Other writes — a kubelet renewing its
lease every ten seconds — stay in the audit stream only."""
SCHEMA_FROM = "2026-01-01"
"""First day of the index schema (TSDB, v13); a later schema change adds an entry, never edits this."""


TLS_DIR = "/etc/loki/tls"
"""Where Loki's certificate (Secret `loki-tls`: `tls.crt`, `tls.key`) is mounted, read-only."""
CA_DIR = "/fluent-bit/tls"
"""Where a collector pushing to its own cluster's Loki finds `ca.crt`, the CA that signed Loki's certificate."""
COLLECTOR_CA_SECRET = "fluent-bit-client-tls"
"""The collector's certificate from the cluster's issuer, in its namespace: the collector reads only its
`ca.crt` to verify Loki (Loki doesn't ask clients for a certificate)."""


def loki_url(namespace: str, tls: bool) -> str:
    """Loki's in-cluster address (push and query), where Grafana and the cluster's collectors go:
    https when the cluster has an issuer (Loki serves its certificate itself)."""
    return f"{'https' if tls else 'http'}://{LOKI_SERVICE}.{namespace}.svc:{LOKI_PORT}"


def loki_datasource(namespace: str, tls: bool) -> dict:
    """Grafana's data source for the cluster's Loki (kube-prometheus-stack `grafana.additionalDataSources`);
    over https, Grafana verifies Loki's certificate with the issuer's CA (modules/monitoring.py)."""
    return {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": loki_url(namespace, tls), "editable": False}


class ArchiveArgs(StoreBucketArgs):
    """The write-once audit archive: a bucket of the on-prem S3-compatible store with Object Lock.
    Its access key is the writer key (put and list only), read in each writing component's namespace."""

    lock_mode: str
    """The bucket's declared Object Lock mode, checked daily by the archive check."""
    lock_days: int
    """The bucket's declared default retention, checked daily by the archive check."""

    @classmethod
    def of(cls, archive: AuditArchive) -> ArchiveArgs:
        """The stack's audit archive with the retention its storage team set."""
        return cls.of_store(archive, lock_mode=archive.object_lock.mode, lock_days=archive.object_lock.retention_days)


class LogStoreArgs(StoreBucketArgs):
    """Loki on the object store. Its access key: keys of Secrets in the logging namespace, read as
    environment variables."""

    storage_size: str = "50Gi"
    """Persistent volume of Loki's write-ahead log and index cache; the logs themselves go to the
    object store (default: the stack's default)."""
    storage_class: str | None = None
    """StorageClass of that volume; default: None, the cluster's default class."""
    log_retention_days: int
    """Days application logs are kept (Loki's compactor deletes what is older)."""
    audit_retention_days: int
    """Days the `stream="audit"` streams are kept."""
    monitoring_namespace: str = "monitoring"
    """Where Grafana runs: admitted to query Loki (default: the stack's default monitoring namespace)."""
    remote_collectors: bool = False
    """A hub: collectors on other clusters (EKS, edge sites) push here from outside the cluster;
    default: off, only the cluster's own collector does."""
    archive: ArchiveArgs | None = None
    """The audit archive this cluster's and its edge sites' collectors write; checked from here."""
    archive_writers: tuple[str, ...] = ()
    """Clusters whose API audit records must keep arriving in the archive (on-prem, edge sites)."""
    tls: TlsArgs | None = None
    """The cluster's issuer: Loki serves https with its certificate (Secret `loki-tls`), and verifies nothing
    of its clients (the NetworkPolicy says who may connect); None: plain http inside the cluster."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the logging namespace the program creates (the object store's access key)."""
    decision_streams: tuple[float, ...] = ()
    """Bytes per second of each model's decision stream at its peak (the decision sink's index
    records): Loki's ingestion limits are raised to take them beside the logs; default: none."""
    push_namespaces: tuple[str, ...] = ()
    """Namespaces of the cluster beyond its collector's that push to Loki (the decision sink's);
    default: none."""


class CollectorArgs(Args):
    loki_url: str
    """Where the collector pushes: the in-cluster Loki on the on-prem cluster, the hub's https
    address (`logging.hubUrl`) everywhere else."""
    loki_ca: TlsArgs | None = None
    """Pushing to the cluster's own Loki over https: the issuer of Loki's certificate, whose CA the
    collector verifies it with (its own certificate's `ca.crt`). None: the hub's address is verified
    against the collector image's public CAs (the load balancer in front of the hub presents their certificate)."""
    labels: dict[str, str]
    """Labels on every stream this collector sends: cluster, placement and, on an edge site, site."""
    buffer_size: str | None = None
    """Edge sites: keep up to this much on the node's disk while Loki can't be reached, then catch up;
    default: None, memory only (a cluster next to its Loki)."""
    audit_log_path: str | None = None
    """The distribution's Kubernetes API audit log on control-plane nodes (hybridai/data/distributions.yaml);
    None on a managed control plane (EKS keeps its own)."""
    archive: ArchiveArgs | None = None
    """Where the API audit and change streams are also written, write-once; None: Loki only."""
    monitoring_namespace: str = "monitoring"
    """Where Prometheus runs: admitted to the collectors' metrics port (default: the stack's default)."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the collector namespace the program creates (the audit archive's writer key)."""

    @classmethod
    def of(cls, loki_url: str, cluster: str, placement: str, monitoring_namespace: str, distribution: str | None = None, site: str | None = None, **more: Any) -> CollectorArgs:
        """Fluent Bit on cluster `cluster`, its streams labelled with the cluster, its placement and
        (edge) its `site`; `distribution`: the cluster runs its own control plane, whose API audit
        log it reads too (None: a managed one, EKS)."""
        labels = {"cluster": cluster, "placement": placement, **({"site": site} if site else {})}
        audit_log_path = catalog.distribution_audit(distribution).log_path if distribution else None
        return cls(loki_url=loki_url, labels=labels, audit_log_path=audit_log_path, monitoring_namespace=monitoring_namespace, **more)


class LoggingArgs(Args):
    namespace: str = "logging"
    """Loki's: restricted (default: the stack's default)."""
    collector_namespace: str = "log-collector"
    """Fluent Bit's: privileged, for its read-only hostPath mounts of the node's logs (default: the stack's default)."""
    store: LogStoreArgs | None = None
    """Loki; None: the cluster keeps no logs itself."""
    collector: CollectorArgs | None = None
    """Fluent Bit on every node; None: the cluster's logs are not collected."""

    @classmethod
    def hub(
        cls, settings: LoggingSettings, cluster: OnpremCluster, retention: catalog.LogRetention, writers: tuple[str, ...], remote_collectors: bool, tls: TlsArgs | None, monitoring_namespace: str
    ) -> LoggingArgs:
        """The on-prem cluster's logging: Loki on the stack's object store, kept `retention` (the
        compliance profiles'), and the cluster's collector pushing to it — over https verified with
        the cluster's issuer when it has one (`tls`). `writers`: the clusters whose API audit records
        go to the archive; `remote_collectors`: the stack's other clusters push here from outside."""
        archive = ArchiveArgs.of(settings.audit_archive) if settings.audit_archive else None
        store = LogStoreArgs.of_store(
            settings.object_store,
            storage_size=settings.storage_size,
            storage_class=settings.storage_class,
            log_retention_days=retention.log_days,
            audit_retention_days=retention.audit_days,
            monitoring_namespace=monitoring_namespace,
            remote_collectors=remote_collectors,
            archive=archive,
            archive_writers=writers,
            tls=tls,
        )
        collector = CollectorArgs.of(loki_url(settings.namespace, tls is not None), cluster.name, "onprem", monitoring_namespace, cluster.distribution, loki_ca=tls, archive=archive)
        return cls(namespace=settings.namespace, collector_namespace=settings.collector_namespace, store=store, collector=collector)

    @classmethod
    def remote(cls, settings: LoggingSettings, cluster: str, placement: str, monitoring_namespace: str, site: str | None = None, distribution: str | None = None) -> LoggingArgs | None:
        """A cluster without the log store (EKS, an edge site): only the collector, pushing to the
        on-prem Loki through `logging.hubUrl`; an edge `site` buffers on disk while its uplink is
        down and reads its API audit log (`distribution`: the control plane is the site's own) into
        the on-prem archive. None without a hub to push to."""
        if settings.hub_url is None:
            return None
        archive = ArchiveArgs.of(settings.audit_archive) if distribution and settings.audit_archive else None
        collector = CollectorArgs.of(settings.hub_url, cluster, placement, monitoring_namespace, distribution, site, buffer_size=settings.edge_buffer_size if site else None, archive=archive)
        return cls(namespace=settings.namespace, collector_namespace=settings.collector_namespace, collector=collector)


STATE_DIR = "/var/lib/fluent-bit"
"""On each node (hostPath): the collector's read positions and, on edge sites, its disk buffer."""
KUBELET_UNITS = ("kubelet.service", "k3s.service", "k3s-agent.service", "rke2-server.service", "rke2-agent.service")
"""The systemd units the kubelet runs in: its own (kubeadm, EKS), or inside k3s's and RKE2's."""


def _section(name: str, repeated: tuple[tuple[str, str], ...] = (), **settings: str) -> str:
    """A section of Fluent Bit's classic configuration; `repeated`: keys given more than once."""
    lines = [f"[{name}]", *(f"    {key} {value}" for key, value in [*settings.items(), *repeated])]
    return "\n".join(lines) + "\n"


def _push_target(url: str, ca_file: str | None) -> dict[str, str]:
    """Fluent Bit's loki output settings for a Loki base URL: https verified (against `ca_file`, or
    the image's public CAs without one), or http to an in-cluster Loki without an issuer."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    return {
        "Host": parts.hostname or "",
        "Port": str(parts.port or (443 if tls else 80)),
        "tls": "On" if tls else "Off",
        **({"tls.verify": "On"} if tls else {}),
        **({"tls.ca_file": ca_file} if tls and ca_file else {}),
        "Uri": f"{parts.path.rstrip('/')}/loki/api/v1/push",
    }


def _archive_output(archive: ArchiveArgs, match_regex: str, cluster: str, store_dir: str) -> str:
    """Fluent Bit's S3 output to the audit archive: newline-delimited JSON, gzipped, one object per
    10 minutes or 50 MB under `<stream>/<cluster>/<date>/`. Records wait in `store_dir` on disk
    until the store takes them, so an unreachable archive delays records, never drops them."""
    return _section(
        "OUTPUT",
        Name="s3",
        Alias=ARCHIVE_OUTPUT,
        Match_Regex=match_regex,
        bucket=archive.bucket,
        region=archive.region or "us-east-1",
        endpoint=archive.endpoint,
        use_put_object="On",
        # A bucket with Object Lock accepts a write only with its checksum.
        send_content_md5="On",
        compression="gzip",
        total_file_size="50M",
        upload_timeout="10m",
        store_dir=store_dir,
        s3_key_format=f"/$TAG[0]/{cluster}/%Y/%m/%d/%H%M%S-$UUID.json.gz",
        s3_key_format_tag_delimiters=".",
    )


def _sections(parts: list[str]) -> str:
    """Sections of Fluent Bit's classic configuration as one text, a blank line between them."""
    return "\n".join(parts)


def _audited(args: CollectorArgs) -> bool:
    """The collector reads the API audit log (control-plane nodes of a cluster whose distribution has one)."""
    return args.audit_log_path is not None


def _archived(args: CollectorArgs) -> ArchiveArgs | None:
    """The archive the collector writes: it takes what the audit log yields, so a cluster without
    one writes nothing there."""
    return args.archive if _audited(args) else None


def fluent_bit_values(args: CollectorArgs) -> dict:
    """The Fluent Bit chart's values: a DaemonSet on every node reading container logs, the
    kubelet's journal and, on control-plane nodes, the API audit log, read-only; enriching them with
    Kubernetes metadata; pushing to Loki and the audit streams to the write-once archive."""
    archive = _archived(args)
    volumes, mounts = _host_mounts(args)
    return {
        "kind": "DaemonSet",
        "fullnameOverride": "fluent-bit",
        # Every node, GPU nodes and tainted system and control-plane nodes included: every taint is tolerated.
        "tolerations": [{"operator": "Exists"}],
        # Root, for files only root may read (container logs, the journal and the audit log are
        # root-owned, 0600/0640), but with no capability at all, so root's read comes from owning
        # them, nothing more; no privilege, no host namespaces, a read-only root filesystem.
        "podSecurityContext": {"runAsUser": 0, "runAsGroup": 0, **RUNTIME_DEFAULT_SECCOMP},
        "securityContext": {"privileged": False, **RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        # Node-critical, like the node's own agents: under memory or disk pressure the kubelet evicts
        # workloads before the collector, so the node's last logs and audit events still leave it.
        "priorityClassName": "system-node-critical",
        "env": aws_key_env(archive.access_key_id, archive.secret_access_key) if archive else [],
        "config": {"service": _service(args), "inputs": _sections(_inputs(args)), "filters": _sections(_filters(args)), "outputs": _sections(_outputs(args))},
        # Prometheus scrapes the collectors (shipping stalled, logs dropped, buffer filling alerts).
        "serviceMonitor": {"enabled": True},
        # The node's logs read-only; only the collector's own state directory is writable.
        "daemonSetVolumes": volumes,
        "daemonSetVolumeMounts": mounts,
    }


def _service(args: CollectorArgs) -> str:
    """The [SERVICE] section: the chart's own settings, the metrics server, and the disk buffer."""
    service = {
        "Daemon": "Off",
        "Flush": "{{ .Values.flush }}",
        "Log_Level": "{{ .Values.logLevel }}",
        "Parsers_File": "/fluent-bit/etc/parsers.conf",
        "HTTP_Server": "On",
        "HTTP_Listen": "0.0.0.0",
        "HTTP_Port": "{{ .Values.metricsPort }}",
        "Health_Check": "On",
    }
    if args.buffer_size is not None or _audited(args):
        # Chunks go to the node's disk first: an uplink outage (edge) or a Loki restart loses
        # nothing of the buffered inputs until the limit; audit records are always buffered so.
        service.update({"storage.path": f"{STATE_DIR}/buffer", "storage.sync": "normal", "storage.backlog.mem_limit": "16M"})
    return _section("SERVICE", **service)


def _inputs(args: CollectorArgs) -> list[str]:
    """The [INPUT] sections: container logs, the kubelet's journal and, where there is one, the API audit log."""
    disk = {"storage.type": "filesystem"} if args.buffer_size is not None else {}
    inputs = [
        _section(
            "INPUT",
            Name="tail",
            Path="/var/log/containers/*.log",
            **{"multiline.parser": "cri"},
            Tag="kube.*",
            DB=f"{STATE_DIR}/containers.db",
            Mem_Buf_Limit="32MB",
            Skip_Long_Lines="On",
            **disk,
        ),
        _section(
            "INPUT",
            tuple(("Systemd_Filter", f"_SYSTEMD_UNIT={unit}") for unit in KUBELET_UNITS),
            Name="systemd",
            Path="/var/log/journal",
            Tag="host.*",
            DB=f"{STATE_DIR}/journal.db",
            Read_From_Tail="On",
            Strip_Underscores="On",
            **disk,
        ),
    ]
    if _audited(args):
        # Only control-plane nodes have the file; elsewhere the input waits for it, idle. Long
        # lines are kept (a RequestResponse event can be large): an audit record is never skipped.
        inputs.append(
            _section(
                "INPUT",
                Name="tail",
                Alias=API_AUDIT_INPUT,
                Path=args.audit_log_path,
                Parser="json",
                Tag="audit.api",
                DB=f"{STATE_DIR}/audit.db",
                Buffer_Max_Size="4MB",
                Skip_Long_Lines="Off",
                **{"storage.type": "filesystem"},
            )
        )
    return inputs


def _filters(args: CollectorArgs) -> list[str]:
    """The [FILTER] sections: Kubernetes metadata on container logs and, with the audit log, the change stream."""
    filters = [
        _section(
            "FILTER",
            Name="kubernetes",
            Match="kube.*",
            Merge_Log="On",
            Keep_Log="Off",
            Labels="Off",
            Annotations="Off",
            # The namespace's labels carry its team (hybrid-ai.io/team, set by the tenancy module).
            namespace_labels="On",
            **{"K8S-Logging.Parser": "On", "K8S-Logging.Exclude": "On"},
        )
    ]
    if _audited(args):
        # The change stream: a copy of each platform change (see CHANGE_LEVEL).
        filters.append(
            _section(
                "FILTER",
                Name="rewrite_tag",
                Match="audit.api",
                Rule=f"$level ^{CHANGE_LEVEL}$ change.api true",
                Emitter_Name="change_stream",
                **{"Emitter_Storage.type": "filesystem"},
            )
        )
    return filters


def _outputs(args: CollectorArgs) -> list[str]:
    """The [OUTPUT] sections: each stream to Loki with its labels and, with an archive, the audit
    and change streams to it."""
    buffered = args.buffer_size is not None
    archive = _archived(args)
    static = ", ".join(f"{k}={v}" for k, v in sorted(args.labels.items()))
    target = _push_target(args.loki_url, f"{CA_DIR}/ca.crt" if args.loki_ca else None)
    limit = {"storage.total_limit_size": args.buffer_size} if buffered else {}
    retry = "no_limits" if buffered else "False"

    def loki(alias: str, match: str, labels: str, retry_limit: str = retry) -> str:
        return _section("OUTPUT", Name="loki", Alias=alias, Match=match, **target, Labels=labels, Line_Format="json", Retry_Limit=retry_limit, **limit)

    return [
        loki("loki_containers", "kube.*", f"job=fluent-bit, {static}, namespace=$kubernetes['namespace_name'], team=$kubernetes_namespace['labels']['{TEAM_LABEL}']"),
        loki("loki_journal", "host.*", f"job=systemd, {static}, unit=$SYSTEMD_UNIT"),
        # Audit records are retried until Loki takes them (the archive has them anyway).
        *(loki(f"loki_{stream}", f"{stream}.api", f"job=kube-apiserver-audit, {static}, stream={stream}", "no_limits") for stream in ("audit", "change") if _audited(args)),
        *([_archive_output(archive, r"^(audit|change)\.api$", args.labels["cluster"], f"{STATE_DIR}/archive")] if archive else []),
    ]


def _host_mounts(args: CollectorArgs) -> tuple[list[dict], list[dict]]:
    """The DaemonSet's volumes and mounts: the node's logs and machine id read-only, the
    collector's state directory, Loki's CA and, under k3s and RKE2, the audit log's folder."""
    volumes = [
        {"name": "varlog", "hostPath": {"path": "/var/log"}},
        {"name": "etcmachineid", "hostPath": {"path": "/etc/machine-id", "type": "File"}},
        {"name": "state", "hostPath": {"path": STATE_DIR, "type": "DirectoryOrCreate"}},
    ]
    mounts = [
        {"name": "varlog", "mountPath": "/var/log", "readOnly": True},
        {"name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": True},
        {"name": "state", "mountPath": STATE_DIR},
    ]
    if args.loki_ca is not None:
        volumes.append({"name": "loki-ca", "secret": {"secretName": COLLECTOR_CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
        mounts.append({"name": "loki-ca", "mountPath": CA_DIR, "readOnly": True})
    audit_dir = str(PurePosixPath(args.audit_log_path).parent) if _audited(args) else None
    if audit_dir and not audit_dir.startswith("/var/log/"):
        # k3s and RKE2 keep the audit log under their data directory: that folder alone, read-only.
        volumes.append({"name": "auditlog", "hostPath": {"path": audit_dir, "type": "DirectoryOrCreate"}})
        mounts.append({"name": "auditlog", "mountPath": audit_dir, "readOnly": True})
    return volumes, mounts


LOKI_HTTPS_PROBES = {
    "readinessProbe": {
        "httpGet": {"path": "/ready", "port": "http-metrics", "scheme": "HTTPS"},
        "periodSeconds": 10, "initialDelaySeconds": 15, "successThreshold": 1, "failureThreshold": 3, "timeoutSeconds": 1,
    },
    "livenessProbe": {
        "httpGet": {"path": "/loki/api/v1/status/buildinfo", "port": "http-metrics", "scheme": "HTTPS"},
        "periodSeconds": 30, "successThreshold": 1, "failureThreshold": 10, "timeoutSeconds": 1,
    },
}
"""Loki serving https: the chart's own probes (path, port, timings) with the scheme they then need."""


def _hours(days: int) -> str:
    """Loki takes durations in hours, not days."""
    return f"{days * 24}h"


LOKI_INGESTION = {"rate_mb": 4, "burst_mb": 6, "stream_mb": 3, "stream_burst_mb": 15}
"""Loki 3.7's default ingestion limits (its limits_config): per tenant 4 MB/s with a 6 MB burst, per
stream 3 MB/s with a 15 MB burst. One tenant holds every log of the cluster."""


def ingestion_limits(decision_streams: tuple[float, ...]) -> dict:
    """Loki's ingestion limits with the decision streams at their peak added to the logs' defaults:
    the tenant's rate and burst grow by the streams' sum, a stream's by the largest (twice its peak,
    so a burst at peak isn't refused); never below Loki's defaults."""
    total = math.ceil(sum(decision_streams) / 1e6)
    largest = math.ceil(2 * max(decision_streams) / 1e6)
    rate = LOKI_INGESTION["rate_mb"] + total
    return {
        "ingestion_rate_mb": rate,
        "ingestion_burst_size_mb": max(LOKI_INGESTION["burst_mb"], math.ceil(rate * 1.5)),
        "per_stream_rate_limit": f"{max(LOKI_INGESTION['stream_mb'], largest)}MB",
        "per_stream_rate_limit_burst": f"{max(LOKI_INGESTION['stream_burst_mb'], 5 * largest)}MB",
    }


def _structured_config(args: LogStoreArgs) -> dict:
    """Loki's configuration keys the chart's `limits_config` and `server` defaults don't list:
    retention, the decision streams' ingestion limits, and TLS."""
    structured: dict = {
        "limits_config": {
            "retention_period": _hours(args.log_retention_days),
            "retention_stream": [{"selector": AUDIT_SELECTOR, "priority": 1, "period": _hours(args.audit_retention_days)}],
            **(ingestion_limits(args.decision_streams) if args.decision_streams else {}),
        }
    }
    if args.tls is not None:
        # Loki serves its HTTP port (push, query, probes) with its certificate, TLS 1.2 at least;
        # it reads the files at every handshake (dskit's server, exporter-toolkit), so cert-manager's
        # renewals take effect without a restart. Its gRPC port stays inside the pod (one binary).
        structured["server"] = {"http_tls_config": {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"}, "tls_min_version": "VersionTLS12"}
    return structured


def _single_binary(args: LogStoreArgs) -> dict:
    """Loki's one process: its volume, resources, the object store's credentials and, with TLS, its certificate."""
    persistence: dict = {"enabled": True, "size": args.storage_size}
    if args.storage_class:
        persistence["storageClass"] = args.storage_class
    single_binary: dict = {
        "replicas": 1,
        "persistence": persistence,
        "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
        # The AWS SDK in Loki reads the object store's credentials from these variables.
        "extraEnv": aws_key_env(args.access_key_id, args.secret_access_key),
    }
    if args.tls is not None:
        single_binary["extraVolumes"] = [{"name": "tls", "secret": {"secretName": f"{LOKI_SERVICE}-tls"}}]
        single_binary["extraVolumeMounts"] = [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}]
    return single_binary


def loki_values(args: LogStoreArgs) -> dict:
    """The Loki chart's values: one binary, S3 storage, retention, credentials from Secrets."""
    s3 = {"endpoint": args.endpoint, "s3ForcePathStyle": True, "insecure": False}
    if args.region:
        s3["region"] = args.region
    return {
        "fullnameOverride": LOKI_SERVICE,
        "deploymentMode": "Monolithic",
        "loki": {
            # One tenant: the platform's. Who may push and query is the NetworkPolicy's to say.
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {
                "type": "s3",
                # One bucket for chunks, rules and the compactor's delete requests.
                "bucketNames": {"chunks": args.bucket, "ruler": args.bucket, "admin": args.bucket},
                "s3": s3,
            },
            "schemaConfig": {"configs": [{"from": SCHEMA_FROM, "store": "tsdb", "object_store": "s3", "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
            "compactor": {"retention_enabled": True, "delete_request_store": "s3", "working_directory": "/var/loki/compactor"},
            # Retention (and TLS) keys the chart's `limits_config` (`server`) default doesn't list go
            # in its structured config, which it merges over the rendered configuration.
            "structuredConfig": _structured_config(args),
            **(LOKI_HTTPS_PROBES if args.tls is not None else {}),
        },
        "singleBinary": _single_binary(args),
        # No simple-scalable targets, no nginx gateway (clients reach Loki's service directly), no
        # memcached caches (one process caches in memory), no canary or test pods.
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
    }


LOCK_QUERY = "ObjectLockConfiguration.[ObjectLockEnabled, Rule.DefaultRetention.Mode, Rule.DefaultRetention.Days]"
"""JMESPath (the AWS CLI's --query) of GetObjectLockConfiguration: enabled, mode, days (null: none)."""
NEWEST_QUERY = "max_by(Contents || `[]`, &LastModified).LastModified"
"""JMESPath of ListObjectsV2: the newest object's time, null for an empty prefix (no `Contents` at
all, as just after midnight): `max_by` of a missing list would be an error, not "none yet"."""
ARCHIVE_FRESH_HOURS = 2
"""The newest API audit object of each writer is at most this old (uploads go every 10 minutes)."""
ARCHIVE_KEY_DIR = "/var/run/secrets/archive-key"
"""Where the archive check reads the archive's key (`AWS_KEY_FILES`): a read-only volume, never its environment."""
CHECK_SCRIPT = "\n" + script("audit_archive_check.sh", **{name: f"{ARCHIVE_KEY_DIR}/{file}" for name, file in zip(("KEY_ID_FILE", "SECRET_KEY_FILE"), AWS_KEY_FILES)})
"""The archive check (modules/scripts/audit_archive_check.sh): exits non-zero, saying what is wrong,
when the bucket's Object Lock isn't what the stack declares or a writer's API audit records stopped
arriving. After a newline: the command deployed so far begins with one."""


def archive_check(name: str, namespace: str, store: LogStoreArgs, parent: pulumi.Resource, provider: pulumi.ProviderResource, depends_on: list[pulumi.Resource]) -> pulumi.Resource:
    """A CronJob in the logging namespace running the archive check every 30 minutes; the
    `AuditArchiveCheckFailing` alert fires when it hasn't succeeded for two hours."""
    archive = store.archive
    env = {
        "ENDPOINT": archive.endpoint,
        "BUCKET": archive.bucket,
        "AWS_DEFAULT_REGION": archive.region or "us-east-1",
        "LOCK_MODE": archive.lock_mode,
        "LOCK_DAYS": str(archive.lock_days),
        "WRITERS": " ".join(store.archive_writers),
        "FRESH_HOURS": str(ARCHIVE_FRESH_HOURS),
        "LOCK_QUERY": LOCK_QUERY,
        "NEWEST_QUERY": NEWEST_QUERY,
        "HOME": "/tmp",
    }
    container = {
        "name": "check",
        "image": catalog.image("aws-cli"),
        "command": ["/bin/sh", "-c", CHECK_SCRIPT],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        # Restricted, as `nobody` (the image has no user of its own; the pod sets only the seccomp
        # profile), with a read-only root filesystem: /tmp for the CLI's cache.
        "securityContext": {**RESTRICTED_CONTAINER, **NON_ROOT, "runAsUser": 65534, **READ_ONLY_ROOT_FILESYSTEM},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "archive-key", "mountPath": ARCHIVE_KEY_DIR, "readOnly": True}],
    }
    return k8s.batch.v1.CronJob(
        f"{name}-archive-check",
        metadata={"name": ARCHIVE_CHECK, "namespace": namespace},
        spec={
            "schedule": "*/30 * * * *",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 600,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "securityContext": RUNTIME_DEFAULT_SECCOMP,
                            "containers": [container],
                            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, aws_key_files("archive-key", archive.access_key_id, archive.secret_access_key)],
                        }
                    },
                }
            },
        },
        opts=child(parent, provider, depends_on=depends_on),
    )


class Logging(Module):
    """A cluster's log collector in its own (privileged) namespace and, where the cluster keeps
    logs, Loki in the (restricted) logging namespace."""

    def __init__(self, target: Target, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-logging"
        super().__init__(component_type("logging", "Logging"), name, None, placed(target, opts))
        self.loki_url = None
        loki = None
        if args.store is not None:
            loki = self._store(name, target, args, args.store)
            self.loki_url = loki_url(args.namespace, args.store.tls is not None)
        if args.collector is not None:
            self._collector(name, target, args, args.collector, loki)
        self.register_outputs({"namespace": args.namespace, "collector_namespace": args.collector_namespace})

    def _store(self, name: str, target: Target, args: LoggingArgs, store: LogStoreArgs) -> pulumi.Resource:
        """Loki in the logging namespace, with its credentials, its certificate and the archive check."""
        provider = target.provider
        port = {"ports": [{"protocol": "TCP", "port": LOKI_PORT}]}
        # Loki's port only: from this cluster's collectors and Grafana (monitoring); on a hub,
        # from anywhere, as the collectors of other clusters push from outside (through
        # whatever exposes the service: a LoadBalancer or ingress with TLS).
        ingress = [port] if store.remote_collectors else [{**from_namespace(ns), **port} for ns in (args.collector_namespace, *store.push_namespaces, store.monitoring_namespace)]
        # Restricted: Loki needs nothing of the host. Protected: its volume holds the write-ahead log.
        namespace = platform_namespace(f"{name}-ns", args.namespace, pod_security("restricted"), ingress, self, provider, protect=True, retain_on_delete=True)
        secrets = list(credential_secrets(name, store.credentials, self, provider, [namespace]))
        if store.tls is not None:
            # Before the release: Loki's pod mounts the certificate's Secret.
            secrets.append(service_certificate(f"{name}-loki-cert", LOKI_SERVICE, args.namespace, store.tls, child(self, provider, depends_on=[namespace])))
        loki = pinned_release(f"{name}-loki", "loki", args.namespace, loki_values(store), child(self, provider, depends_on=[namespace, *secrets]), gitops=target.gitops)
        if store.archive is not None:
            archive_check(name, args.namespace, store, self, provider, [namespace, *secrets])
        return loki

    def _collector(self, name: str, target: Target, args: LoggingArgs, collector: CollectorArgs, loki: pulumi.Resource | None) -> None:
        """Fluent Bit on every node, in its own namespace, with its credentials and, to verify the
        cluster's own Loki, a certificate from the issuer (for its CA)."""
        provider = target.provider
        # Privileged: the collector's hostPath mounts of the node's logs, which baseline forbids
        # (StackSpec.platform_namespaces). It only sends: nothing but Prometheus (its metrics
        # port) may connect to it.
        scrape = [{**from_namespace(collector.monitoring_namespace), "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}]
        collector_ns = platform_namespace(f"{name}-collector-ns", args.collector_namespace, pod_security("privileged"), scrape, self, provider)
        collector_secrets = list(credential_secrets(f"{name}-collector", collector.credentials, self, provider, [collector_ns]))
        if collector.loki_ca is not None:
            collector_secrets.append(
                certificate(
                    f"{name}-collector-cert",
                    COLLECTOR_CA_SECRET,
                    args.collector_namespace,
                    (f"fluent-bit.{args.collector_namespace}.svc",),
                    collector.loki_ca.issuer,
                    child(self, provider, depends_on=[collector_ns]),
                    usages=("digital signature", "key encipherment", "client auth"),
                )
            )
        pinned_release(
            f"{name}-fluent-bit",
            "fluent-bit",
            args.collector_namespace,
            fluent_bit_values(collector),
            child(self, provider, depends_on=[collector_ns, *collector_secrets, *([loki] if loki else [])]),
            gitops=target.gitops,
        )
