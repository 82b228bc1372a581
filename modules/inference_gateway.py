"""The inference gateway of a cluster serving LLMs with llm-d: Envoy Gateway with Envoy AI Gateway (the
versions KServe v0.20.0 pins), one Gateway with an HTTPS listener, and per team an AIGatewayRoute to its
LLMs' InferencePools, authenticated by the team's identity-provider group and held to the team's token
budget per minute; the AI Gateway's token-usage metrics scraped by Prometheus. Where the LLMs' decisions
are kept, the AI Gateway exports every request (prompt and completion whole, and who asked) as a span
to the cluster's decision sink, over https verified with the stack CA.

Why this shape, and what the Gateway API CRDs come from: docs/design/llm-serving.md.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.base import AI_GATEWAY_NAMESPACE, ENVOY_GATEWAY_NAMESPACE, INFERENCE_GATEWAY_NAMESPACE
from hybridai.config.serving import LlmGatewaySettings
from hybridai.modules.base import (
    MANAGED_BY,
    NO_CAPABILITIES,
    NO_PRIVILEGE_ESCALATION,
    READ_ONLY_ROOT_FILESYSTEM,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    Args,
    Module,
    child,
    from_namespace,
    on_port,
    pinned_release,
    placed,
    platform_namespace,
    pod_security,
)
from hybridai.modules.certificates import TlsArgs, certificate
from hybridai.modules.secret_store import CredentialSecretArgs, certificate_config_maps
from hybridai.modules.target import Target
from hybridai.recorded import GATEWAY_CALLER_ATTRIBUTE, GATEWAY_TRACES_ENDPOINT, TEAM_LABEL, component_type

ENVOY_GATEWAY_API = "gateway.envoyproxy.io/v1alpha1"
"""Envoy Gateway's API version: EnvoyProxy and its policies."""
AI_GATEWAY_API = "aigateway.envoyproxy.io/v1beta1"
"""Envoy AI Gateway's stored API version (v1.0.0): AIGatewayRoute, GatewayConfig."""
GATEWAY_CLASS = "envoy"
"""The GatewayClass of Envoy Gateway's controller (the name KServe's install and tests use)."""
GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_NAME = "llm"
"""The inference Gateway, in INFERENCE_GATEWAY_NAMESPACE."""
GATEWAY = f"{INFERENCE_GATEWAY_NAMESPACE}/{GATEWAY_NAME}"
"""`namespace/name` of the inference Gateway."""
PROXIES_NAMESPACE = ENVOY_GATEWAY_NAMESPACE
"""Where Envoy Gateway runs a Gateway's Envoy proxies (its default: the controller's namespace), and
so the namespace the LLMs' pods admit."""
LISTENER_PORT = 10443
"""The container port of the proxies' HTTPS listener: Envoy Gateway maps a Gateway port below 1024
(443) to that port + 10000, so the proxies bind no privileged port."""
EXTPROC_METRICS_PORT = 1064
"""Port of the AI Gateway's external processor's Prometheus metrics (`gen_ai_client_token_usage`…), in
the sidecar the AI Gateway's webhook adds to each proxy pod."""
AI_GATEWAY_EXTENSION_PORT = 1063
"""The AI Gateway controller's gRPC extension server Envoy Gateway calls while translating routes."""
RATE_LIMIT_REDIS = "ratelimit-redis"
"""The Redis Deployment and Service of Envoy's rate limit service, in ENVOY_GATEWAY_NAMESPACE."""
REDIS_PORT = 6379
TOKEN_METADATA_NAMESPACE = "io.envoy.ai_gateway"
"""Dynamic metadata namespace the AI Gateway writes each request's costs to (`llmRequestCosts`)."""
TOTAL_TOKENS_KEY = "llm_total_token"
"""Metadata key of a request's prompt and completion tokens together: what a team's budget spends."""
GATEWAY_CONFIG_ANNOTATION = "aigateway.envoyproxy.io/gateway-config"
"""The Gateway's annotation naming the GatewayConfig (its namespace) the AI Gateway configures the
proxies' external processor from (v1.0.0 internal/controller/ai_gateway_route.go)."""
CALLER_HEADER = "x-hybridai-caller"
"""The request header the JWT filter writes the token's `sub` claim into, which the external
processor records on the request's span as GATEWAY_CALLER_ATTRIBUTE; one a client sends is removed
before any filter runs (the Gateway's ClientTrafficPolicy), so only the token can name the caller."""
TRAIL_CA = "decision-sink-ca"
"""ConfigMap (`ca.crt`) in the proxies' namespace with the stack CA's certificate, mounted into the
external processor, which verifies the decision sink with it."""
TRAIL_CA_DIR = "/etc/ai-gateway/decision-sink"


