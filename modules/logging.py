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

from urllib.parse import urlsplit

import pulumi

from hybridai.config.operations import SecretKeyRef
from hybridai.modules.base import Args, Module, child, from_namespace, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.certificates import TlsArgs, service_certificate
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.recorded import TEAM_LABEL, component_type

LOKI_SERVICE = "loki"
"""Loki's service (`fullnameOverride: loki`): push (`/loki/api/v1/push`) and query on one port."""
LOKI_PORT = 3100
AUDIT_SELECTOR = '{stream="audit"}'
"""The streams kept for the audit retention: collectors label audit logs `stream: audit`."""
SCHEMA_FROM = "2026-01-01"
"""First day of the index schema (TSDB, v13); a later schema change adds an entry, never edits this."""


def loki_url(namespace: str) -> str:
    """Loki's in-cluster address (push and query), where Grafana and the cluster's collectors go."""
    return f"http://{LOKI_SERVICE}.{namespace}.svc:{LOKI_PORT}"


def loki_datasource(namespace: str) -> dict:
    """Grafana's data source for the cluster's Loki (kube-prometheus-stack `grafana.additionalDataSources`)."""
    return {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": loki_url(namespace), "editable": False}


class LogStoreArgs(Args):
    endpoint: str
    """S3 API endpoint of the on-prem object store (https)."""
    bucket: str
    region: str | None = None
    access_key_id: SecretKeyRef
    secret_access_key: SecretKeyRef
    """Keys of existing Secrets in the logging namespace: Loki reads them as environment variables,
    so no credential is ever in the values, the plan or Pulumi's state."""
    storage_size: str = "50Gi"
    storage_class: str | None = None
    log_retention_days: int
    audit_retention_days: int
    monitoring_namespace: str = "monitoring"
    """Where Grafana runs: admitted to query Loki."""
    remote_collectors: bool = False
    """A hub: collectors on other clusters (EKS, edge sites) push here from outside the cluster."""
    tls: TlsArgs | None = None
    """The cluster's issuer: Loki gets a certificate (Secret `loki-tls`) for the TLS in front of it."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the logging namespace the program creates (the object store's access key)."""


class CollectorArgs(Args):
    loki_url: str
    """Where the collector pushes: the in-cluster Loki on the on-prem cluster, the hub's https
    address (`logging.hubUrl`) everywhere else."""
    labels: dict[str, str]
    """Labels on every stream this collector sends: cluster, placement and, on an edge site, site."""
    buffer_size: str | None = None
    """Edge sites: keep up to this much on the node's disk while Loki can't be reached, then catch up."""


class LoggingArgs(Args):
    namespace: str = "logging"
    """Loki's: restricted."""
    collector_namespace: str = "log-collector"
    """Fluent Bit's: privileged, for its read-only hostPath mounts of the node's logs."""
    store: LogStoreArgs | None = None
    """Loki; None: the cluster keeps no logs itself."""
    collector: CollectorArgs | None = None
    """Fluent Bit on every node; None: the cluster's logs are not collected."""


STATE_DIR = "/var/lib/fluent-bit"
"""On each node (hostPath): the collector's read positions and, on edge sites, its disk buffer."""
KUBELET_UNITS = ("kubelet.service", "k3s.service", "k3s-agent.service", "rke2-server.service", "rke2-agent.service")
"""The systemd units the kubelet runs in: its own (kubeadm, EKS), or inside k3s's and RKE2's."""


def _section(name: str, repeated: tuple[tuple[str, str], ...] = (), **settings: str) -> str:
    """A section of Fluent Bit's classic configuration; `repeated`: keys given more than once."""
    lines = [f"[{name}]", *(f"    {key} {value}" for key, value in [*settings.items(), *repeated])]
    return "\n".join(lines) + "\n"


def _push_target(url: str) -> dict[str, str]:
    """Fluent Bit's loki output settings for a Loki base URL (http in the cluster, https to a hub)."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    return {
        "Host": parts.hostname or "",
        "Port": str(parts.port or (443 if tls else 80)),
        "tls": "On" if tls else "Off",
        **({"tls.verify": "On"} if tls else {}),
        "Uri": f"{parts.path.rstrip('/')}/loki/api/v1/push",
    }


def fluent_bit_values(args: CollectorArgs) -> dict:
    """The Fluent Bit chart's values: a DaemonSet on every node reading container logs and the
    kubelet's journal read-only, enriching them with Kubernetes metadata, pushing to Loki."""
    buffered = args.buffer_size is not None
    disk = {"storage.type": "filesystem"} if buffered else {}
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
    if buffered:
        # Chunks go to the node's disk first, so an uplink outage loses nothing until the limit.
        service.update({"storage.path": f"{STATE_DIR}/buffer", "storage.sync": "normal", "storage.backlog.mem_limit": "16M"})
    inputs = _section(
        "INPUT",
        Name="tail",
        Path="/var/log/containers/*.log",
        **{"multiline.parser": "cri"},
        Tag="kube.*",
        DB=f"{STATE_DIR}/containers.db",
        Mem_Buf_Limit="32MB",
        Skip_Long_Lines="On",
        **disk,
    ) + "\n" + _section(
        "INPUT",
        tuple(("Systemd_Filter", f"_SYSTEMD_UNIT={unit}") for unit in KUBELET_UNITS),
        Name="systemd",
        Path="/var/log/journal",
        Tag="host.*",
        DB=f"{STATE_DIR}/journal.db",
        Read_From_Tail="On",
        Strip_Underscores="On",
        **disk,
    )
    filters = _section(
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
    static = ", ".join(f"{k}={v}" for k, v in sorted(args.labels.items()))
    target = _push_target(args.loki_url)
    limit = {"storage.total_limit_size": args.buffer_size} if buffered else {}
    outputs = _section(
        "OUTPUT",
        Name="loki",
        Match="kube.*",
        **target,
        Labels=f"job=fluent-bit, {static}, namespace=$kubernetes['namespace_name'], team=$kubernetes_namespace['labels']['{TEAM_LABEL}']",
        Line_Format="json",
        Retry_Limit="no_limits" if buffered else "False",
        **limit,
    ) + "\n" + _section(
        "OUTPUT",
        Name="loki",
        Match="host.*",
        **target,
        Labels=f"job=systemd, {static}, unit=$SYSTEMD_UNIT",
        Line_Format="json",
        Retry_Limit="no_limits" if buffered else "False",
        **limit,
    )
    return {
        "kind": "DaemonSet",
        "fullnameOverride": "fluent-bit",
        # Every node, GPU nodes and tainted system nodes included: every taint is tolerated.
        "tolerations": [{"operator": "Exists"}],
        # Root, for files only root may read (container logs and the journal are root-owned, 0640),
        # but with no capability at all, so root's read comes from owning them, nothing more; no
        # privilege, no host namespaces, a read-only root filesystem.
        "podSecurityContext": {"runAsUser": 0, "runAsGroup": 0, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "config": {"service": _section("SERVICE", **service), "inputs": inputs, "filters": filters, "outputs": outputs},
        # The node's logs read-only; only the collector's own state directory is writable.
        "daemonSetVolumes": [
            {"name": "varlog", "hostPath": {"path": "/var/log"}},
            {"name": "etcmachineid", "hostPath": {"path": "/etc/machine-id", "type": "File"}},
            {"name": "state", "hostPath": {"path": STATE_DIR, "type": "DirectoryOrCreate"}},
        ],
        "daemonSetVolumeMounts": [
            {"name": "varlog", "mountPath": "/var/log", "readOnly": True},
            {"name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": True},
            {"name": "state", "mountPath": STATE_DIR},
        ],
    }


def loki_values(args: LogStoreArgs) -> dict:
    """The Loki chart's values: one binary, S3 storage, retention, credentials from Secrets."""
    hours = lambda days: f"{days * 24}h"  # noqa: E731 - Loki takes durations in hours, not days
    s3 = {"endpoint": args.endpoint, "s3ForcePathStyle": True, "insecure": False}
    if args.region:
        s3["region"] = args.region
    persistence: dict = {"enabled": True, "size": args.storage_size}
    if args.storage_class:
        persistence["storageClass"] = args.storage_class
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
            # Retention keys the chart's `limits_config` default doesn't list go in its structured
            # config, which it merges over the rendered configuration.
            "structuredConfig": {
                "limits_config": {
                    "retention_period": hours(args.log_retention_days),
                    "retention_stream": [{"selector": AUDIT_SELECTOR, "priority": 1, "period": hours(args.audit_retention_days)}],
                }
            },
        },
        "singleBinary": {
            "replicas": 1,
            "persistence": persistence,
            "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
            # The AWS SDK in Loki reads the object store's credentials from these variables.
            "extraEnv": [
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": args.access_key_id.name, "key": args.access_key_id.key}}},
                {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": args.secret_access_key.name, "key": args.secret_access_key.key}}},
            ],
        },
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


class Logging(Module):
    """A cluster's log collector in its own (privileged) namespace and, where the cluster keeps
    logs, Loki in the (restricted) logging namespace."""

    def __init__(self, target: Target, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-logging"
        super().__init__(component_type("logging", "Logging"), name, None, placed(target, opts))
        provider = target.provider
        store = args.store
        self.loki_url = None
        loki = None
        if store is not None:
            port = {"ports": [{"protocol": "TCP", "port": LOKI_PORT}]}
            # Loki's port only: from this cluster's collectors and Grafana (monitoring); on a hub,
            # from anywhere, as the collectors of other clusters push from outside (through
            # whatever exposes the service: a LoadBalancer or ingress with TLS).
            ingress = [port] if store.remote_collectors else [{**from_namespace(ns), **port} for ns in (args.collector_namespace, store.monitoring_namespace)]
            # Restricted: Loki needs nothing of the host. Protected: its volume holds the write-ahead log.
            namespace = platform_namespace(f"{name}-ns", args.namespace, pod_security("restricted"), ingress, self, provider, protect=True, retain_on_delete=True)
            secrets = credential_secrets(name, store.credentials, self, provider, [namespace])
            loki = pinned_release(f"{name}-loki", "loki", args.namespace, loki_values(store), child(self, provider, depends_on=[namespace, *secrets]), gitops=target.gitops)
            if store.tls is not None:
                service_certificate(f"{name}-loki-cert", LOKI_SERVICE, args.namespace, store.tls, child(self, provider, depends_on=[namespace]))
            self.loki_url = loki_url(args.namespace)
        if args.collector is not None:
            # Privileged: the collector's hostPath mounts of the node's logs, which baseline forbids
            # (StackSpec.platform_namespaces). It only sends, so nothing may connect to it.
            collector_ns = platform_namespace(f"{name}-collector-ns", args.collector_namespace, pod_security("privileged"), [], self, provider)
            pinned_release(
                f"{name}-fluent-bit",
                "fluent-bit",
                args.collector_namespace,
                fluent_bit_values(args.collector),
                child(self, provider, depends_on=[collector_ns, *([loki] if loki else [])]),
                gitops=target.gitops,
            )
        self.register_outputs({"namespace": args.namespace, "collector_namespace": args.collector_namespace})
