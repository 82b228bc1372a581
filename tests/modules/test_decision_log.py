"""The decision sink (modules/decision_log.py) and the serving side that feeds it (modules/serving.py):
Vector's configuration against the option names Vector 0.56 documents, the records' contract, and
what finance-prod and healthcare-prod deploy."""
from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from hybridai.config import StackConfigError
from hybridai.config.operations import AuditArchive
from hybridai.modules import decision_log as dl
from hybridai.modules.certificates import TlsArgs
from hybridai.modules.serving import CONFIG_MAP, LOGGER_CA, inferenceservice_config, kserve_values
from hybridai.program import prepare
from hybridai.recorded import decision_sink_url
from tests.conftest import planned
from tests.harness.helm_tpl import render
from tests.harness.upstream import upstream
from tests.helpers import named, of_type, release, stack_values

# Option names of Vector 0.56's generated component reference
# (website/cue/reference/components/{sources,transforms,sinks}/generated/<type>.cue at v0.56.0,
# commit 6817c021): no Vector binary exists for this machine (PyPI, npm and Debian have none), so
# the configuration is checked against these instead of `vector validate`.
OPTIONS = {
    "http_server": {"type", "address", "path", "method", "headers", "decoding", "framing", "tls", "strict_path", "response_code"},
    "internal_metrics": {"type", "namespace", "scrape_interval_secs"},
    "remap": {"type", "inputs", "source", "drop_on_error", "drop_on_abort", "reroute_dropped"},
    "reduce": {"type", "inputs", "group_by", "max_events", "expire_after_ms", "flush_period_ms", "merge_strategies", "ends_when", "starts_when"},
    "aws_s3": {
        "type", "inputs", "bucket", "endpoint", "region", "force_path_style", "auth", "key_prefix", "filename_time_format",
        "filename_append_uuid", "filename_extension", "compression", "encoding", "framing", "tls", "buffer", "batch", "request",
    },
    "loki": {"type", "inputs", "endpoint", "path", "encoding", "labels", "tls", "buffer", "tenant_id", "out_of_order_action", "compression"},
    "prometheus_exporter": {"type", "inputs", "address", "default_namespace"},
    "opentelemetry": {"type", "grpc", "http", "acknowledgements", "use_otlp_decoding"},
    "trace_to_log": {"type", "inputs"},
}
OTLP_LISTENER = {"address", "tls", "keepalive", "headers"}
"""The `opentelemetry` source's `grpc` and `http` options (generated/opentelemetry.cue at v0.56.0)."""
OUTPUTS = {"gateway": ("logs", "metrics", "traces")}
"""Named outputs a component's id may be followed by in `inputs` (`<id>.<output>`)."""
GLOBAL = {"data_dir", "acknowledgements", "secret", "sources", "transforms", "sinks"}
TLS = {"enabled", "crt_file", "key_file", "key_pass", "ca_file", "verify_certificate", "verify_hostname", "server_name", "alpn_protocols"}
BUFFER = {"type", "max_size", "when_full"}
S3_AUTH = {"access_key_id", "secret_access_key", "session_token", "credentials_file", "profile", "assume_role", "region"}
SECRET_REFERENCE = re.compile(r"^SECRET\[([a-z_]+)\.([a-z_]+)\]$")

ARCHIVE = AuditArchive.model_validate(
    {
        "endpoint": "https://s3.dc1.bank.example:9000",
        "bucket": "hybridai-audit",
        "accessKeyId": {"name": "audit-archive", "key": "access-key-id"},
        "secretAccessKey": {"name": "audit-archive", "key": "secret-access-key"},
        "objectLock": {"mode": "COMPLIANCE", "retentionDays": 2557},
    }
)


def sink(buffer_bytes: int = 512 * dl.MIB) -> dl.DecisionSinkArgs:
    models = (dl.ServedDecisions(namespace="fraud", name="fraud-score", team="fraud", registry_model="fraud-score", model_version=12, peak_rps=900),)
    return dl.DecisionSinkArgs(cluster="dc1", models=models, buffer_bytes=buffer_bytes, archive=ARCHIVE, loki_url="https://loki.logging.svc:3100", tls=TlsArgs(issuer="hybridai-ca"))


