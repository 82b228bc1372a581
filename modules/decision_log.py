"""The decision sink: every served model's requests and responses, kept with the model version that
made the decision — Vector (pinned) on the cluster that serves the models, in its own namespace.

KServe's logger (the agent beside each predictor) posts every request and response to it as a
binary CloudEvent: the body is the payload, the attributes are `ce-*` headers (`ce-id` shared by
the request and its response, `ce-type`, `ce-inferenceservicename`, `ce-namespace`, …). Vector's
`http_server` keeps those headers; a remap adds what the catalog knows of the InferenceService (its
team and the registry model and version it serves); a `reduce` joins request and response by
`ce-id`; each record goes whole to the write-once audit archive (on-prem Object-Lock bucket: on-prem
decisions never leave on-prem) and, without its bodies, to Loki's `decision` stream for search (the
index: INDEX_PROGRAM). Each destination has
its own disk buffer that blocks when full, so a slow store holds the loggers back instead of
anything being dropped. The record format and archive layout: docs/audit.md, and RECORD_FIELDS.

LLMs served by llm-d (LLMInferenceService) have no KServe logger: every request reaches them through
the inference gateway, whose Envoy AI Gateway records each one as an OpenInference span — the request
body whole (`input.value`) and the response body whole (`output.value`, streamed answers reassembled)
— and exports it over OTLP/HTTP to the sink's `opentelemetry` source. `trace_to_log` turns each span
into an event and LLM_PROGRAM into the same record (the catalog's team, registry model and version
by the LLM's name, and the caller the gateway authenticated), which takes the same two paths.

Why no end-to-end acknowledgements: KServe's logger neither retries nor reads the reply (v0.20.0
pkg/logger/worker.go), and an acknowledged reply to a request event would wait in the `reduce`
until its response arrived, holding one of the logger's five workers (docs/design/decision-trail.md).
"""
from __future__ import annotations

import json
import math

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.decisions import ARCHIVE_BATCH_SECONDS, MIB, DecisionSinkSettings
from hybridai.config.operations import AuditArchive
from hybridai.modules.base import NON_ROOT, READ_ONLY_ROOT_FILESYSTEM, RESTRICTED_CONTAINER, RUNTIME_DEFAULT_SECCOMP, Args, Module, aws_key_files, child, from_namespace, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.certificates import TlsArgs, service_certificate
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.recorded import DECISION_SINK, DECISION_SINK_OTLP_PORT, DECISION_SINK_PORT, GATEWAY_CALLER_ATTRIBUTE, component_type

METRICS_PORT = 9598
OTLP_GRPC_ADDRESS = "127.0.0.1:4317"
"""The `opentelemetry` source must serve gRPC too (Vector 0.56 requires both listeners): bound to the
pod's loopback, so nothing outside the pod reaches it; the gateway exports over https (OTLP_PORT)."""
"""Vector's `prometheus_exporter` (the chart's PodMonitor scrapes the port named `prom-exporter`)."""
DATA_DIR = "/vector-data-dir"
"""Where the chart mounts the StatefulSet's volume: Vector's data dir, holding the disk buffers."""
TLS_DIR = "/etc/vector/tls"
"""The sink's certificate (Secret `decision-sink-tls`: tls.crt, tls.key and ca.crt, the issuer's
CA, which also verifies Loki)."""
ARCHIVE_KEY_DIR = "/etc/vector/archive"
"""The archive's writer key as two files (`access_key_id`, `secret_access_key`), read through
Vector's `directory` secret backend: never in the environment or the configuration."""
CE_HEADERS = ("ce-id", "ce-type", "ce-source", "ce-time", "ce-inferenceservicename", "ce-namespace", "ce-component", "ce-endpoint")
"""The CloudEvent attributes KServe's logger sends as headers, kept as event fields (lower-case:
Vector matches header names as HTTP/2 gives them)."""
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
"""`ce-type` of a response event (requests are `org.kubeflow.serving.inference.request`)."""
PAIR_WINDOW_MS = 30000
"""How long a request waits for its response before it is written alone (`complete: false`):
KServe logs no response for a failed request."""
RECORD_FIELDS = (
    "id", "time", "cluster", "namespace", "team", "inference_service", "component", "endpoint", "source",
    "model", "model_version", "request", "response", "latency_ms", "complete",
)
"""A decision record's fields, in this order in docs/audit.md: what the drift job and an auditor read."""
ARCHIVE_PREFIX = "decision"
"""Archive objects: `decision/<cluster>/<YYYY>/<MM>/<DD>/<HHMMSS>-<uuid>.json.gz`, beside the API
audit streams' `audit/` and `change/`."""


