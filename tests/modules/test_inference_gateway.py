"""The inference gateway: Envoy Gateway and Envoy AI Gateway pinned and wired, an HTTPS Gateway, per
team a route to its LLMs' InferencePools, its IdP group's JWTs only, its token budget, token metrics."""
from __future__ import annotations

import copy

from hybridai import catalog
from tests.conftest import planned
from tests.harness.upstream import validate_custom_resource
from tests.helpers import named, of_kind, release


def resources(stack: str):
    return planned(stack)[0].resources


def test_the_gateway_api_standard_channel_is_installed_unless_the_cluster_has_it() -> None:
    # GIVEN finance-prod (no Gateway of its own) and healthcare-prod (names the hospital's existing Gateway)
    # WHEN planned THEN Envoy's CRD chart installs its own CRDs, and the standard Gateway API channel only where none is
    finance = release(resources("finance-prod"), "oci://docker.io/envoyproxy/gateway-crds-helm")
    hospital = release(resources("healthcare-prod"), "oci://docker.io/envoyproxy/gateway-crds-helm")
    assert finance.inputs["version"] == "v1.8.1"
    assert finance.inputs["values"] == {"crds": {"envoyGateway": {"enabled": True}, "gatewayAPI": {"enabled": True, "channel": "standard"}}}
    assert hospital.inputs["values"]["crds"]["gatewayAPI"]["enabled"] is False
    # AND the gateway and AI Gateway charts leave their CRD folders out (their CRD charts install them)
    envoy = release(resources("finance-prod"), "oci://docker.io/envoyproxy/gateway-helm")
    ai = release(resources("finance-prod"), "oci://docker.io/envoyproxy/ai-gateway-helm")
    assert envoy.inputs["skipCrds"] is True and ai.inputs["skipCrds"] is True
    assert (envoy.inputs["version"], ai.inputs["version"]) == ("v1.8.1", "v1.0.0")
    assert release(resources("finance-prod"), "oci://docker.io/envoyproxy/ai-gateway-crds-helm").inputs["version"] == "v1.0.0"


def test_envoy_gateway_is_wired_to_the_ai_gateway_inference_pools_and_redis() -> None:
    values = release(resources("finance-prod"), "oci://docker.io/envoyproxy/gateway-helm").inputs["values"]
    # The chart's image is a template placeholder: the program names the pinned one
    assert values["global"]["images"]["envoyGateway"] == {"image": catalog.image("envoy-gateway"), "pullPolicy": "IfNotPresent"}
    config = values["config"]["envoyGateway"]
    manager = config["extensionManager"]
    assert manager["service"]["fqdn"] == {"hostname": "ai-gateway-controller.envoy-ai-gateway-system.svc.cluster.local", "port": 1063}
    assert manager["backendResources"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "version": "v1"}]
    assert config["extensionApis"] == {"enableEnvoyPatchPolicy": True, "enableBackend": True}
    assert config["rateLimit"]["backend"] == {"type": "Redis", "redis": {"url": "ratelimit-redis.envoy-gateway-system.svc.cluster.local:6379"}}
    # AND the AI Gateway's controller runs restricted (the chart leaves its contexts empty)
    ai = release(resources("finance-prod"), "oci://docker.io/envoyproxy/ai-gateway-helm").inputs["values"]["controller"]
    assert ai["podSecurityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert ai["securityContext"]["capabilities"] == {"drop": ["ALL"]} and ai["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_gateway_serves_https_only_with_a_certificate_of_the_stacks_issuer() -> None:
    gateway = named(resources("finance-prod"), "Gateway", "llm").inputs
    assert gateway["metadata"]["namespace"] == "inference-gateway"
    [listener] = gateway["spec"]["listeners"]
    assert (listener["protocol"], listener["port"], listener["hostname"]) == ("HTTPS", 443, "llm.dc1.bank.example")
    assert listener["tls"] == {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "llm-tls"}]}
    # Routes only from the namespaces of teams with LLMs
    assert listener["allowedRoutes"]["namespaces"]["selector"] == {"matchExpressions": [{"key": "hybrid-ai.io/team", "operator": "In", "values": ["document-review"]}]}
    assert gateway["spec"]["gatewayClassName"] == named(resources("finance-prod"), "GatewayClass", "envoy").inputs["metadata"]["name"]
    cert = named(resources("finance-prod"), "Certificate", "llm-tls").inputs["spec"]
    assert cert["dnsNames"] == ["llm.dc1.bank.example"] and cert["secretName"] == "llm-tls"
    assert cert["issuerRef"]["kind"] == "ClusterIssuer"