def llm_sink() -> dl.DecisionSinkArgs:
    notes = dl.ServedDecisions(namespace="clinical", name="notes-summarizer", team="clinical", registry_model="notes-summarizer", model_version=3, peak_rps=20, llm=True)
    return sink().model_copy(update={"models": (*sink().models, notes), "gateway_namespace": "envoy-gateway-system"})


def components(config: dict):
    for kind in ("sources", "transforms", "sinks"):
        yield from config[kind].items()


@pytest.mark.parametrize("args", [sink(), llm_sink()], ids=["models", "models-and-llms"])
def test_every_component_uses_only_options_vector_056_documents(args: dl.DecisionSinkArgs) -> None:
    # GIVEN the sink's configuration as the chart receives it (YAML)
    config = yaml.safe_load(yaml.safe_dump(dl.vector_config(args)))
    # WHEN each part's keys are compared with what its type documents
    unknown = {cid: set(c) - OPTIONS[c["type"]] for cid, c in components(config)}
    # THEN none is unknown, every input exists, and TLS, buffers and auth use documented keys only
    assert set(config) <= GLOBAL
    assert all(not keys for keys in unknown.values()), unknown
    ids = {cid for cid, _ in components(config)} | {f"{cid}.{out}" for cid, outs in OUTPUTS.items() for out in outs}
    assert all(set(c.get("inputs", [])) <= ids for _, c in components(config))
    assert all(set(c[listener]) <= OTLP_LISTENER for _, c in components(config) if c["type"] == "opentelemetry" for listener in ("grpc", "http"))
    assert all(set(c["tls"]) <= TLS for _, c in components(config) if "tls" in c)
    assert all(set(c["buffer"]) <= BUFFER for _, c in components(config) if "buffer" in c)
    assert set(config["sinks"]["archive"]["auth"]) <= S3_AUTH


def test_the_receiver_keeps_the_cloudevent_headers_over_tls_and_pairs_by_id() -> None:
    config = dl.vector_config(sink())
    source = config["sources"]["kserve"]
    # THEN the headers are kept, TLS is served from the mounted certificate, the body kept whole
    assert {"ce-id", "ce-type", "ce-source", "ce-inferenceservicename", "ce-namespace", "ce-component", "ce-endpoint"} <= set(source["headers"])
    assert source["tls"] == {"enabled": True, "crt_file": "/etc/vector/tls/tls.crt", "key_file": "/etc/vector/tls/tls.key"}
    assert source["address"] == "0.0.0.0:8443" and (source["decoding"], source["framing"]) == ({"codec": "bytes"}, {"method": "bytes"})
    # AND the halves are joined by the CloudEvent id, two at most, within the pairing window
    pairs = config["transforms"]["decisions"]
    assert (pairs["type"], pairs["group_by"], pairs["max_events"], pairs["expire_after_ms"]) == ("reduce", ["id"], 2, dl.PAIR_WINDOW_MS)
    # AND no reply waits for its pair (KServe's logger neither retries nor reads it)
    assert config["acknowledgements"] == {"enabled": False}


def test_each_half_carries_the_catalog_version_of_its_inference_service() -> None:
    # GIVEN fraud-score served from registry version 12
    program = dl.halves_program(sink())
    # THEN the remap's catalog maps its namespace/name to the team, registry model and version
    catalog = re.search(r"^catalog = (\{.*?\n\})", program, re.S | re.M).group(1)
    assert json.loads(catalog) == {"fraud/fraud-score": {"team": "fraud", "model": "fraud-score", "model_version": "12"}}
    # AND the record's fields are the contract's, the cluster written in
    assert '"cluster": "dc1"' in program
    for field in ("id", "namespace", "team", "inference_service", "component", "endpoint", "source", "model", "model_version"):
        assert f'"{field}":' in program
    for field in ("request", "response", "latency_ms", "complete"):
        assert f".{field} =" in dl.RECORD_PROGRAM
    assert dl.RECORD_FIELDS[:2] == ("id", "time") and set(dl.RECORD_FIELDS) >= {"model_version", "latency_ms", "complete"}