class ServedDecisions(Args):
    """What the catalog knows of one InferenceService whose decisions the sink receives."""

    namespace: str
    """Its team's namespace (the logger's `ce-namespace`)."""
    name: str
    """The InferenceService (`ce-inferenceservicename`)."""
    team: str
    """The team that owns it."""
    registry_model: str | None = None
    """The registered model it serves; None: a raw storage URI."""
    model_version: int | None = None
    """The registered version it serves."""
    peak_rps: float
    """Its peak decisions per second (the catalog's `peakRps`): what its Loki stream must take."""
    llm: bool = False
    """An LLM behind the inference gateway (llm-d): its decisions arrive as the gateway's spans, named
    by the model clients ask for (`name`), not as KServe logger events."""


INDEX_RECORD_BYTES = 2048
"""The most one index record (a decision without its bodies, INDEX_PROGRAM) takes as a Loki line: its
fields are bounded — a UUID, an RFC 3339 time, DNS labels of at most 63 characters, the pod's URL,
the registry model and version, two numbers and a flag — under 1.5 KiB with their JSON keys; an
LLM's adds its caller (the IdP's subject, an identifier) and two token counts."""


class DecisionSinkArgs(Args):
    cluster: str
    """The cluster's name: in every record and in the archive's object keys."""
    namespace: str = "decisions"
    """The sink's namespace: restricted (default: the stack's default)."""
    models: tuple[ServedDecisions, ...]
    """The InferenceServices logging to it: only their namespaces may connect."""
    buffer_bytes: int
    """Disk buffer of each destination (the archive, Loki)."""
    storage_class: str | None = None
    """StorageClass of the sink's volume; default: None, the cluster's default class."""
    archive: AuditArchive
    """The write-once audit archive the records go to."""
    loki_url: str
    """The cluster's Loki (https, verified with the issuer's CA)."""
    tls: TlsArgs
    """The cluster's issuer: the sink serves https with its certificate."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes the sink (default: the stack's default monitoring namespace)."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the sink's namespace the program creates (the archive's writer key)."""
    gateway_namespace: str | None = None
    """The inference gateway's proxies' namespace, whose AI Gateway exports the LLMs' spans: the only
    one admitted to the OTLP port; None where no LLM logs here."""

    @classmethod
    def of(
        cls, settings: DecisionSinkSettings, cluster: str, models: tuple[ServedDecisions, ...], archive: AuditArchive, loki_url: str, tls: TlsArgs, monitoring_namespace: str,
        gateway_namespace: str | None = None,
    ) -> DecisionSinkArgs:
        """The sink as the stack's `logging.decisions` sizes it, for the cluster's logging `models`
        (LLMs among them through the gateway whose proxies run in `gateway_namespace`)."""
        return cls(
            cluster=cluster,
            namespace=settings.namespace,
            models=models,
            buffer_bytes=settings.buffer_bytes,
            storage_class=settings.storage_class,
            archive=archive,
            loki_url=loki_url,
            tls=tls,
            monitoring_namespace=monitoring_namespace,
            gateway_namespace=gateway_namespace if any(m.llm for m in models) else None,
        )

    @property
    def llms(self) -> tuple[ServedDecisions, ...]:
        """The LLMs whose spans the sink receives from the inference gateway."""
        return tuple(m for m in self.models if m.llm)

    @property
    def index_rates(self) -> tuple[float, ...]:
        """Bytes per second each model's Loki stream takes at its peak (at most INDEX_RECORD_BYTES a
        decision): what Loki's ingestion limits must allow (LogStoreArgs.decision_streams)."""
        return tuple(m.peak_rps * INDEX_RECORD_BYTES for m in self.models)

    @property
    def volume_size(self) -> str:
        """The volume: both disk buffers and a GiB for Vector's ledgers and the data file being
        written (Vector stops when a flush finds no space, so the volume is never sized to the byte)."""
        return f"{math.ceil((2 * self.buffer_bytes + 1024 * MIB) / (1024 * MIB))}Gi"


def _vrl_string(value: str | None) -> str:
    """A VRL literal of a string (or null): JSON's string syntax is VRL's."""
    return "null" if value is None else json.dumps(value)


def _catalog(models: dict[str, ServedDecisions], namespace: bool = False) -> str:
    """The VRL object mapping each key to its model's team, registry model and version, and with
    `namespace` its namespace too (where the key doesn't hold it)."""
    entries = []
    for key, m in models.items():
        version = None if m.model_version is None else str(m.model_version)
        known = {**({"namespace": m.namespace} if namespace else {}), "team": m.team, "model": m.registry_model, "model_version": version}
        entries.append(f"  {json.dumps(key)}: {{" + ", ".join(f'"{field}": {_vrl_string(value)}' for field, value in known.items()) + "}")
    return "{\n" + ",\n".join(entries) + "\n}"


