"""Serving: KServe in RawDeployment mode (no Knative) and an InferenceService per catalog model."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.capacity.llm import LlmSizing
from hybridai.config.base import KSERVE_NAMESPACE
from hybridai.config.mlops import MlopsSettings, registry_uri
from hybridai.config.serving import ServingSettings
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
from hybridai.modules.autoscaling import AUTOSCALER_CLASS, PREDICTOR_METRICS_JOB, VLLM_KV_CACHE_TARGET, ScalingArgs, kserve_keda, request_triggers, vllm_triggers
from hybridai.modules.certificates import TlsArgs, certificate
from hybridai.modules.llm_serving import LLM_POD_CPU, LLM_POD_MEMORY, vllm_args
from hybridai.modules.monitoring import prometheus_url
from hybridai.modules.observability import model_relabelings
from hybridai.modules.secret_store import CA_CERTIFICATE_KEY, CredentialSecretArgs, certificate_config_maps
from hybridai.modules.target import Target

VLLM_RUNTIME = "kserve-vllmserver"
"""KServe's ClusterServingRuntime for vLLM (kserve-runtime-configs), for LLMs served as InferenceServices."""
VLLM_USER = 1000
"""The user vLLM's InferenceService runs as (its image has none but root)."""

NAMESPACE = KSERVE_NAMESPACE
WVA_CONFIG_KEY = "autoscaling-wva-controller-config"
"""The key of KServe's configuration its llmisvc controller reads the Prometheus of the
LLMInferenceServices' KEDA ScaledObjects from (pkg/controller/v1alpha2/llmisvc/config_loader.go)."""
CONFIG_MAP = "inferenceservice-config"
"""KServe's configuration, which its controller and webhook read; the program owns it (the chart's
own is turned off) so the logger's CA settings, for which the chart has no value, can be set."""
LOGGER_CA = "decision-sink-ca"
"""ConfigMap with the stack CA's certificate (`ca.crt`) in each namespace whose models log their
decisions: KServe mounts it into the logger (`caBundle`) to verify the decision sink."""