def test_both_destinations_follow_the_archive_layout_behind_blocking_disk_buffers() -> None:
    config = dl.vector_config(sink(512 * dl.MIB))
    s3, loki = config["sinks"]["archive"], config["sinks"]["loki"]
    # THEN the archive gets gzip NDJSON under decision/<cluster>/YYYY/MM/DD/<HHMMSS>-<uuid>.json.gz
    assert (s3["bucket"], s3["endpoint"], s3["force_path_style"]) == ("hybridai-audit", "https://s3.dc1.bank.example:9000", True)
    assert s3["key_prefix"] == "decision/dc1/%Y/%m/%d/"
    assert (s3["filename_time_format"], s3["filename_append_uuid"], s3["filename_extension"], s3["compression"]) == ("%H%M%S", True, "json.gz", "gzip")
    assert s3["framing"] == {"method": "newline_delimited"} and s3["encoding"] == {"codec": "json"}
    # AND the writer key comes from the mounted files through the directory secret backend, never the environment
    backend = config["secret"]["archive"]
    assert backend == {"type": "directory", "path": dl.ARCHIVE_KEY_DIR, "remove_trailing_whitespace": True}
    assert {SECRET_REFERENCE.match(v).groups() for v in s3["auth"].values()} == {("archive", "access_key_id"), ("archive", "secret_access_key")}
    # AND Loki's stream is the contract's, Vector's templates escaped for the chart's tpl, verified with the issuer's CA
    assert loki["labels"] == {
        "stream": "decision",
        "cluster": "dc1",
        "namespace": '{{ print "{{ namespace }}" }}',
        "team": '{{ print "{{ team }}" }}',
        "model": '{{ print "{{ inference_service }}" }}',
    }
    assert loki["tls"] == {"ca_file": "/etc/vector/tls/ca.crt"}
    # AND each destination blocks rather than drops when its buffer is full
    assert s3["buffer"] == loki["buffer"] == {"type": "disk", "max_size": 512 * dl.MIB, "when_full": "block"}


def test_the_archive_gets_the_whole_record_and_loki_the_index_without_the_bodies() -> None:
    # GIVEN the sink's configuration
    config = dl.vector_config(sink())
    index = config["transforms"]["decision_index"]
    # THEN the archive reads the whole records, Loki the index made from them
    assert config["sinks"]["archive"]["inputs"] == ["decision_records"]
    assert config["sinks"]["loki"]["inputs"] == ["decision_index"] and index["inputs"] == ["decision_records"]
    # AND the index drops the bodies (the decision's input and output) and keeps their sizes
    assert index["source"] == dl.INDEX_PROGRAM
    assert "del(.request)" in dl.INDEX_PROGRAM and "del(.response)" in dl.INDEX_PROGRAM
    assert ".request_bytes = " in dl.INDEX_PROGRAM and ".response_bytes = " in dl.INDEX_PROGRAM


def test_loki_takes_the_decision_streams_at_their_peak_beside_the_logs() -> None:
    from hybridai.modules.logging import LOKI_INGESTION, ingestion_limits

    # GIVEN fraud-score at 900 decisions a second: its stream takes at most 900 × 2 KiB a second
    assert sink().index_rates == (900 * dl.INDEX_RECORD_BYTES,)
    # WHEN Loki's limits are sized for it and a 200-a-second model (1.84 MB/s and 0.41 MB/s)
    limits = ingestion_limits((900 * 2048, 200 * 2048))
    # THEN the tenant takes the logs' default 4 MB/s plus the streams' 3 MB/s (rounded up), burst 1.5×
    assert (limits["ingestion_rate_mb"], limits["ingestion_burst_size_mb"]) == (7, 11)
    # AND a stream twice the largest's peak, 4 MB/s with five times that as burst
    assert (limits["per_stream_rate_limit"], limits["per_stream_rate_limit_burst"]) == ("4MB", "20MB")
    # AND a small catalog never lowers Loki's defaults
    assert ingestion_limits((5 * 2048,)) == {"ingestion_rate_mb": 5, "ingestion_burst_size_mb": 8, "per_stream_rate_limit": "3MB", "per_stream_rate_limit_burst": "15MB"}
    assert LOKI_INGESTION["rate_mb"] == 4


