"""Serving: KServe in RawDeployment mode (no Knative) and an InferenceService per catalog model."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.base import KSERVE_NAMESPACE
from hybridai.config.mlops import MlopsSettings, registry_uri
from hybridai.config.operations import ServingSettings
from hybridai.config.workloads import ServedModel
from hybridai.recorded import MODEL_VERSION_LABEL, REGISTRY_MODEL_LABEL, component_type
from hybridai.modules.base import (
    GPU_TOLERATION,
    MANAGED_BY,
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
    priority_class,
)
from hybridai.modules.certificates import TlsArgs, certificate
from hybridai.modules.target import Target

NAMESPACE = KSERVE_NAMESPACE


class ServedModelArgs(Args):
    name: str
    """InferenceService name."""
    namespace: str
    """Its team's namespace: it runs there, under the team's quota."""
    model_format: str
    """KServe model format (selects the serving runtime)."""
    storage_uri: str
    """Where KServe's storage initializer fetches the model from."""
    replicas: int
    """Replicas off-peak: what availability needs (two for a production model)."""
    max_replicas: int
    """Replicas at peak, as the capacity plan sized them; the autoscaler moves between the two."""
    gpu_resource: str
    """`nvidia.com/gpu` or `nvidia.com/mig-<profile>`: one per replica."""
    production: bool
    """Production: top scheduling tier, replicas spread over nodes, a disruption budget."""
    canary_storage_uri: str | None = None
    """A canary version beside the stable one; default: None, no canary."""
    registry_model: str | None = None
    """The registered model it is served from (with `model_version`), or None for a raw URI."""
    model_version: int | None = None
    """The registered version it is served from, labelled on the InferenceService (the review shows promotions)."""
    canary_percent: int = 0
    """Traffic share of the canary version; KServe derives its replicas from it."""

    @classmethod
    def of(cls, model: ServedModel, namespace: str, mlops: MlopsSettings | None, peak_replicas: int, gpu_resource: str) -> ServedModelArgs:
        """A catalog model as the capacity plan sized it (`peak_replicas` of `gpu_resource` each),
        served from its URI or its registry version's location in the stack's MLflow artifacts."""
        registry, canary = model.registry, model.canary
        return cls(
            name=model.name,
            namespace=namespace,
            model_format=model.model_format,
            storage_uri=model.storage_uri or registry_uri(mlops, registry),
            registry_model=registry.model if registry else None,
            model_version=registry.version if registry else None,
            # Scale down off-peak to what availability needs, up to the peak the planner sized.
            replicas=model.min_replicas,
            max_replicas=max(peak_replicas, model.min_replicas),
            gpu_resource=gpu_resource,
            production=model.production,
            canary_storage_uri=canary.storage_uri if canary else None,
            canary_percent=canary.traffic_percent if canary else 0,
        )


class ServingArgs(Args):
    models: tuple[ServedModelArgs, ...]
    """The catalog's models."""
    decision_log_url: str | None = None
    """Audit sink of every request and response (KServe's logger), where decisions must be traceable;
    default: None, no request logging."""
    gateway: str | None = None
    """Gateway API Gateway (`namespace/name`) KServe's HTTPRoutes attach to; None: no ingress at all."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes KServe and the model servers (default: the stack's default monitoring namespace)."""
    tls: TlsArgs | None = None
    """The cluster's issuer: KServe's webhooks get their certificates from cert-manager; None: the
    cluster has no cert-manager (the stack check refuses that for a stack serving models)."""
    gateway_hosts: tuple[str, ...] = ()
    """Host names of the Gateway's HTTPS listener: its certificate (Secret `<gateway>-tls` in the Gateway's namespace)."""
    gateway_issuer: str | None = None
    """ClusterIssuer of the Gateway's certificate (ACME for public names); default: `tls.issuer`."""

    @classmethod
    def of(cls, settings: ServingSettings, models: tuple[ServedModelArgs, ...], monitoring_namespace: str, decision_log_url: str | None = None) -> ServingArgs:
        """KServe for `models`, reached through the stack's serving Gateway if it names one."""
        return cls(models=models, decision_log_url=decision_log_url, gateway=settings.gateway, monitoring_namespace=monitoring_namespace)