def test_each_team_routes_its_llms_to_their_inference_pools() -> None:
    route = named(resources("finance-prod"), "AIGatewayRoute", "document-review-llms").inputs
    assert route["metadata"]["namespace"] == "document-review"
    assert route["spec"]["parentRefs"] == [{"name": "llm", "namespace": "inference-gateway", "kind": "Gateway", "group": "gateway.networking.k8s.io"}]
    assert route["spec"]["rules"] == [
        {
            "matches": [{"headers": [{"type": "Exact", "name": "x-ai-eg-model", "value": "document-review"}]}],
            "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "document-review-inference-pool"}],
        }
    ]
    assert {"metadataKey": "llm_total_token", "type": "TotalToken"} in route["spec"]["llmRequestCosts"]


def test_a_team_is_authenticated_by_its_identity_provider_group() -> None:
    policy = named(resources("finance-prod"), "SecurityPolicy", "document-review-llms").inputs["spec"]
    assert policy["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "document-review-llms"}]
    [provider] = policy["jwt"]["providers"]
    assert provider == {
        "name": "idp", "issuer": "https://sso.bank.example/oauth2/ml", "audiences": ["bank-llm-gateway"], "remoteJWKS": {"uri": "https://sso.bank.example/oauth2/ml/v1/keys"},
        # the token's subject as the caller of each request the decision trail records
        "claimToHeaders": [{"header": "x-hybridai-caller", "claim": "sub"}],
    }
    # The team's group `oidc:legal-document-review`, as the token's claim carries it (the API server's prefix dropped)
    assert policy["authorization"]["defaultAction"] == "Deny"
    [allow] = policy["authorization"]["rules"]
    assert allow["principal"]["jwt"]["claims"] == [{"name": "groups", "valueType": "StringArray", "values": ["legal-document-review"]}]


def test_a_teams_token_budget_is_spent_by_each_responses_tokens() -> None:
    budget = named(resources("finance-prod"), "BackendTrafficPolicy", "document-review-llms").inputs["spec"]
    [limit] = budget["rateLimit"]["global"]["rules"]
    assert limit["limit"] == {"requests": 600000, "unit": "Minute"}
    assert limit["cost"] == {"request": {"from": "Number", "number": 0}, "response": {"from": "Metadata", "metadata": {"namespace": "io.envoy.ai_gateway", "key": "llm_total_token"}}}
    # AND Envoy's own limits are the config's: a budget of 0 is what the CRD refuses too
    obj = copy.deepcopy(named(resources("finance-prod"), "BackendTrafficPolicy", "document-review-llms").inputs)
    assert validate_custom_resource(obj) == []
    obj["spec"]["rateLimit"]["global"]["rules"][0]["limit"]["requests"] = 0
    assert validate_custom_resource(obj) != []


def test_token_usage_is_scraped_and_the_counters_store_is_restricted() -> None:
    monitor = named(resources("finance-prod"), "PodMonitor", "ai-gateway-token-usage").inputs
    assert monitor["metadata"]["namespace"] == "envoy-gateway-system"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"portNumber": 1064, "path": "/metrics", "interval": "30s"}]
    redis = [r for r in resources("finance-prod") if r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["name"] == "ratelimit-redis"]
    [pod] = [r.inputs["spec"]["template"]["spec"] for r in redis]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 999
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["containers"][0]["args"] == ["--save", "", "--appendonly", "no"]


def test_only_clusters_serving_llms_with_llm_d_get_a_gateway() -> None:
    for stack in ("healthcare-dev", "finance-dev", "manufacturing-prod"):
        assert not of_kind(resources(stack), "AIGatewayRoute") and not of_kind(resources(stack), "Gateway"), stack


