"""Security rules: credentials the program puts in the clusters, and TLS on serving and platform endpoints."""
from __future__ import annotations

from typing import Any, Iterator

from hybridai.config.base import ENVOY_GATEWAY_NAMESPACE
from hybridai.recorded import LLM_WORKLOAD_LABELS, REDACTED_SECRET, fluent_bit_sections, release_of
from hybridai.policy.rules.base import Finding, PolicyContext, Resource, kind, metadata, rule


def _where(r: Resource) -> str:
    m = metadata(r)
    return f"{kind(r)} {m.get('namespace', '')}/{m.get('name', '')}"


@rule(
    "k8s-secrets-not-plaintext",
    "Every value of a Secret the program creates is a Pulumi secret (encrypted in state, redacted in the plan); credentials from a store arrive through ExternalSecrets",
)
def secrets_not_plaintext(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.secret_values_visible:
        # CrossGuard hands rules secret values unwrapped, so secrecy can't be seen there; the
        # offline plan every pull request runs is where this rule holds.
        return
    for r in resources:
        if kind(r) != "Secret":
            continue
        inputs = r["inputs"]
        for field in ("data", "stringData"):
            values = inputs.get(field)
            if values == REDACTED_SECRET:
                continue  # the whole map is a secret
            for key, value in (values or {}).items():
                if value != REDACTED_SECRET:
                    yield Finding(r["urn"], f"{_where(r)}: {field}.{key} is plain text; take it from a Pulumi secret (`secrets.sources[].values`) or a store (an ExternalSecret)")


def _release_values(r: Resource, chart: str) -> dict[str, Any] | None:
    """The values of a Helm release of `chart` (a Release, or an Argo CD Application on a GitOps target)."""
    release = release_of(r["type"], r["inputs"])
    return release[1] if release is not None and release[0] == chart else None


@rule(
    "serving-endpoints-tls",
    "Serving is reached only over TLS: KServe's webhooks take cert-manager certificates, cert-manager runs where models are served, "
    "the serving Gateway has its certificate, and the decision log is sent over https",
)
def serving_tls(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    serving = {r["target"] for r in resources if kind(r) == "InferenceService"}
    cert_manager = {r["target"] for r in resources if _release_values(r, "cert-manager") is not None}
    certificates = {(r["target"], metadata(r).get("namespace"), (r["inputs"].get("spec") or {}).get("secretName")) for r in resources if kind(r) == "Certificate"}
    for r in resources:
        values = _release_values(r, "kserve-resources")
        if values is None or r["target"] not in serving:
            continue
        kserve = values.get("kserve") or {}
        if not (kserve.get("certManager") or {}).get("enabled"):
            yield Finding(r["urn"], f"KServe on {r['target']} doesn't take its webhooks' certificates from cert-manager (kserve.certManager.enabled)")
        if r["target"] not in cert_manager:
            yield Finding(r["urn"], f"{r['target']} serves models without cert-manager: set `tls.issuer`")
        gateway = (((kserve.get("controller") or {}).get("gateway") or {}).get("ingressGateway") or {}).get("kserveGateway")
        if gateway:
            namespace, name = gateway.split("/", 1)
            if (r["target"], namespace, f"{name}-tls") not in certificates:
                yield Finding(r["urn"], f"the serving Gateway {gateway} on {r['target']} has no certificate (Secret {name}-tls): set `tls.gatewayHosts`")
    for r in resources:
        if kind(r) != "InferenceService":
            continue
        spec = r["inputs"].get("spec") or {}
        predictors = [spec.get("predictor") or {}, *((c.get("predictor") or {}) for c in spec.get("canary") or [])]
        for predictor in predictors:
            url = (predictor.get("logger") or {}).get("url")
            if url and not str(url).startswith("https://"):
                yield Finding(r["urn"], f"{_where(r)} sends its decision log to {url} without TLS: use an https address")


@rule(
    "platform-endpoints-tls",
    "Where the cluster has the stack's issuer (cert-manager runs), Loki, Prometheus and Grafana serve https with their "
    "certificates and the cluster's collectors push to Loki over https, verifying it",
)
def platform_tls(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    issued = {r["target"] for r in resources if _release_values(r, "cert-manager") is not None}
    for r in resources:
        if r["target"] not in issued:
            continue
        stack = _release_values(r, "kube-prometheus-stack")
        if stack is not None:
            prometheus = stack.get("prometheus") or {}
            web = (prometheus.get("prometheusSpec") or {}).get("web") or {}
            if not prometheus.get("agentMode") and not web.get("tlsConfig"):
                yield Finding(r["urn"], f"Prometheus on {r['target']} listens on plain http: serve its certificate (prometheusSpec.web.tlsConfig)")
            grafana = stack.get("grafana") or {}
            if grafana.get("enabled", True) and ((grafana.get("grafana.ini") or {}).get("server") or {}).get("protocol") != "https":
                yield Finding(r["urn"], f"Grafana on {r['target']} listens on plain http: serve its certificate (grafana.ini server.protocol https)")
        loki = _release_values(r, "loki")
        if loki is not None:
            server = ((loki.get("loki") or {}).get("structuredConfig") or {}).get("server") or {}
            if not (server.get("http_tls_config") or {}).get("cert_file"):
                yield Finding(r["urn"], f"Loki on {r['target']} listens on plain http: serve its certificate (server.http_tls_config)")
        collector = _release_values(r, "fluent-bit")
        if collector is not None:
            outputs = fluent_bit_sections(((collector.get("config") or {}).get("outputs")) or "", "OUTPUT")
            plain = sorted({(o.get("Host") or ["?"])[0] for o in outputs if o.get("Name") == ["loki"] and (o.get("tls") != ["On"] or o.get("tls.verify") != ["On"])})
            if plain:
                yield Finding(r["urn"], f"the log collector on {r['target']} pushes to Loki ({', '.join(plain)}) without verified TLS")


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a label selector (`matchLabels`, `matchExpressions`) selects a pod with `labels`; an
    empty selector selects every pod."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and present and labels[key] in values):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _namespace_of_peer(peer: dict[str, Any]) -> str | None:
    """The one namespace a NetworkPolicy peer's namespaceSelector names by
    `kubernetes.io/metadata.name`, if that is all it selects by; None otherwise."""
    selector = peer.get("namespaceSelector") or {}
    names = selector.get("matchLabels") or {}
    if set(names) == {"kubernetes.io/metadata.name"} and not selector.get("matchExpressions"):
        return names["kubernetes.io/metadata.name"]
    return None


@rule(
    "llm-behind-gateway",
    "An LLM's pods are reachable from outside their namespace only through the inference gateway (its proxies' namespace) "
    "and by Prometheus: the namespace denies ingress by default and no NetworkPolicy admits anyone else, so no caller skips the "
    "gateway's authentication, token budget and usage metrics",
)
def llm_behind_gateway(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    llms: dict[str, list[Resource]] = {}
    for r in resources:
        if kind(r) == "LLMInferenceService":
            llms.setdefault(metadata(r).get("namespace", ""), []).append(r)
    if not llms:
        return
    # The platform's own scraper, not a client: the namespace the Prometheus chart runs in.
    scrapers = {str(r["inputs"].get("namespace")) for r in resources if (release := release_of(r["type"], r["inputs"])) and release[0] == "kube-prometheus-stack"}
    admitted = {ENVOY_GATEWAY_NAMESPACE, *scrapers}
    policies = [r for r in resources if kind(r) == "NetworkPolicy"]
    for namespace, services in sorted(llms.items()):
        for service in services:
            name = metadata(service).get("name", "")
            labels = {**LLM_WORKLOAD_LABELS, "app.kubernetes.io/name": name}
            where = f"LLMInferenceService {namespace}/{name}"
            selecting = [p for p in policies if metadata(p).get("namespace") == namespace and _selects((p["inputs"].get("spec") or {}).get("podSelector"), labels)]
            denies = [p for p in selecting if "Ingress" in ((p["inputs"].get("spec") or {}).get("policyTypes") or []) and not (p["inputs"].get("spec") or {}).get("podSelector")]
            if not denies:
                yield Finding(service["urn"], f"{where}: no NetworkPolicy of {namespace} covers every pod for ingress, so its pods take traffic from anywhere; deny ingress by default")
            for policy in selecting:
                for i, ingress in enumerate((policy["inputs"].get("spec") or {}).get("ingress") or []):
                    peers = ingress.get("from")
                    if not peers:
                        yield Finding(service["urn"], f"{where}: NetworkPolicy {namespace}/{metadata(policy).get('name')} ingress[{i}] admits every source; admit the gateway's namespace {ENVOY_GATEWAY_NAMESPACE} only")
                        continue
                    for peer in peers:
                        if "ipBlock" in peer:
                            yield Finding(service["urn"], f"{where}: NetworkPolicy {namespace}/{metadata(policy).get('name')} ingress[{i}] admits addresses {peer['ipBlock'].get('cidr')} around the gateway")
                        elif "namespaceSelector" in peer and _namespace_of_peer(peer) not in admitted:
                            source = _namespace_of_peer(peer) or f"namespaces {peer['namespaceSelector']}"
                            yield Finding(service["urn"], f"{where}: NetworkPolicy {namespace}/{metadata(policy).get('name')} ingress[{i}] admits {source}, not the gateway's namespace {ENVOY_GATEWAY_NAMESPACE}")