class GatewayRouteArgs(Args):
    model: str
    """The model name clients ask for (the OpenAI `model` field), which is the LLM's name."""
    pool: str
    """The InferencePool KServe created for it (`<name>-inference-pool`, in the team's namespace)."""


class GatewayTeamArgs(Args):
    name: str
    """The team: its route is `<team>-llms`."""
    namespace: str
    """The team's namespace: its AIGatewayRoute and policies live there, beside its InferencePools."""
    group: str
    """The identity-provider group's value in the token's groups claim (the team's group without the
    API server's prefix)."""
    tokens_per_minute: int
    """The team's token budget per minute, all its LLMs and callers together."""
    routes: tuple[GatewayRouteArgs, ...]
    """Its LLMs."""


class GatewayDecisionTrailArgs(Args):
    """Where the AI Gateway exports the LLMs' requests, for the decision trail."""

    url: str
    """The decision sink's OTLP/HTTP traces endpoint (https)."""
    ca: CredentialSecretArgs
    """The stack CA's source: its certificate (TRAIL_CA, in the proxies' namespace) verifies the sink."""


class InferenceGatewayArgs(Args):
    hosts: tuple[str, ...]
    """Host names of the HTTPS listener (its certificate's names)."""
    teams: tuple[GatewayTeamArgs, ...]
    """The teams with LLMs on the cluster."""
    issuer: str
    """OIDC issuer whose JWTs the gateway accepts."""
    jwks_uri: str
    """Where the issuer's signing keys are."""
    audiences: tuple[str, ...]
    """Audiences a token must carry."""
    groups_claim: str
    """The claim listing the caller's groups."""
    tls: TlsArgs
    """The cluster's issuer: the listener's certificate."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes the proxies (token usage) and the controllers."""
    install_gateway_api: bool = True
    """Install Gateway API's standard-channel CRDs: False where the stack names an existing Gateway
    (`serving.gateway`), whose cluster already runs Gateway API (Helm can't adopt CRDs it didn't
    install)."""
    decision_trail: GatewayDecisionTrailArgs | None = None
    """Where every LLM request goes for the decision trail; None: the cluster keeps no LLM decisions
    (no sink, or no LLM whose decisions are kept)."""

    @classmethod
    def of(cls, settings: LlmGatewaySettings, teams: tuple[GatewayTeamArgs, ...], tls: TlsArgs, monitoring_namespace: str, existing_gateway: bool) -> InferenceGatewayArgs:
        return cls(
            hosts=tuple(settings.hosts), teams=teams, issuer=str(settings.issuer), jwks_uri=str(settings.jwks_uri), audiences=tuple(settings.audiences),
            groups_claim=settings.groups_claim, tls=tls, monitoring_namespace=monitoring_namespace, install_gateway_api=not existing_gateway,
        )