def test_the_ai_gateway_exports_every_llm_request_to_the_decision_sink_verified_with_the_stack_ca() -> None:
    # GIVEN finance-prod, whose document-review LLM's decisions are kept (SOX) WHEN planned
    plan = resources("finance-prod")
    gateway = named(plan, "Gateway", "llm").inputs
    config = named(plan, "GatewayConfig", "llm").inputs
    proxy = named(plan, "EnvoyProxy", "llm").inputs
    # THEN the Gateway names its GatewayConfig and its EnvoyProxy, both beside it
    assert gateway["metadata"]["annotations"] == {"aigateway.envoyproxy.io/gateway-config": "llm"}
    assert gateway["spec"]["infrastructure"] == {"parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "llm"}}
    assert config["metadata"]["namespace"] == proxy["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    # AND the external processor sends every request (never sampled) to the sink's OTLP endpoint over https, verified
    # with the stack CA the proxy pods mount from a certificate-only ConfigMap in their namespace
    kube = config["spec"]["extProc"]["kubernetes"]
    env = {e["name"]: e["value"] for e in kube["env"]}
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "https://decision-sink.decisions.svc:4318/v1/traces"
    assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]) == ("always_on", "http/protobuf")
    assert env["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"] == "/etc/ai-gateway/decision-sink/ca.crt"
    assert kube["volumeMounts"] == [{"name": "decision-sink-ca", "mountPath": "/etc/ai-gateway/decision-sink", "readOnly": True}]
    assert proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]["pod"]["volumes"] == [{"name": "decision-sink-ca", "configMap": {"name": "decision-sink-ca"}}]
    ca = [r for r in plan if r.custom and r.inputs.get("kind") == "ExternalSecret" and r.inputs["metadata"] == {"name": "decision-sink-ca", "namespace": "envoy-gateway-system", "labels": r.inputs["metadata"]["labels"]}]
    assert len(ca) == 1 and ca[0].inputs["spec"]["target"]["template"]["data"] == {"ca.crt": '{{ index . "tls.crt" }}'}
    # AND the bodies are kept whole, their per-message copies left out; no OPENINFERENCE_HIDE_INPUTS/OUTPUTS
    assert env["OPENINFERENCE_HIDE_INPUT_MESSAGES"] == env["OPENINFERENCE_HIDE_OUTPUT_MESSAGES"] == "true"
    assert not {"OPENINFERENCE_HIDE_INPUTS", "OPENINFERENCE_HIDE_OUTPUTS"} & set(env)
    # AND each span names the caller only the token can: the header a client sends is dropped before any filter
    ai = release(plan, "oci://docker.io/envoyproxy/ai-gateway-helm").inputs["values"]["controller"]
    assert ai["spanRequestHeaderAttributes"] == "x-hybridai-caller:enduser.id"
    clients = named(plan, "ClientTrafficPolicy", "llm").inputs["spec"]
    assert clients == {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "llm"}], "headers": {"earlyRequestHeaders": {"remove": ["x-hybridai-caller"]}}}
    # AND all of it is what the pinned CRDs accept
    for obj in (gateway, config, proxy, named(plan, "ClientTrafficPolicy", "llm").inputs, named(plan, "SecurityPolicy", "document-review-llms").inputs):
        assert validate_custom_resource(copy.deepcopy(obj)) == [], obj["kind"]


def test_a_gateway_without_a_decision_trail_exports_nothing() -> None:
    # GIVEN the finance-prod gateway's args without a trail WHEN its objects are written
    from blueprints.platform import inference_gateway
    from hybridai.modules import inference_gateway as ig
    from hybridai.program import prepare
    from tests.helpers import stack_values

    args = inference_gateway(prepare("finance-prod", stack_values("finance-prod"))[0])
    assert args is not None and args.decision_trail is None
    # THEN no header mapping, no annotation's infrastructure, no claim copied
    assert "spanRequestHeaderAttributes" not in ig.ai_gateway_values(False)["controller"]
    assert "infrastructure" not in ig.gateway_spec(args, "llm-tls")
    assert "claimToHeaders" not in ig.jwt_provider(args)