def llm_program(args: DecisionSinkArgs) -> str:
    """VRL turning one of the gateway's spans (after `trace_to_log`) into a decision record with the
    RECORD_FIELDS of a predictive model's, plus `caller` and `tokens`: spans of models outside the
    catalog's logging LLMs are dropped (`abort`)."""
    return f"""catalog = {_catalog({m.name: m for m in args.llms}, namespace=True)}
attributes = object(.attributes) ?? {{}}
served = string(get(attributes, ["llm.model_name"]) ?? null) ?? ""
known = object(get(catalog, [served]) ?? null) ?? {{}}
if known == {{}} {{
  abort
}}
request = string(get(attributes, ["input.value"]) ?? null) ?? null
response = string(get(attributes, ["output.value"]) ?? null) ?? null
asked = timestamp(.start_time_unix_nano) ?? now()
answered = timestamp(.end_time_unix_nano) ?? asked
. = {{
  "id": (string(.trace_id) ?? "") + "-" + (string(.span_id) ?? ""),
  "time": asked,
  "cluster": {_vrl_string(args.cluster)},
  "namespace": known.namespace,
  "team": known.team,
  "inference_service": served,
  "component": "llm",
  "endpoint": .name,
  "source": "envoy-ai-gateway",
  "model": known.model,
  "model_version": known.model_version,
  "request": if request == null {{ null }} else {{ parse_json(request) ?? request }},
  "response": if response == null {{ null }} else {{ parse_json(response) ?? response }},
  "latency_ms": to_unix_timestamp(answered, unit: "milliseconds") - to_unix_timestamp(asked, unit: "milliseconds"),
  "complete": request != null && response != null,
  "caller": get(attributes, [{_vrl_string(GATEWAY_CALLER_ATTRIBUTE)}]) ?? null,
  "tokens": {{"prompt": get(attributes, ["llm.token_count.prompt"]) ?? null, "completion": get(attributes, ["llm.token_count.completion"]) ?? null}}
}}
"""


def halves_program(args: DecisionSinkArgs) -> str:
    """VRL turning each logged request or response into half a record: the CloudEvent attributes,
    what the catalog knows of its InferenceService, and the body kept as the text it arrived as
    (parsed after pairing: `reduce` would sum the numbers of two bodies merged field by field)."""
    return f"""catalog = {_catalog({f"{m.namespace}/{m.name}": m for m in args.models if not m.llm})}
namespace = string(."ce-namespace") ?? ""
service = string(."ce-inferenceservicename") ?? ""
known = object(get(catalog, [namespace + "/" + service]) ?? {{}}) ?? {{}}
body = string(.message) ?? encode_json(.message)
half = {{
  "id": ."ce-id",
  "cluster": {_vrl_string(args.cluster)},
  "namespace": namespace,
  "team": known.team,
  "inference_service": service,
  "component": ."ce-component",
  "endpoint": ."ce-endpoint",
  "source": ."ce-source",
  "model": known.model,
  "model_version": known.model_version
}}
if ."ce-type" == {_vrl_string(RESPONSE_TYPE)} {{
  half.response_body = body
  half.response_time = ."ce-time"
}} else {{
  half.request_body = body
  half.time = ."ce-time"
}}
. = half
"""


RECORD_PROGRAM = """request = string(.request_body) ?? null
response = string(.response_body) ?? null
.request = if request == null { null } else { parse_json(request) ?? request }
.response = if response == null { null } else { parse_json(response) ?? response }
.complete = request != null && response != null
asked = parse_timestamp(string(.time) ?? "", "%+") ?? null
answered = parse_timestamp(string(.response_time) ?? "", "%+") ?? null
.latency_ms = if asked != null && answered != null { to_unix_timestamp(timestamp!(answered), unit: "milliseconds") - to_unix_timestamp(timestamp!(asked), unit: "milliseconds") } else { null }
del(.request_body)
del(.response_body)
del(.response_time)
"""
"""VRL completing a paired record: the bodies parsed (JSON when they are), whether both halves
arrived, and the latency between them from their CloudEvent times."""

INDEX_PROGRAM = """.request_bytes = if .request == null { null } else { strlen(encode_json(.request)) }
.response_bytes = if .response == null { null } else { strlen(encode_json(.response)) }
del(.request)
del(.response)
"""
"""VRL of the index record Loki gets: the record without its bodies, their sizes instead. The
bodies are the decision's input and output — PHI in a hospital, account data in a bank — and stay
in the write-once archive only: Loki is searched by more people than read the archive (HIPAA's
minimum necessary), and whole bodies at peak would pass its per-stream rate and line-size limits
(the record's `recordBytes` default is 16 KiB; Loki's lines stop at 256 KB). Search Loki for the
id and time, read the decision in the archive (docs/audit.md)."""