class InferenceGateway(Module):
    """Envoy Gateway and Envoy AI Gateway in their namespaces, Redis for the token counters, the
    `envoy` GatewayClass and the inference Gateway (HTTPS only, its certificate from the stack's
    issuer), and per team an AIGatewayRoute, its SecurityPolicy (the team's group's JWTs only) and
    its BackendTrafficPolicy (the team's tokens per minute); a PodMonitor for token usage."""

    def __init__(self, target: Target, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-inference-gateway"
        super().__init__(component_type("inference_gateway", "InferenceGateway"), name, None, placed(target, opts))
        provider = target.provider
        controllers = self._controllers(name, target, args)
        namespace = platform_namespace(f"{name}-ns", INFERENCE_GATEWAY_NAMESPACE, pod_security("restricted"), [], self, provider)
        after = child(self, provider, depends_on=[*controllers, namespace])
        trail = self._decision_trail(name, provider, args.decision_trail, after) if args.decision_trail else []
        gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version="gateway.networking.k8s.io/v1",
            kind="GatewayClass",
            metadata={"name": GATEWAY_CLASS, "labels": MANAGED_BY},
            spec={"controllerName": GATEWAY_CONTROLLER},
            opts=after,
        )
        secret = f"{GATEWAY_NAME}-tls"
        cert = certificate(f"{name}-cert", secret, INFERENCE_GATEWAY_NAMESPACE, args.hosts, args.tls.issuer, child(self, provider, depends_on=[*controllers, namespace]))
        k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata={
                "name": GATEWAY_NAME, "namespace": INFERENCE_GATEWAY_NAMESPACE, "labels": MANAGED_BY,
                **({"annotations": {GATEWAY_CONFIG_ANNOTATION: GATEWAY_NAME}} if args.decision_trail else {}),
            },
            spec=gateway_spec(args, secret),
            opts=child(self, provider, depends_on=[gateway_class, cert, *trail]),
        )
        for team in args.teams:
            self._team(name, provider, args, team, after)
        # Token usage per model and team: the AI Gateway's external processor in each proxy pod.
        k8s.apiextensions.CustomResource(
            f"{name}-token-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": "ai-gateway-token-usage", "namespace": PROXIES_NAMESPACE, "labels": MANAGED_BY},
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/managed-by": "envoy-gateway", "gateway.envoyproxy.io/owning-gateway-name": GATEWAY_NAME}},
                "podMetricsEndpoints": [{"portNumber": EXTPROC_METRICS_PORT, "path": "/metrics", "interval": "30s"}],
            },
            opts=after,
        )
        self.register_outputs({})

    def _decision_trail(self, name: str, provider: k8s.Provider, trail: GatewayDecisionTrailArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """The stack CA in the proxies' namespace, the EnvoyProxy giving the proxy pods a volume of
        it, the GatewayConfig pointing the external processor's span exporter at the sink, and the
        ClientTrafficPolicy dropping a client's CALLER_HEADER."""
        ca = certificate_config_maps(f"{name}-trail", TRAIL_CA, trail.ca, (PROXIES_NAMESPACE,), self, provider, list(opts.depends_on or []))
        def beside_gateway(suffix: str, api_version: str, kind: str, spec: dict) -> pulumi.Resource:
            return _gateway_object(f"{name}-{suffix}", api_version, kind, GATEWAY_NAME, INFERENCE_GATEWAY_NAMESPACE, spec, opts)

        proxy = beside_gateway("proxy", ENVOY_GATEWAY_API, "EnvoyProxy", envoy_proxy_spec())
        config = beside_gateway("extproc", AI_GATEWAY_API, "GatewayConfig", gateway_config_spec(trail))
        clients = beside_gateway(
            "clients", ENVOY_GATEWAY_API, "ClientTrafficPolicy",
            {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}], "headers": {"earlyRequestHeaders": {"remove": [CALLER_HEADER]}}},
        )
        return [*ca, proxy, config, clients]

    def _controllers(self, name: str, target: Target, args: InferenceGatewayArgs) -> list[pulumi.Resource]:
        """The CRDs, Envoy Gateway (wired to the AI Gateway's extension server, InferencePool
        backends, and Redis-backed global rate limits) and the AI Gateway controller."""
        provider = target.provider
        # Clients reach the proxies' listener; the API server calls the controllers' webhooks;
        # Prometheus scrapes both namespaces (platform_namespace admits the namespace's own pods).
        envoy_ns = platform_namespace(
            f"{name}-envoy-ns", ENVOY_GATEWAY_NAMESPACE, pod_security("baseline", "restricted"), [on_port(LISTENER_PORT), from_namespace(args.monitoring_namespace)], self, provider
        )
        ai_ns = platform_namespace(
            f"{name}-ai-ns", AI_GATEWAY_NAMESPACE, pod_security("restricted"),
            [on_port(9443), {**from_namespace(ENVOY_GATEWAY_NAMESPACE), "ports": [{"protocol": "TCP", "port": AI_GATEWAY_EXTENSION_PORT}]}, from_namespace(args.monitoring_namespace)],
            self, provider,
        )
        crd_values = {"crds": {"envoyGateway": {"enabled": True}, "gatewayAPI": {"enabled": args.install_gateway_api, "channel": "standard"}}}
        crds = pinned_release(f"{name}-crds", "gateway-crds-helm", ENVOY_GATEWAY_NAMESPACE, crd_values, child(self, provider, depends_on=[envoy_ns]), gitops=target.gitops)
        ai_crds = pinned_release(f"{name}-ai-crds", "ai-gateway-crds-helm", AI_GATEWAY_NAMESPACE, {}, child(self, provider, depends_on=[ai_ns]), gitops=target.gitops)
        redis = self._redis(name, provider, [envoy_ns])
        envoy = pinned_release(
            f"{name}-envoy-gateway", "gateway-helm", ENVOY_GATEWAY_NAMESPACE, envoy_gateway_values(),
            child(self, provider, depends_on=[crds, redis]), gitops=target.gitops, skip_crds=True,
        )
        ai = pinned_release(
            f"{name}-ai-gateway", "ai-gateway-helm", AI_GATEWAY_NAMESPACE, ai_gateway_values(args.decision_trail is not None), child(self, provider, depends_on=[ai_crds, envoy]), gitops=target.gitops, skip_crds=True
        )
        return [crds, ai_crds, envoy, ai]

    def _redis(self, name: str, provider: k8s.Provider, after: list[pulumi.Resource]) -> pulumi.Resource:
        """Redis for the rate limit counters: one replica, nothing persisted (a minute's budget
        restarts with it), restricted, reachable only from its namespace (the rate limit service)."""
        labels = {**MANAGED_BY, "app.kubernetes.io/name": RATE_LIMIT_REDIS}
        selector = {"app.kubernetes.io/name": RATE_LIMIT_REDIS}
        deployment = k8s.apps.v1.Deployment(
            f"{name}-redis",
            metadata={"name": RATE_LIMIT_REDIS, "namespace": ENVOY_GATEWAY_NAMESPACE, "labels": labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        # The image's redis user: its entrypoint runs redis-server directly as non-root.
                        "securityContext": {**RESTRICTED_POD, "runAsUser": 999, "runAsGroup": 999},
                        "containers": [
                            {
                                "name": "redis",
                                "image": catalog.image("redis"),
                                # Counters only: no snapshots, no append-only file.
                                "args": ["--save", "", "--appendonly", "no"],
                                "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                                "securityContext": {**RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                "readinessProbe": {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 5},
                                "livenessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10, "failureThreshold": 3},
                            }
                        ],
                        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}],
                    },
                },
            },
            opts=child(self, provider, depends_on=after),
        )
        k8s.core.v1.Service(
            f"{name}-redis-svc",
            metadata={"name": RATE_LIMIT_REDIS, "namespace": ENVOY_GATEWAY_NAMESPACE, "labels": labels},
            spec={"selector": selector, "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}]},
            opts=child(self, provider, depends_on=after),
        )
        return deployment

    def _team(self, name: str, provider: k8s.Provider, args: InferenceGatewayArgs, team: GatewayTeamArgs, opts: pulumi.ResourceOptions) -> None:
        """A team's AIGatewayRoute to its LLMs, its authentication and its token budget: the AI
        Gateway writes the route as an HTTPRoute of the same name, which both policies target."""
        route = f"{team.name}-llms"
        base = f"{name}-{team.namespace}"
        _gateway_object(f"{base}-route", AI_GATEWAY_API, "AIGatewayRoute", route, team.namespace, ai_gateway_route(team), opts)
        _gateway_object(f"{base}-auth", ENVOY_GATEWAY_API, "SecurityPolicy", route, team.namespace, security_policy(args, team, route), opts)
        _gateway_object(f"{base}-tokens", ENVOY_GATEWAY_API, "BackendTrafficPolicy", route, team.namespace, token_budget(team, route), opts)


def _gateway_object(resource: str, api_version: str, kind: str, name: str, namespace: str, spec: dict, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """One of the gateway's Envoy Gateway or AI Gateway objects, labelled as the program's."""
    return k8s.apiextensions.CustomResource(resource, api_version=api_version, kind=kind, metadata={"name": name, "namespace": namespace, "labels": MANAGED_BY}, spec=spec, opts=opts)


def envoy_gateway_values() -> dict:
    """The gateway-helm chart's values: its controller image (the chart's values are a template the
    release fills in), the AI Gateway's extension hooks and Backend API (its manifests/envoy-gateway-values.yaml),
    InferencePool as an extension backend (its inference-pool addon), and global rate limiting on
    the program's Redis (its token_ratelimit addon)."""
    return {
        "global": {"images": {"envoyGateway": {"image": catalog.image("envoy-gateway"), "pullPolicy": "IfNotPresent"}}},
        "config": {
            "envoyGateway": {
                "gateway": {"controllerName": GATEWAY_CONTROLLER},
                "provider": {"type": "Kubernetes"},
                "extensionApis": {"enableEnvoyPatchPolicy": True, "enableBackend": True},
                "extensionManager": {
                    "hooks": {
                        "xdsTranslator": {
                            "translation": {kind: {"includeAll": True} for kind in ("listener", "route", "cluster", "secret")},
                            "post": ["Translation", "Cluster", "Route"],
                        }
                    },
                    "service": {"fqdn": {"hostname": f"ai-gateway-controller.{AI_GATEWAY_NAMESPACE}.svc.cluster.local", "port": AI_GATEWAY_EXTENSION_PORT}},
                    "backendResources": [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "version": "v1"}],
                },
                "rateLimit": {"backend": {"type": "Redis", "redis": {"url": f"{RATE_LIMIT_REDIS}.{ENVOY_GATEWAY_NAMESPACE}.svc.cluster.local:{REDIS_PORT}"}}},
            }
        },
    }


def ai_gateway_values(trail: bool) -> dict:
    """The ai-gateway-helm chart's values: its controller restricted (the chart leaves both contexts
    empty); with a decision `trail`, the caller's header recorded on each span (instead of the
    chart's default `agent-session-id:session.id`: a client-chosen value is no audit fact)."""
    controller: dict = {"podSecurityContext": RESTRICTED_POD, "securityContext": {**NO_PRIVILEGE_ESCALATION, **NO_CAPABILITIES, **READ_ONLY_ROOT_FILESYSTEM}}
    if trail:
        controller["spanRequestHeaderAttributes"] = f"{CALLER_HEADER}:{GATEWAY_CALLER_ATTRIBUTE}"
    return {"controller": controller}


def envoy_proxy_spec() -> dict:
    """The inference Gateway's proxies: a volume of TRAIL_CA in each pod, which the GatewayConfig
    mounts into the AI Gateway's external processor (the webhook adds that container; its mounts
    name the pod's volumes)."""
    return {"provider": {"type": "Kubernetes", "kubernetes": {"envoyDeployment": {"pod": {"volumes": [{"name": TRAIL_CA, "configMap": {"name": TRAIL_CA}}]}}}}}


def gateway_config_spec(trail: GatewayDecisionTrailArgs) -> dict:
    """The external processor's span exporter (OpenTelemetry's SDK variables, which the AI Gateway
    reads, v1.0.0 internal/tracing/tracing.go): every request sampled whatever the caller's trace
    context says — an audit trail is not a sample; spans over OTLP/HTTP to the sink, verified with
    the stack CA; the request and response bodies kept whole (`input.value`, `output.value`, on by
    default) and their per-message copies left out, which would double each record."""
    env = {
        GATEWAY_TRACES_ENDPOINT: trail.url,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": f"{TRAIL_CA_DIR}/ca.crt",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OPENINFERENCE_HIDE_INPUT_MESSAGES": "true",
        "OPENINFERENCE_HIDE_OUTPUT_MESSAGES": "true",
    }
    return {
        "extProc": {
            "kubernetes": {
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "volumeMounts": [{"name": TRAIL_CA, "mountPath": TRAIL_CA_DIR, "readOnly": True}],
            }
        }
    }


def gateway_spec(args: InferenceGatewayArgs, secret: str) -> dict:
    """The inference Gateway: one HTTPS listener for the stack's LLM host names (no plain HTTP at
    all), taking routes only from the namespaces of teams with LLMs."""
    teams = sorted(t.name for t in args.teams)
    listeners = []
    for i, host in enumerate(args.hosts):
        listeners.append(
            {
                "name": f"https-{i}" if len(args.hosts) > 1 else "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": host,
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret}]},
                "allowedRoutes": {
                    "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                    "namespaces": {"from": "Selector", "selector": {"matchExpressions": [{"key": TEAM_LABEL, "operator": "In", "values": teams}]}},
                },
            }
        )
    spec: dict = {"gatewayClassName": GATEWAY_CLASS, "listeners": listeners}
    if args.decision_trail:
        spec["infrastructure"] = {"parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": GATEWAY_NAME}}
    return spec