class ServedModelArgs(Args):
    name: str
    """InferenceService name."""
    namespace: str
    """Its team's namespace: it runs there, under the team's quota."""
    model_format: str
    """KServe model format (selects the serving runtime)."""
    storage_uri: str
    """Where KServe's storage initializer fetches the model from."""
    scaling: ScalingArgs
    """How KEDA scales its predictor: from what availability needs off-peak (two replicas for a
    production model) to the peak the capacity plan sized, on its request metrics."""
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
    decision_log: bool = False
    """Every request and response goes to the decision log (`ServingArgs.decision_log_url`);
    default: off."""
    runtime: str | None = None
    """The ClusterServingRuntime to run, where the model format alone doesn't choose it: `kserve-vllmserver`
    for an LLM served as an InferenceService; default: KServe picks by format."""
    args: tuple[str, ...] = ()
    """Arguments of the model server (an LLM's vLLM arguments); default: none."""
    gpus: int = 1
    """GPUs (or slices) each replica takes: an LLM's tensor-parallel size; one for any other model."""
    cpu: str = "2"
    """CPU each replica requests and is limited to."""
    memory: str = "8Gi"
    """Memory each replica requests and is limited to."""
    run_as_user: int | None = None
    """The model server's user, where its image's is root (vLLM's): the kubelet runs a non-root pod
    only as a numeric user; default: the image's."""
    env: tuple[tuple[str, str], ...] = ()
    """Environment of the model server (name, value): no credentials ever; default: none."""

    @classmethod
    def of(
        cls, model: ServedModel, namespace: str, mlops: MlopsSettings | None, peak_replicas: int, gpu_resource: str, replica_rps: float, replica_in_flight: float
    ) -> ServedModelArgs:
        """A catalog model as the capacity plan sized it (`peak_replicas` of `gpu_resource` each,
        each planned for `replica_rps` requests per second and `replica_in_flight` requests in
        flight), served from its URI or its registry version's location in the stack's MLflow
        artifacts, scaled on its runtime's request metrics against those two targets."""
        registry, canary = model.registry, model.canary
        triggers = request_triggers(namespace, model.name, catalog.request_metrics(model.model_format), replica_rps, replica_in_flight)
        return cls(
            name=model.name,
            namespace=namespace,
            model_format=model.model_format,
            storage_uri=model.storage_uri or registry_uri(mlops, registry),
            registry_model=registry.model if registry else None,
            model_version=registry.version if registry else None,
            # Scale down off-peak to what availability needs, up to the peak the planner sized.
            scaling=ScalingArgs(min_replicas=model.min_replicas, max_replicas=max(peak_replicas, model.min_replicas), triggers=triggers),
            gpu_resource=gpu_resource,
            production=model.production,
            canary_storage_uri=canary.storage_uri if canary else None,
            canary_percent=canary.traffic_percent if canary else 0,
            decision_log=model.decision_log,
        )


    @classmethod
    def of_llm(cls, model: ServedModel, namespace: str, mlops: MlopsSettings | None, peak_replicas: int, gpu_resource: str, sizing: LlmSizing) -> ServedModelArgs:
        """A catalog LLM served as a vLLM InferenceService (runtime `kserve-vllmserver`), where llm-d
        doesn't fit the cluster: the plan's replicas and tensor parallelism, the vLLM arguments and
        pod size of its LLMInferenceService (modules/llm_serving.py)."""
        # Scaled on vLLM's own load: requests queued beyond one batch per replica, or the KV cache
        # past VLLM_KV_CACHE_TARGET (requests per second mean little when a request is 1 or 1,000 tokens).
        scaling = ScalingArgs(
            min_replicas=model.min_replicas,
            max_replicas=max(peak_replicas, model.min_replicas),
            triggers=vllm_triggers(namespace, model.name, model.llm.concurrent_sequences, VLLM_KV_CACHE_TARGET),
        )
        base = cls.of(model, namespace, mlops, peak_replicas, gpu_resource, replica_rps=1.0, replica_in_flight=1.0)
        return base.model_copy(
            update={
                "scaling": scaling,
                "model_format": "vLLM",
                "runtime": VLLM_RUNTIME,
                "args": vllm_args(model, sizing),
                "gpus": sizing.tensor_parallel,
                "cpu": LLM_POD_CPU,
                "memory": LLM_POD_MEMORY,
                # vllm/vllm-openai runs as root: a plain user, whose home (vLLM's and Hugging Face's
                # caches) is the writable /tmp.
                "run_as_user": VLLM_USER,
                "env": (("HOME", "/tmp"),),
            }
        )


class ServingArgs(Args):
    models: tuple[ServedModelArgs, ...]
    """The catalog's models."""
    decision_log_url: str | None = None
    """Where the models' loggers send every request and response: the stack's decision sink, or an
    external one; default: None, no decision logging."""
    logger_ca: CredentialSecretArgs | None = None
    """The stack CA's source: its certificate goes into LOGGER_CA in each logging namespace, and the
    logger verifies the decision sink with it; None: the sink's certificate is publicly signed (an
    external sink)."""
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
    llm_autoscaling: bool = False
    """The cluster serves LLMInferenceServices scaled by the workload-variant-autoscaler: KServe's
    configuration names the Prometheus their KEDA ScaledObjects read (`autoscaling-wva-controller-config`);
    default: no (without the key KServe refuses an LLMInferenceService's `scaling.wva.keda`)."""

    @classmethod
    def of(cls, settings: ServingSettings, models: tuple[ServedModelArgs, ...], monitoring_namespace: str, decision_log_url: str | None = None, llm_autoscaling: bool = False) -> ServingArgs:
        """KServe for `models`, reached through the stack's serving Gateway if it names one, with
        `llm_autoscaling` where LLMInferenceServices are served (modules/variant_autoscaler.py)."""
        return cls(models=models, decision_log_url=decision_log_url, gateway=settings.gateway, monitoring_namespace=monitoring_namespace, llm_autoscaling=llm_autoscaling)