def _disk_buffer(args: DecisionSinkArgs) -> dict:
    """A destination's buffer: on the volume, and when full the sink stops taking records (the
    loggers wait) rather than dropping any."""
    return {"type": "disk", "max_size": args.buffer_bytes, "when_full": "block"}


def _helm_template(field: str) -> str:
    """A Vector `{{ field }}` template inside the chart's `customConfig`, which the chart renders
    through Helm's `tpl`: printed by Helm, so Vector receives it unchanged."""
    return '{{ print "{{ %s }}" }}' % field


def vector_config(args: DecisionSinkArgs) -> dict:
    """Vector's configuration: the https receiver, the pairing, the archive and Loki, its metrics."""
    archive = args.archive
    s3: dict = {
        "type": "aws_s3",
        "endpoint": archive.endpoint,
        # SigV4 signs with a region even for an S3-compatible store.
        "region": archive.region or "us-east-1",
        "bucket": archive.bucket,
        "force_path_style": True,
        "key_prefix": f"{ARCHIVE_PREFIX}/{args.cluster}/%Y/%m/%d/",
        "filename_time_format": "%H%M%S",
        # A unique key per object: a write never meets an object already locked.
        "filename_append_uuid": True,
        "filename_extension": "json.gz",
        "compression": "gzip",
        "encoding": {"codec": "json"},
        # One record per line (without it a JSON codec writes each object as one array).
        "framing": {"method": "newline_delimited"},
        "batch": {"max_bytes": 50_000_000, "timeout_secs": ARCHIVE_BATCH_SECONDS},
        # Every PutObject carries a Content-MD5, which a bucket with Object Lock requires
        # (src/sinks/s3_common/service.rs since vectordotdev/vector#7936).
        "auth": {"access_key_id": "SECRET[archive.access_key_id]", "secret_access_key": "SECRET[archive.secret_access_key]"},
        "buffer": _disk_buffer(args),
    }
    records = ["decision_records", *(["llm_decision_records"] if args.llms else [])]
    s3["inputs"] = records
    loki = {
        "type": "loki",
        "inputs": ["decision_index"],
        "endpoint": args.loki_url,
        "encoding": {"codec": "json"},
        # Few values each: the cluster's serving namespaces, teams and InferenceServices.
        "labels": {
            "stream": "decision",
            "cluster": args.cluster,
            "namespace": _helm_template("namespace"),
            "team": _helm_template("team"),
            "model": _helm_template("inference_service"),
        },
        "tls": {"ca_file": f"{TLS_DIR}/ca.crt"},
        "buffer": _disk_buffer(args),
    }
    sources: dict = {
        "kserve": {
            "type": "http_server",
            "address": f"0.0.0.0:{DECISION_SINK_PORT}",
            "headers": list(CE_HEADERS),
            # The body as it came: a payload that isn't JSON is still kept, never refused.
            "decoding": {"codec": "bytes"},
            "framing": {"method": "bytes"},
            "tls": {"enabled": True, "crt_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"},
        },
        "vector_metrics": {"type": "internal_metrics"},
    }
    transforms: dict = {
        "decision_halves": {"type": "remap", "inputs": ["kserve"], "source": halves_program(args)},
        "decisions": {"type": "reduce", "inputs": ["decision_halves"], "group_by": ["id"], "max_events": 2, "expire_after_ms": PAIR_WINDOW_MS},
        "decision_records": {"type": "remap", "inputs": ["decisions"], "source": RECORD_PROGRAM},
        "decision_index": {"type": "remap", "inputs": records, "source": INDEX_PROGRAM},
    }
    if args.llms:
        sources["gateway"] = {
            "type": "opentelemetry",
            "grpc": {"address": OTLP_GRPC_ADDRESS},
            "http": {"address": f"0.0.0.0:{DECISION_SINK_OTLP_PORT}", "tls": {"enabled": True, "crt_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"}},
        }
        # A span is one whole request and response: no pairing; the record program drops the
        # spans of models that aren't the catalog's logging LLMs.
        transforms["llm_spans"] = {"type": "trace_to_log", "inputs": ["gateway.traces"]}
        transforms["llm_decision_records"] = {"type": "remap", "inputs": ["llm_spans"], "source": llm_program(args)}
    return {
        "data_dir": DATA_DIR,
        # Off: KServe's logger reads no reply, and a reply waiting for its pair would hold one of
        # its five workers; the disk buffers are what keeps records (module docstring).
        "acknowledgements": {"enabled": False},
        "secret": {"archive": {"type": "directory", "path": ARCHIVE_KEY_DIR, "remove_trailing_whitespace": True}},
        "sources": sources,
        "transforms": transforms,
        "sinks": {
            "archive": s3,
            "loki": loki,
            "prom_exporter": {"type": "prometheus_exporter", "inputs": ["vector_metrics"], "address": f"0.0.0.0:{METRICS_PORT}"},
        },
    }