def ai_gateway_route(team: GatewayTeamArgs) -> dict:
    """A team's AIGatewayRoute: a rule per LLM matching the model clients ask for (the AI Gateway
    reads it from the request body into `x-ai-eg-model`) to the LLM's InferencePool, whose llm-d
    scheduler picks the replica; each request's token counts written to metadata for the budget and
    the usage metrics."""
    rules = [
        {
            "matches": [{"headers": [{"type": "Exact", "name": "x-ai-eg-model", "value": r.model}]}],
            "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": r.pool}],
        }
        for r in team.routes
    ]
    return {
        "parentRefs": [{"name": GATEWAY_NAME, "namespace": INFERENCE_GATEWAY_NAMESPACE, "kind": "Gateway", "group": "gateway.networking.k8s.io"}],
        "rules": rules,
        "llmRequestCosts": [
            {"metadataKey": "llm_input_token", "type": "InputToken"},
            {"metadataKey": "llm_output_token", "type": "OutputToken"},
            {"metadataKey": TOTAL_TOKENS_KEY, "type": "TotalToken"},
        ],
    }


def security_policy(args: InferenceGatewayArgs, team: GatewayTeamArgs, route: str) -> dict:
    """A team's route accepts only JWTs of the stack's issuer for its audiences whose groups claim
    holds the team's group; everything else is refused (401 without a valid token, 403 without the group)."""
    return {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}],
        "jwt": {"providers": [jwt_provider(args)]},
        "authorization": {
            "defaultAction": "Deny",
            "rules": [
                {"name": f"team-{team.name}", "action": "Allow", "principal": {"jwt": {"provider": "idp", "claims": [{"name": args.groups_claim, "valueType": "StringArray", "values": [team.group]}]}}}
            ],
        },
    }