class Serving(Module):
    """KServe's CRDs and controller (charts pinned) in RawDeployment mode — plain Deployments and
    Services, no Knative — and, per model, an InferenceService with its GPU slice, replicas and
    autoscaling (KServe's KEDA ScaledObject on its request metrics, which a PodMonitor scrapes);
    production models get two replicas at least, spread over nodes, and a PodDisruptionBudget;
    with a decision log, every request and response goes to the audit sink."""

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
                metadata={"name": model.name, "namespace": model.namespace, "labels": versioned, "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment", **AUTOSCALER_CLASS}},
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
        if args.models:
            self._scraped(name, provider, args, controller)
        if args.gateway:
            self._behind_gateway(name, provider, args)
        if args.decision_log_url:
            self._to_decision_log(name, provider, args)
        self.register_outputs({})

    def _scraped(self, name: str, provider: k8s.Provider, args: ServingArgs, controller: pulumi.Resource) -> None:
        """The PodMonitor of every predictor pod's request metrics, which its KEDA triggers read:
        on the port and path the runtime annotates (`prometheus.kserve.io/port`, `…/path`, set on
        the pods from their ClusterServingRuntime), so each runtime is scraped where it serves them."""
        k8s.apiextensions.CustomResource(
            f"{name}-predictors-podmonitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": PREDICTOR_METRICS_JOB, "namespace": args.monitoring_namespace, "labels": MANAGED_BY},
            spec={
                "selector": {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]},
                "namespaceSelector": {"matchNames": sorted({m.namespace for m in args.models})},
                "podMetricsEndpoints": [{"interval": "30s", "relabelings": predictor_relabelings()}],
            },
            # The monitoring CRDs exist: the platform creates Serving after KEDA, which comes after
            # the monitoring stack.
            opts=child(self, provider, depends_on=[controller]),
        )

    def _to_decision_log(self, name: str, provider: k8s.Provider, args: ServingArgs) -> None:
        """In each logging team's default-deny namespace, the predictors' way out to the decision log."""
        parts = urlsplit(args.decision_log_url)
        port = {"protocol": "TCP", "port": parts.port or 443}
        # The stack's sink: its namespace only; an external one: its port anywhere (its address
        # is a name the cluster's DNS resolves, which a NetworkPolicy can't select).
        sink = parts.hostname.split(".") if parts.hostname else []
        in_cluster = len(sink) >= 3 and sink[2] == "svc"
        to = [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": sink[1]}}}], "ports": [port]}] if in_cluster else [{"ports": [port]}]
        for namespace_ in sorted({m.namespace for m in args.models if m.decision_log}):
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{namespace_}-to-decision-log",
                metadata={"name": "kserve-to-decision-log", "namespace": namespace_, "labels": MANAGED_BY},
                spec={
                    "podSelector": {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]},
                    "policyTypes": ["Egress"],
                    "egress": to,
                },
                opts=child(self, provider),
            )

    def _kserve(self, name: str, target: Target, args: ServingArgs) -> pulumi.Resource:
        """KServe's CRDs and controller in their namespace, in RawDeployment mode, with the
        configuration the program owns."""
        provider = target.provider
        # The API server calls KServe's webhooks (pod port 9443); Prometheus scrapes the controller.
        namespace = platform_namespace(
            f"{name}-ns", NAMESPACE, pod_security("baseline", "restricted"), [on_port(9443), from_namespace(args.monitoring_namespace)], self, provider
        )
        crds = pinned_release(f"{name}-kserve-crd", "kserve-crd", NAMESPACE, {}, child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        kserve = kserve_values(args)
        # Before the controller starts: it reads its configuration at start-up.
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={"name": CONFIG_MAP, "namespace": NAMESPACE, "labels": MANAGED_BY},
            data=inferenceservice_config(kserve, args.logger_ca is not None, wva_prometheus(args) if args.llm_autoscaling else None),
            opts=child(self, provider, depends_on=[namespace]),
        )
        ready = [crds, config]
        if args.logger_ca is not None:
            logging = tuple(sorted({m.namespace for m in args.models if m.decision_log}))
            ready += certificate_config_maps(name, LOGGER_CA, args.logger_ca, logging, self, provider, [namespace])
        controller = pinned_release(f"{name}-kserve", "kserve-resources", NAMESPACE, {"kserve": kserve}, child(self, provider, depends_on=ready), gitops=target.gitops)
        if any(m.runtime == VLLM_RUNTIME for m in args.models):
            # KServe's ClusterServingRuntimes, vLLM's among them, its image at the pinned release;
            # after the controller, whose webhook validates them. The models wait for both.
            return pinned_release(f"{name}-runtimes", "kserve-runtime-configs", NAMESPACE, runtime_values(), child(self, provider, depends_on=[controller]), gitops=target.gitops)
        return controller

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