def test_no_unescaped_template_reaches_the_charts_tpl() -> None:
    # GIVEN the chart renders customConfig through Helm's tpl
    text = yaml.safe_dump(dl.vector_values(sink())["customConfig"])
    # THEN every `{{` is one of the printed Vector templates (anything else Helm would evaluate)
    assert re.sub(r'\{\{ print "\{\{ [a-z_]+ \}\}" \}\}', "", text).count("{{") == 0


def test_finance_prod_runs_the_sink_restricted_beside_its_loki() -> None:
    # GIVEN finance-prod, which serves fraud-score and credit-score and keeps an audit archive
    plan, _ = planned("finance-prod")
    vector = release(plan.resources, "vector")
    values = vector.inputs["values"]
    # THEN one Aggregator with a volume for both buffers (4096 MiB each + 1 GiB), kept on delete
    assert (values["role"], values["replicas"], values["fullnameOverride"]) == ("Aggregator", 1, "decision-sink")
    assert values["persistence"]["size"] == "9Gi" and values["persistence"]["retentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    # AND it runs restricted with a read-only root and no API token
    assert values["podSecurityContext"]["runAsNonRoot"] is True and values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["capabilities"] == {"drop": ["ALL"]} and values["serviceAccount"] == {"automountToken": False}
    # AND the archive's writer key is mounted as files from the Secrets the stack names
    key = next(v for v in values["extraVolumes"] if v["name"] == "archive-key")
    assert [s["secret"]["name"] for s in key["projected"]["sources"]] == ["audit-archive", "audit-archive"]
    # AND only the serving teams' namespaces reach its port, Prometheus its metrics
    policy = next(r for r in of_type(plan.resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["name"] == "decisions-ingress")
    admitted = {(rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], rule["ports"][0]["port"]) for rule in policy.inputs["spec"]["ingress"][1:]}
    serving = {r.inputs["metadata"]["namespace"] for r in plan.resources if r.custom and r.inputs.get("kind") == "InferenceService"}
    # AND the inference gateway's proxies (the LLMs' spans) its OTLP port only
    assert admitted == {*((ns, 8443) for ns in serving), ("monitoring", dl.METRICS_PORT), ("envoy-gateway-system", 4318)}
    # AND its certificate comes from the stack's issuer
    assert named(plan.resources, "Certificate", "decision-sink-tls").inputs["spec"]["issuerRef"]["name"]


def test_every_model_of_a_sox_and_hipaa_stack_logs_all_to_the_sink() -> None:
    for stack in ("finance-prod", "healthcare-prod"):
        plan, _ = planned(stack)
        url = decision_sink_url("decisions")
        services = [r for r in plan.resources if r.custom and r.inputs.get("kind") == "InferenceService"]
        assert services
        assert all(r.inputs["spec"]["predictor"]["logger"] == {"mode": "all", "url": url} for r in services), stack
        # AND each serving namespace lets its predictors out to the sink's namespace and port only
        egress = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["egress"] for r in of_type(plan.resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["name"] == "kserve-to-decision-log"}
        assert set(egress) == {r.inputs["metadata"]["namespace"] for r in services}
        assert all(e == [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "decisions"}}}], "ports": [{"protocol": "TCP", "port": 8443}]}] for e in egress.values())