def vector_values(args: DecisionSinkArgs) -> dict:
    """The Vector chart's values: one Aggregator (a StatefulSet with its volume), restricted, its
    certificate and the archive key mounted read-only, scraped by Prometheus."""
    persistence: dict = {"enabled": True, "size": args.volume_size, "accessModes": ["ReadWriteOnce"], "retentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}
    if args.storage_class:
        persistence["storageClassName"] = args.storage_class
    return {
        "role": "Aggregator",
        "fullnameOverride": DECISION_SINK,
        # One replica: records are paired in memory, so both halves must reach the same process.
        "replicas": 1,
        "customConfig": vector_config(args),
        # The volume holds records not yet written: kept when the release or a replica goes.
        "persistence": persistence,
        # No Kubernetes API access: the aggregator reads nothing of the cluster.
        "serviceAccount": {"automountToken": False},
        # Restricted, as `nobody`; the volume is group-writable to it (fsGroup).
        "podSecurityContext": {**NON_ROOT, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534, **RUNTIME_DEFAULT_SECCOMP},
        "securityContext": {**RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        # Time to flush the pairs in memory and the open batches into the buffers on a restart.
        "terminationGracePeriodSeconds": 60,
        "extraVolumes": [{"name": "tls", "secret": {"secretName": f"{DECISION_SINK}-tls"}}, aws_key_files("archive-key", args.archive.access_key_id, args.archive.secret_access_key)],
        "extraVolumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}, {"name": "archive-key", "mountPath": ARCHIVE_KEY_DIR, "readOnly": True}],
        "podMonitor": {"enabled": True},
        **_ports(args),
    }


def _ports(args: DecisionSinkArgs) -> dict:
    """The chart derives its ports from sources with a top-level `address`; the `opentelemetry`
    source's addresses are nested, so where it runs every port is listed (the names the chart would
    give: the PodMonitor scrapes `prom-exporter`)."""
    if not args.llms:
        return {}
    ports = [("kserve", DECISION_SINK_PORT), ("gateway-otlp", DECISION_SINK_OTLP_PORT), ("prom-exporter", METRICS_PORT)]
    return {
        "containerPorts": [{"name": name, "containerPort": port, "protocol": "TCP"} for name, port in ports],
        "service": {"ports": [{"name": name, "port": port, "protocol": "TCP", "targetPort": port} for name, port in ports]},
    }


class DecisionSink(Module):
    """Vector receiving the cluster's model decisions over https, in its own restricted namespace
    that only the serving teams' namespaces (and Prometheus) reach, writing each paired record to
    the audit archive and Loki. The namespace is protected: its volume holds records in flight."""

    def __init__(self, target: Target, args: DecisionSinkArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-decisions"
        super().__init__(component_type("decision_log", "DecisionSink"), name, None, placed(target, opts))
        provider = target.provider
        receive = {"ports": [{"protocol": "TCP", "port": DECISION_SINK_PORT}]}
        ingress = [
            *({**from_namespace(ns), **receive} for ns in sorted({m.namespace for m in args.models if not m.llm})),
            # The gateway's proxies export the LLMs' spans; the LLMs' own namespaces send nothing.
            *([{**from_namespace(args.gateway_namespace), "ports": [{"protocol": "TCP", "port": DECISION_SINK_OTLP_PORT}]}] if args.gateway_namespace else []),
            {**from_namespace(args.monitoring_namespace), "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
        ]
        namespace = platform_namespace(f"{name}-ns", args.namespace, pod_security("restricted"), ingress, self, provider, protect=True, retain_on_delete=True)
        ready = [namespace, *credential_secrets(name, args.credentials, self, provider, [namespace])]
        ready.append(service_certificate(f"{name}-cert", DECISION_SINK, args.namespace, args.tls, child(self, provider, depends_on=[namespace])))
        pinned_release(f"{name}-vector", "vector", args.namespace, vector_values(args), child(self, provider, depends_on=ready), gitops=target.gitops)
        self.register_outputs({"namespace": args.namespace})