def runtime_values() -> dict:
    """The kserve-runtime-configs chart's values: the ClusterServingRuntimes, vLLM's image at the
    pinned release (the chart's default tag is `latest`)."""
    image, _, tag = catalog.image("vllm").rpartition(":")
    return {"kserve": {"servingruntime": {"enabled": True, "vllmserver": {"image": image, "tag": tag}}}}


def kserve_values(args: ServingArgs) -> dict:
    """The kserve-resources chart's `kserve` values: RawDeployment, ingress only through the stack's
    Gateway, webhook certificates from cert-manager, and the chart's own `inferenceservice-config`
    off (`inferenceservice_config` writes it from these values)."""
    # No ingress unless the stack names a Gateway: models stay reachable only inside the cluster.
    # With one, KServe routes through Gateway API HTTPRoutes, whose weights split canary traffic.
    gateway: dict = {"disableIngressCreation": True}
    if args.gateway:
        gateway = {"disableIngressCreation": False, "ingressGateway": {"enableGatewayApi": True, "kserveGateway": args.gateway, "createGateway": False}}
    return {
        "controller": {"deploymentMode": "RawDeployment", "gateway": gateway},
        # The chart renders its ConfigMap (and its cert-manager Issuer and storage container) unless
        # shared resources are off: `inferenceServiceConfig.enabled: false` alone is read as unset
        # (`enabled | default createSharedResources` in its templates). The two others stay on.
        "createSharedResources": False,
        "inferenceServiceConfig": {"enabled": False},
        "storagecontainer": {"enabled": True},
        # KServe's chart asks cert-manager for its webhooks' serving certificate (its own
        # self-signed Issuer in the kserve namespace) and has the CA injected into the webhooks.
        "certManager": {"enabled": args.tls is not None},
    }


def wva_prometheus(args: ServingArgs) -> dict:
    """KServe's `autoscaling-wva-controller-config`: the Prometheus that the KEDA ScaledObject of each
    LLMInferenceService (`scaling.wva.keda`) reads `wva_desired_replicas` from — the cluster's,
    its certificate verified (`tlsInsecureSkipVerify: false`, KServe's trigger `unsafeSsl`): KEDA's
    operator trusts the stack issuer's CA (modules/keda.py `CA_DIR`). No authentication, as for
    every trigger here (Prometheus admits KEDA's namespace only)."""
    return {"prometheus": {"url": prometheus_url(args.monitoring_namespace, args.tls is not None), "tlsInsecureSkipVerify": False}}


def inferenceservice_config(kserve: dict, logger_ca: bool, wva: dict | None = None) -> dict[str, str]:
    """KServe's `inferenceservice-config` data: what the pinned chart renders from its default values
    (hybridai/data/kserve-inferenceservice-config.yaml) with the release's `kserve` values applied
    where the chart's template reads them, with `logger_ca` the logger verifying the decision
    sink against the stack CA's certificate (LOGGER_CA, mounted at /etc/tls/logger), and with `wva`
    the Prometheus of the LLMInferenceServices' ScaledObjects (`wva_prometheus`)."""
    config = catalog.kserve_inferenceservice_config()
    controller = kserve["controller"]
    config["deploy"]["defaultDeploymentMode"] = controller["deploymentMode"]
    gateway = controller["gateway"]
    config["ingress"]["disableIngressCreation"] = gateway["disableIngressCreation"]
    if "ingressGateway" in gateway:
        config["ingress"]["enableGatewayApi"] = gateway["ingressGateway"]["enableGatewayApi"]
        config["ingress"]["kserveIngressGateway"] = gateway["ingressGateway"]["kserveGateway"]
    if logger_ca:
        config["logger"].update({"caBundle": LOGGER_CA, "caCertFile": CA_CERTIFICATE_KEY})
    if wva is not None:
        config[WVA_CONFIG_KEY] = wva
    return {key: json.dumps(value, indent=2) for key, value in config.items()}