def jwt_provider(args: InferenceGatewayArgs) -> dict:
    """The stack's identity provider; with a decision trail, the token's subject copied into
    CALLER_HEADER for the request's span (Envoy's JWT filter sets the header, so a client can't)."""
    provider: dict = {"name": "idp", "issuer": args.issuer, "audiences": list(args.audiences), "remoteJWKS": {"uri": args.jwks_uri}}
    if args.decision_trail:
        provider["claimToHeaders"] = [{"header": CALLER_HEADER, "claim": "sub"}]
    return provider


def token_budget(team: GatewayTeamArgs, route: str) -> dict:
    """A team's tokens per minute over all its LLMs and callers: each request is admitted while the
    minute's budget lasts (costing nothing up front) and its response spends its total tokens, read
    from the AI Gateway's metadata; past the budget the gateway answers 429."""
    return {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}],
        "rateLimit": {
            "global": {
                "rules": [
                    {
                        "limit": {"requests": team.tokens_per_minute, "unit": "Minute"},
                        "cost": {
                            "request": {"from": "Number", "number": 0},
                            "response": {"from": "Metadata", "metadata": {"namespace": TOKEN_METADATA_NAMESPACE, "key": TOTAL_TOKENS_KEY}},
                        },
                    }
                ]
            }
        },
    }