def test_healthcare_loki_admits_the_sink() -> None:
    plan, _ = planned("healthcare-prod")
    policy = next(r for r in of_type(plan.resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["name"] == "logging-ingress")
    sources = [rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for rule in policy.inputs["spec"]["ingress"][1:]]
    assert "decisions" in sources


def test_the_loggers_trust_the_stack_ca_through_a_certificate_only_config_map() -> None:
    # GIVEN finance-prod, whose CA comes from Vault
    plan, _ = planned("finance-prod")
    copies = [r for r in plan.resources if r.custom and r.inputs.get("kind") == "ExternalSecret" and r.inputs["metadata"]["name"] == LOGGER_CA]
    # THEN each serving namespace, and the inference gateway's proxies' (the AI Gateway exports the
    # LLMs' requests to the sink), gets a ConfigMap with the CA's certificate only, never its key
    assert {r.inputs["metadata"]["namespace"] for r in copies} == {"fraud", "credit-serving", "envoy-gateway-system"}
    target = copies[0].inputs["spec"]["target"]
    assert target["manifest"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert target["template"]["data"] == {"ca.crt": '{{ index . "tls.crt" }}'}
    assert [d["secretKey"] for d in copies[0].inputs["spec"]["data"]] == ["tls.crt"]
    # AND external-secrets may write ConfigMaps (its generic targets)
    assert release(plan.resources, "external-secrets", "dc1").inputs["values"]["genericTargets"] == {"enabled": True}
    # AND KServe's logger mounts it
    config = next(r for r in of_type(plan.resources, "kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == CONFIG_MAP)
    logger = json.loads(config.inputs["data"]["logger"])
    assert (logger["caBundle"], logger["caCertFile"]) == (LOGGER_CA, "ca.crt")


@pytest.mark.parametrize("gateway", [None, "gateway-system/internal"])
def test_the_owned_kserve_config_is_the_charts_rendering_plus_the_logger_ca(gateway: str | None) -> None:
    # GIVEN the release's kserve values, with and without a Gateway
    from hybridai.modules.serving import ServingArgs

    kserve = kserve_values(ServingArgs(models=(), gateway=gateway, tls=TlsArgs(issuer="hybridai-ca")))
    # WHEN the chart's own files render with its defaults and these values
    root = upstream() / "kserve" / "v0.20.0"
    values = yaml.safe_load((root / "kserve-resources-values.yaml").read_text())
    merged = copy.deepcopy(values)
    _merge(merged["kserve"], kserve)
    rendered = yaml.safe_load(render((root / "files" / "common" / "configmap-patch.yaml").read_text(), merged))["data"]
    base = yaml.safe_load((root / "files" / "common" / "configmap.yaml").read_text())["data"]
    chart = {key: json.loads(text) for key, text in {**base, **rendered}.items() if key != "_example"}
    # THEN the program's ConfigMap says the same, key for key, the logger adding only its CA
    ours = {key: json.loads(text) for key, text in inferenceservice_config(kserve, logger_ca=True).items()}
    assert ours.pop("logger") == {**chart.pop("logger"), "caBundle": LOGGER_CA, "caCertFile": "ca.crt"}
    assert ours == chart
    # AND the chart's own ConfigMap is off (shared resources off, its other two kept on)
    assert (kserve["createSharedResources"], kserve["inferenceServiceConfig"], kserve["storagecontainer"]) == (False, {"enabled": False}, {"enabled": True})


def _merge(into: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _problems(stack: str, change) -> list[tuple]:
    values = copy.deepcopy(stack_values(stack))
    change(values)
    with pytest.raises(StackConfigError) as raised:
        prepare(stack, values)
    return [(p.loc, p.type) for p in raised.value.problems]


def test_a_buffer_under_a_minute_of_peak_decisions_is_refused_at_its_key() -> None:
    # GIVEN finance-prod's 1,100 requests/s at 64 KiB a record: a minute is 4,125 MiB
    def change(values):
        values["logging"]["decisions"] = {"bufferMib": 4096, "recordBytes": 65536}

    # THEN the buffer is refused at its key
    assert (("logging", "decisions", "bufferMib"), "decision_buffer_too_small") in _problems("finance-prod", change)


def test_vectors_minimum_buffer_is_refused_at_its_key() -> None:
    def change(values):
        values["logging"]["decisions"] = {"bufferMib": 100}

    assert any(loc == ("logging", "decisions", "bufferMib") for loc, _ in _problems("healthcare-prod", change))


def test_a_hipaa_model_with_its_decision_log_off_is_refused_at_its_key() -> None:
    def change(values):
        values["models"][0]["decisionLog"] = False

    assert (("models", 0, "decisionLog"), "decision_log_required") in _problems("healthcare-prod", change)


def test_a_sink_needs_the_stack_ca_its_loggers_can_verify() -> None:
    def change(values):
        values["tls"]["issuer"] = {"existing": "corporate-ca"}

    assert (("tls", "issuer", "existing"), "decision_sink_ca_required") in _problems("healthcare-prod", change)


def test_an_http_external_sink_is_refused_at_its_key() -> None:
    def change(values):
        values["audit"]["decisionLogUrl"] = "http://audit-sink.bank.example/kserve"

    assert any(loc == ("audit", "decisionLogUrl") for loc, _ in _problems("finance-prod", change))


def test_the_sink_alerts_on_filling_buffers_and_refused_writes() -> None:
    import promql_parser

    # GIVEN finance-prod's alert rules
    plan, _ = planned("finance-prod")
    rules = [rule for r in plan.resources if r.custom and r.inputs.get("kind") == "PrometheusRule" and r.target == "dc1" for g in r.inputs["spec"]["groups"] for rule in g["rules"]]
    alerts = {rule["alert"]: rule for rule in rules if rule["alert"].startswith("Decision")}
    # THEN both fire critical on the sink's own namespace, in PromQL that parses
    assert set(alerts) == {"DecisionBufferFilling", "DecisionWritesRefused"}
    for alert in alerts.values():
        promql_parser.parse(alert["expr"])
        assert alert["labels"]["severity"] == "critical" and 'namespace="decisions"' in alert["expr"]
    assert alerts["DecisionBufferFilling"]["expr"].endswith("> 0.8")


def test_llm_spans_become_records_of_the_same_contract_beside_the_models() -> None:
    # GIVEN a sink for a predictive model and an LLM served behind the inference gateway
    config = dl.vector_config(llm_sink())
    # THEN an OTLP receiver serves https on 4318 with the sink's certificate; its gRPC listener (Vector requires one) is the pod's loopback only
    otlp = config["sources"]["gateway"]
    assert otlp["http"] == {"address": "0.0.0.0:4318", "tls": {"enabled": True, "crt_file": "/etc/vector/tls/tls.crt", "key_file": "/etc/vector/tls/tls.key"}}
    assert otlp["grpc"] == {"address": "127.0.0.1:4317"}
    # AND its spans become events, then records, which take the models' two paths: the archive whole, Loki without bodies
    assert config["transforms"]["llm_spans"] == {"type": "trace_to_log", "inputs": ["gateway.traces"]}
    assert config["transforms"]["llm_decision_records"]["inputs"] == ["llm_spans"]
    assert config["sinks"]["archive"]["inputs"] == config["transforms"]["decision_index"]["inputs"] == ["decision_records", "llm_decision_records"]
    # AND the program knows the LLM by the name clients ask for, with its registry version, and no other model
    program = config["transforms"]["llm_decision_records"]["source"]
    catalog = re.search(r"^catalog = (\{.*?\n\})", program, re.S | re.M).group(1)
    assert json.loads(catalog) == {"notes-summarizer": {"namespace": "clinical", "team": "clinical", "model": "notes-summarizer", "model_version": "3"}}
    assert "abort" in program and '"llm.model_name"' in program
    # AND the record carries the contract's fields, the bodies from the span's input and output values, and the caller
    for field in dl.RECORD_FIELDS:
        assert f'"{field}":' in program, field
    assert '"input.value"' in program and '"output.value"' in program and '"enduser.id"' in program
    # AND the KServe catalog no longer lists the LLM (it sends no CloudEvents)
    assert "notes-summarizer" not in dl.halves_program(llm_sink())


def test_the_chart_serves_every_port_where_the_otlp_receiver_runs() -> None:
    # GIVEN the chart derives ports only from top-level addresses WHEN the sink receives spans
    values = dl.vector_values(llm_sink())
    # THEN every port is listed by hand, under the names the chart gives (the PodMonitor scrapes prom-exporter)
    assert [(p["name"], p["containerPort"]) for p in values["containerPorts"]] == [("kserve", 8443), ("gateway-otlp", 4318), ("prom-exporter", dl.METRICS_PORT)]
    assert [(p["name"], p["port"], p["targetPort"]) for p in values["service"]["ports"]] == [("kserve", 8443, 8443), ("gateway-otlp", 4318, 4318), ("prom-exporter", 9598, 9598)]
    assert all(len(p["name"]) <= 15 for p in values["containerPorts"])
    # AND without LLMs the chart's own derivation stands
    assert "containerPorts" not in dl.vector_values(sink()) and "service" not in dl.vector_values(sink())