def predictor_relabelings() -> list[dict]:
    """Relabelings of the predictors' PodMonitor: only the model server's container (KServe's
    `kserve-container`, which declares no port in KServe's runtimes, so one target per pod; the
    logger's agent beside it is not scraped), at the port and path its runtime annotates, under
    one `job` the triggers and the scrape alert name, each series labelled with its model's name."""
    annotation = "__meta_kubernetes_pod_annotation_prometheus_kserve_io"
    return [
        {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": "kserve-container"},
        {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_annotationpresent_prometheus_kserve_io_port"], "regex": "true"},
        # The pod's IPv4 address with the annotated port (Prometheus' documented way of scraping an
        # undeclared port).
        {"action": "replace", "sourceLabels": ["__address__", f"{annotation}_port"], "regex": r"([^:]+)(?::\d+)?;(\d+)", "replacement": "$1:$2", "targetLabel": "__address__"},
        {"action": "replace", "sourceLabels": [f"{annotation}_path"], "regex": "(.+)", "targetLabel": "__metrics_path__"},
        {"action": "replace", "replacement": PREDICTOR_METRICS_JOB, "targetLabel": "job"},
        # The InferenceService's name as `model`: the LLM alerts and dashboard select a vLLM
        # InferenceService's series by it (a runtime's own `model` label, Triton's, is kept as
        # `exported_model`; nothing here reads it).
        *model_relabelings(),
    ]


def inference_service(model: ServedModelArgs, args: ServingArgs) -> dict:
    """A model's InferenceService spec: its predictor (GPU slice, replicas, autoscaling, priority)
    and, while a new version is tried, the canary running it for a share of the traffic."""
    gpu = {model.gpu_resource: str(model.gpus)}
    predictor = {
        # KServe's KEDA integration (the InferenceService's AUTOSCALER_CLASS): between the replica
        # bounds, on the model's request metrics in the cluster's Prometheus.
        **kserve_keda(model.scaling, prometheus_url(args.monitoring_namespace, args.tls is not None)),
        "priorityClassName": priority_class("production-inference" if model.production else "research"),
        "tolerations": [GPU_TOLERATION],
        "automountServiceAccountToken": False,
        "securityContext": RESTRICTED_POD,
        "model": {
            "modelFormat": {"name": model.model_format},
            "storageUri": model.storage_uri,
            "resources": {"requests": {"cpu": model.cpu, "memory": model.memory, **gpu}, "limits": {"cpu": model.cpu, "memory": model.memory, **gpu}},
            "securityContext": RESTRICTED_CONTAINER,
        },
    }
    if model.runtime:
        predictor["model"]["runtime"] = model.runtime
    if model.args:
        predictor["model"]["args"] = list(model.args)
    if model.run_as_user is not None:
        predictor["model"]["securityContext"] = {**RESTRICTED_CONTAINER, "runAsUser": model.run_as_user}
    if model.env:
        predictor["model"]["env"] = [{"name": k, "value": v} for k, v in model.env]
    if model.production:
        # Replicas on different nodes: one node's loss never takes a production model down.
        predictor["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"serving.kserve.io/inferenceservice": model.name}}}
        ]
    if args.decision_log_url and model.decision_log:
        # Requests and responses both: a decision is its input and its output.
        predictor["logger"] = {"mode": "all", "url": args.decision_log_url}
    spec: dict = {"predictor": predictor}
    if model.canary_storage_uri:
        # The canary runs the stable predictor with the new model; KServe sizes it from its
        # traffic share (the planner reserved slices for that) and weights the routes.
        # KServe refuses autoscaling fields on a canary: it runs at a fixed size.
        canary = {k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas", "autoScaling")}
        canary["name"] = "canary"
        # The canary's model spec must name its container (KServe's own name for it).
        canary["model"] = {**predictor["model"], "name": "kserve-container", "storageUri": model.canary_storage_uri}
        spec["canary"] = [{"trafficPercent": model.canary_percent, "predictor": canary}]
    return spec