class Serving(Module):
    """KServe's CRDs and controller (charts pinned) in RawDeployment mode — plain Deployments and
    Services, no Knative — and, per model, an InferenceService with its GPU slice, replicas and
    autoscaling; production models get two replicas at least, spread over nodes, and a
    PodDisruptionBudget; with a decision log, every request and response goes to the audit sink."""

    def __init__(self, target: Target, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-serving"
        super().__init__(component_type("serving", "Serving"), name, None, placed(target, opts))
        provider = target.provider
        controller = self._kserve(name, target, args)
        for model in args.models:
            labels = {**MANAGED_BY, "hybrid-ai.io/model": model.name}
            # Review and policy read the pinned registry version from the InferenceService alone
            # (hybridai/recorded.py), so a promotion changes nothing else.
            versioned = {**labels, REGISTRY_MODEL_LABEL: model.registry_model, MODEL_VERSION_LABEL: str(model.model_version)} if model.registry_model else labels
            k8s.apiextensions.CustomResource(
                f"{name}-{model.namespace}-{model.name}",
                api_version="serving.kserve.io/v1beta1",
                kind="InferenceService",
                metadata={"name": model.name, "namespace": model.namespace, "labels": versioned, "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
                spec=inference_service(model, args),
                opts=child(self, provider, depends_on=[controller]),
            )
            if model.production:
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-{model.namespace}-{model.name}-pdb",
                    metadata={"name": model.name, "namespace": model.namespace, "labels": labels},
                    spec={"minAvailable": 1, "selector": {"matchLabels": {"serving.kserve.io/inferenceservice": model.name}}},
                    opts=child(self, provider),
                )
        if args.gateway:
            self._behind_gateway(name, provider, args)
        self.register_outputs({})

    def _kserve(self, name: str, target: Target, args: ServingArgs) -> pulumi.Resource:
        """KServe's CRDs and controller in their namespace, in RawDeployment mode."""
        provider = target.provider
        # The API server calls KServe's webhooks (pod port 9443); Prometheus scrapes the controller.
        namespace = platform_namespace(
            f"{name}-ns", NAMESPACE, pod_security("baseline", "restricted"), [on_port(9443), from_namespace(args.monitoring_namespace)], self, provider
        )
        crds = pinned_release(f"{name}-kserve-crd", "kserve-crd", NAMESPACE, {}, child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        # No ingress unless the stack names a Gateway: models stay reachable only inside the cluster.
        # With one, KServe routes through Gateway API HTTPRoutes, whose weights split canary traffic.
        gateway: dict = {"disableIngressCreation": True}
        if args.gateway:
            gateway = {"disableIngressCreation": False, "ingressGateway": {"enableGatewayApi": True, "kserveGateway": args.gateway, "createGateway": False}}
        kserve: dict = {"controller": {"deploymentMode": "RawDeployment", "gateway": gateway}}
        if args.tls is not None:
            # KServe's chart asks cert-manager for its webhooks' serving certificate (its own
            # self-signed Issuer in the kserve namespace) and has the CA injected into the webhooks.
            kserve["certManager"] = {"enabled": True}
        return pinned_release(
            f"{name}-kserve",
            "kserve-resources",
            NAMESPACE,
            {"kserve": kserve},
            child(self, provider, depends_on=[crds]),
            gitops=target.gitops,
        )

    def _behind_gateway(self, name: str, provider: k8s.Provider, args: ServingArgs) -> None:
        """With a Gateway: the certificate of its HTTPS listener, and its proxies admitted to the predictors."""
        gateway_namespace, gateway_name = args.gateway.split("/", 1)
        if args.tls is not None and args.gateway_hosts:
            # The certificate the Gateway's HTTPS listener references (`certificateRefs`): clients
            # reach the models only over TLS.
            certificate(f"{name}-gateway-cert", f"{gateway_name}-tls", gateway_namespace, args.gateway_hosts, args.gateway_issuer or args.tls.issuer, child(self, provider))
        # The Gateway's proxies reach the predictors in the teams' default-deny namespaces.
        for namespace_ in sorted({m.namespace for m in args.models}):
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{namespace_}-from-gateway",
                metadata={"name": "kserve-from-gateway", "namespace": namespace_, "labels": MANAGED_BY},
                spec={
                    "podSelector": {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]},
                    "policyTypes": ["Ingress"],
                    "ingress": [from_namespace(gateway_namespace)],
                },
                opts=child(self, provider),
            )


def inference_service(model: ServedModelArgs, args: ServingArgs) -> dict:
    """A model's InferenceService spec: its predictor (GPU slice, replicas, autoscaling, priority)
    and, while a new version is tried, the canary running it for a share of the traffic."""
    gpu = {model.gpu_resource: "1"}
    predictor = {
        "minReplicas": model.replicas,
        "maxReplicas": model.max_replicas,
        "scaleMetric": "cpu",
        "scaleTarget": 70,
        "priorityClassName": priority_class("production-inference" if model.production else "research"),
        "tolerations": [GPU_TOLERATION],
        "automountServiceAccountToken": False,
        "securityContext": RESTRICTED_POD,
        "model": {
            "modelFormat": {"name": model.model_format},
            "storageUri": model.storage_uri,
            "resources": {"requests": {"cpu": "2", "memory": "8Gi", **gpu}, "limits": {"cpu": "2", "memory": "8Gi", **gpu}},
            "securityContext": RESTRICTED_CONTAINER,
        },
    }
    if model.production:
        # Replicas on different nodes: one node's loss never takes a production model down.
        predictor["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"serving.kserve.io/inferenceservice": model.name}}}
        ]
    if args.decision_log_url:
        predictor["logger"] = {"mode": "all", "url": args.decision_log_url}
    spec: dict = {"predictor": predictor}
    if model.canary_storage_uri:
        # The canary runs the stable predictor with the new model; KServe sizes it from its
        # traffic share (the planner reserved slices for that) and weights the routes.
        canary = {k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget")}
        canary["name"] = "canary"
        # The canary's model spec must name its container (KServe's own name for it).
        canary["model"] = {**predictor["model"], "name": "kserve-container", "storageUri": model.canary_storage_uri}
        spec["canary"] = [{"trafficPercent": model.canary_percent, "predictor": canary}]
    return spec
