"""LLM serving on a data-center cluster: KServe's LLMInferenceService (llm-d) for every catalog LLM the
capacity plan placed there — vLLM with the plan's tensor (and pipeline) parallelism, the llm-d
scheduler and its InferencePool in front, routed through the cluster's inference gateway.

Where llm-d doesn't fit (a k3s cluster) the LLM is a vLLM InferenceService instead
(`modules/serving.py`, runtime `kserve-vllmserver`); why: docs/design/llm-serving.md.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from hybridai.capacity.llm import LlmSizing
from hybridai.config.base import KSERVE_NAMESPACE, LWS_NAMESPACE
from hybridai.config.mlops import MlopsSettings, registry_uri
from hybridai.config.workloads import ServedModel
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
    options,
    pinned_release,
    placed,
    platform_namespace,
    pod_security,
    priority_class,
)
from hybridai.modules.observability import model_relabelings
from hybridai.modules.target import Target
from hybridai.modules.variant_autoscaler import VariantAutoscaler, VariantAutoscalerArgs
from hybridai.recorded import GPU_POOL_LABEL, LLM_WORKLOAD_LABELS, LLMISVC_POD_LABELS, MODEL_VERSION_LABEL, REGISTRY_MODEL_LABEL, component_type

VLLM_PORT = 8000
"""vLLM's port in KServe's LLMInferenceServiceConfig templates (`--port 8000`)."""
SCHEDULER_PORT = 9002
"""The llm-d scheduler's (endpoint picker's) gRPC ext-proc port the gateway's proxies call."""

LLM_POD_CPU = "8"
"""CPU of a vLLM pod: its API process (HTTP server, tokenizer, scheduler loop) and one worker process
per GPU each keep a core busy; the rest absorbs tokenization bursts."""
LLM_POD_MEMORY = "64Gi"
"""Memory of a vLLM pod: the weights pass through host memory while loading (safetensors are
memory-mapped) besides the processes' own; 64 GiB holds a 70B model's 16-bit shard per pod at TP ≥ 4."""


def vllm_args(model: ServedModel, sizing: LlmSizing) -> tuple[str, ...]:
    """vLLM's arguments from the catalog and the plan: the context and concurrency the KV cache was
    sized for, the memory share the plan sized with (passed explicitly: vLLM's default moved from
    0.9 to 0.92), the cache's dtype, and fp8 weights quantized on load. Tensor parallelism is not
    here: KServe's templates pass `--tensor-parallel-size` from `spec.parallelism.tensor`."""
    llm = model.llm
    args = [
        f"--max-model-len={llm.context_length}",
        f"--max-num-seqs={llm.concurrent_sequences}",
        f"--gpu-memory-utilization={sizing.gpu_memory_utilization:g}",
        f"--kv-cache-dtype={llm.kv_cache_dtype}",
    ]
    if llm.dtype in ("bf16", "fp16"):
        args.append(f"--dtype={'bfloat16' if llm.dtype == 'bf16' else 'float16'}")
    elif llm.dtype == "fp8":
        # A 16-bit checkpoint quantized when it loads; int8/int4 checkpoints carry their own
        # quantization config, which vLLM reads from the checkpoint.
        args.append("--quantization=fp8")
    if sizing.pipeline_parallel > 1:
        args.append(f"--pipeline-parallel-size={sizing.pipeline_parallel}")
    return tuple(args)


class LlmServiceArgs(Args):
    name: str
    """LLMInferenceService name (and the served model name clients ask for)."""
    namespace: str
    """Its team's namespace: it runs there, under the team's quota."""
    team: str
    """The team that owns it (its gateway route and token limit)."""
    uri: str
    """Where the weights come from: `oci://` (a ModelCar image), `s3://`, `gs://`, `pvc://` or `hf://`."""
    registry_model: str | None = None
    """The registered model it is served from (with `model_version`), or None for a raw URI."""
    model_version: int | None = None
    """The registered version, labelled on the LLMInferenceService like every served model's."""
    min_replicas: int
    """Replicas it never goes below (`spec.scaling.minReplicas`): two for a production model, one
    otherwise — the CRD's floor (`minReplicas` ≥ 1): an LLMInferenceService doesn't scale to zero."""
    max_replicas: int
    """Replicas it never goes above (`spec.scaling.maxReplicas`): the plan's peak, the GPUs the
    capacity plan reserved for it on its pool and counted in its team's quota (which refuses any pod
    beyond them); at least `min_replicas`."""
    tensor_parallel: int
    """GPUs of one node a replica's model is split over: `spec.parallelism.tensor`, the GPUs each pod requests."""
    pipeline_parallel: int = 1
    """Nodes a replica spans (`spec.parallelism.pipeline`); more than one: `spec.worker`, run as a LeaderWorkerSet."""
    gpu_resource: str
    """`nvidia.com/gpu`, or the MIG slice (`nvidia.com/mig-<profile>`) a single-GPU replica fits on."""
    pool: str
    """The GPU pool the plan sized it for: its pods select that pool's nodes."""
    vllm_args: tuple[str, ...]
    """vLLM's arguments (`vllm_args`)."""
    production: bool
    """Production: top scheduling tier and replicas spread over nodes."""
    cpu: str = LLM_POD_CPU
    """CPU each vLLM pod requests and is limited to."""
    memory: str = LLM_POD_MEMORY
    """Memory each vLLM pod requests and is limited to."""

    @classmethod
    def of(cls, model: ServedModel, namespace: str, mlops: MlopsSettings | None, peak_replicas: int, gpu_resource: str, sizing: LlmSizing) -> LlmServiceArgs:
        """A catalog LLM as the capacity plan sized it: `peak_replicas` replicas of `sizing`'s
        parallelism on `gpu_resource`, from its URI or its registry version's artifacts."""
        registry = model.registry
        return cls(
            name=model.name,
            namespace=namespace,
            team=model.team,
            uri=model.storage_uri or registry_uri(mlops, registry),
            registry_model=registry.model if registry else None,
            model_version=registry.version if registry else None,
            min_replicas=model.min_replicas,
            max_replicas=max(peak_replicas, model.min_replicas),
            tensor_parallel=sizing.tensor_parallel,
            pipeline_parallel=sizing.pipeline_parallel,
            gpu_resource=gpu_resource,
            pool=sizing.pool,
            vllm_args=vllm_args(model, sizing),
            production=model.production,
        )


class LlmServingArgs(Args):
    services: tuple[LlmServiceArgs, ...]
    """The cluster's LLMInferenceServices."""
    gateway_proxies_namespace: str
    """Where the gateway's Envoy proxies run: the only namespace admitted to the LLMs' pods."""
    autoscaler: VariantAutoscalerArgs
    """The workload-variant-autoscaler, which decides each LLM's replicas (`spec.scaling`)."""
    monitoring_namespace: str
    """Whose Prometheus scrapes the LLMs' vLLM pods (`VLLM_METRICS_JOB`)."""
    leader_worker_set: bool = False
    """Install LeaderWorkerSet: an LLM of the catalog may span nodes (`llm.multiNode`), so its
    replicas may be leader-and-workers groups; default: no."""

    @classmethod
    def of(cls, services: tuple[LlmServiceArgs, ...], models: list[ServedModel], proxies_namespace: str, namespaces: dict[str, str], monitoring_namespace: str) -> LlmServingArgs:
        """The cluster's LLMs, reached through the gateway whose proxies run in `proxies_namespace`,
        scaled by the workload-variant-autoscaler on what the Prometheus of `monitoring_namespace`
        scrapes of them (`namespaces`: team → namespace); LeaderWorkerSet where any of `models` may span nodes."""
        return cls(
            services=services,
            gateway_proxies_namespace=proxies_namespace,
            autoscaler=VariantAutoscalerArgs.of(models, namespaces, monitoring_namespace),
            monitoring_namespace=monitoring_namespace,
            leader_worker_set=any(m.llm is not None and m.llm.multi_node for m in models),
        )


class LlmServing(Module):
    """KServe's LLMInferenceService CRDs and controller (charts pinned, in KServe's namespace), its
    LLMInferenceServiceConfig presets, LeaderWorkerSet where an LLM spans nodes, and per LLM an
    LLMInferenceService; from outside their namespace the LLMs' pods admit only the inference
    gateway's proxies (and Prometheus)."""

    def __init__(self, target: Target, args: LlmServingArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-llm-serving"
        super().__init__(component_type("llm_serving", "LlmServing"), name, None, placed(target, opts))
        provider = target.provider
        ready = self._controllers(name, target, args)
        # Before the LLMs: KServe writes each one's VariantAutoscaling, whose CRD comes with it.
        ready.append(VariantAutoscaler(target, args.autoscaler, opts=options(self)))
        for service in args.services:
            k8s.apiextensions.CustomResource(
                f"{name}-{service.namespace}-{service.name}",
                api_version="serving.kserve.io/v1alpha2",
                kind="LLMInferenceService",
                metadata={"name": service.name, "namespace": service.namespace, "labels": llm_labels(service)},
                spec=llm_inference_service(service),
                opts=child(self, provider, depends_on=ready),
            )
        for namespace in sorted({s.namespace for s in args.services}):
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{namespace}-llms-behind-gateway",
                metadata={"name": "llms-behind-gateway", "namespace": namespace, "labels": MANAGED_BY},
                spec=behind_gateway_policy(args.gateway_proxies_namespace),
                opts=child(self, provider),
            )
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{namespace}-llm-egress",
                metadata={"name": "llm-egress", "namespace": namespace, "labels": MANAGED_BY},
                spec=LLM_EGRESS,
                opts=child(self, provider),
            )
        if args.services:
            # The monitoring CRDs exist: the platform creates LLM serving after KServe, which comes
            # after KEDA and the monitoring stack.
            k8s.apiextensions.CustomResource(
                f"{name}-vllm-podmonitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata={"name": VLLM_METRICS_JOB, "namespace": args.monitoring_namespace, "labels": MANAGED_BY},
                spec=vllm_pod_monitor(sorted({s.namespace for s in args.services})),
                opts=child(self, provider),
            )
        self.register_outputs({})

    def _controllers(self, name: str, target: Target, args: LlmServingArgs) -> list[pulumi.Resource]:
        """The llmisvc CRDs, its controller and presets in KServe's namespace (which the Serving
        module creates, with the `inferenceservice-config` the controller reads), and LWS."""
        provider = target.provider
        crds = pinned_release(f"{name}-llmisvc-crd", "kserve-llmisvc-crd", KSERVE_NAMESPACE, {}, child(self, provider), gitops=target.gitops)
        controller = pinned_release(
            f"{name}-llmisvc", "kserve-llmisvc-resources", KSERVE_NAMESPACE, llmisvc_values(), child(self, provider, depends_on=[crds]), gitops=target.gitops
        )
        # The presets (kserve-config-llm-*) the controller builds every LLMInferenceService from.
        presets = pinned_release(
            f"{name}-llmisvc-configs", "kserve-runtime-configs", KSERVE_NAMESPACE, {"kserve": {"llmisvcConfigs": {"enabled": True}}},
            child(self, provider, depends_on=[crds]), gitops=target.gitops,
        )
        ready: list[pulumi.Resource] = [controller, presets]
        if args.leader_worker_set:
            # The API server calls LWS's webhooks (pod port 9443).
            namespace = platform_namespace(f"{name}-lws-ns", LWS_NAMESPACE, pod_security("restricted"), [on_port(9443)], self, provider)
            ready.append(pinned_release(f"{name}-lws", "lws", LWS_NAMESPACE, LWS_VALUES, child(self, provider, depends_on=[namespace]), gitops=target.gitops))
        return ready


LWS_VALUES = {"image": {"manager": {"tag": "v0.10.0", "pullPolicy": "IfNotPresent"}}}
"""The LeaderWorkerSet chart's values: its controller image at the pinned release (the chart in the
repository defaults to the moving `main` tag, pulled Always; the chart keeps restricted contexts)."""


def llmisvc_values() -> dict:
    """The kserve-llmisvc-resources chart's values: its controller beside KServe's, which owns the
    shared resources — the `inferenceservice-config` ConfigMap the program writes (modules/serving.py),
    so the chart's own stays off, as in KServe's release."""
    return {
        "kserve": {
            # `inferenceServiceConfig.enabled` alone is read as unset (`enabled | default
            # createSharedResources` in the templates): both off, as for kserve-resources.
            "createSharedResources": False,
            "inferenceServiceConfig": {"enabled": False},
            # The Gateway API Inference Extension's InferencePool CRD (v1.5.0, the version KServe
            # pins), which the controller writes: the chart installs it.
            "llmisvc": {"createGIECRDs": True},
        }
    }


VLLM_METRICS_JOB = "llm-vllm"
"""The PodMonitor (and the `job` of the series) scraping the LLMInferenceServices' vLLM pods."""
LWS_WORKER_INDEX = "__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_worker_index"
"""LeaderWorkerSet's label of a group's pod: `0` the leader, which serves the model and its
metrics; the workers only run pipeline stages for it."""


def vllm_pod_monitor(namespaces: list[str]) -> dict:
    """The PodMonitor of the LLMs' vLLM pods in `namespaces` (the labels KServe's llmisvc controller
    gives them: LLM_WORKLOAD_LABELS; the llm-d scheduler's pods are another component): vLLM's
    `/metrics` on its port (`VLLM_PORT`), over plain http, as KServe's presets serve it when the
    program's KServe configuration leaves `ingress.enableLLMInferenceServiceTLS` unset (then no
    `--ssl-certfile` and probes on HTTP; tests/modules/test_llm_serving.py pins the two together);
    a leader-and-workers group scraped at its leader only; each series labelled with its
    LLMInferenceService's name as `model` (`model_relabelings`), with the target's `namespace`:
    what the LLM alerts and dashboard select on. `vllm:*` keeps vLLM's own `model_name`, which the
    workload-variant-autoscaler selects on."""
    return {
        "selector": {"matchLabels": LLM_WORKLOAD_LABELS},
        "namespaceSelector": {"matchNames": namespaces},
        "podMetricsEndpoints": [
            {
                "portNumber": VLLM_PORT,
                "path": "/metrics",
                "scheme": "http",
                "interval": "30s",
                "relabelings": [
                    {"action": "drop", "sourceLabels": [LWS_WORKER_INDEX], "regex": "[1-9][0-9]*"},
                    *model_relabelings(),
                    {"action": "replace", "replacement": VLLM_METRICS_JOB, "targetLabel": "job"},
                ],
            }
        ],
    }


def inference_pool(name: str) -> str:
    """The InferencePool KServe creates for an LLMInferenceService (kserve-config-llm-scheduler:
    `ChildName .ObjectMeta.Name "-inference-pool"`)."""
    return f"{name}-inference-pool"


def llm_labels(service: LlmServiceArgs) -> dict[str, str]:
    """An LLM's labels: the model, its team and, when served from the registry, the version (the
    review shows promotions from them, as for every model)."""
    labels = {**MANAGED_BY, "hybrid-ai.io/model": service.name, "hybrid-ai.io/team": service.team}
    if service.registry_model:
        labels.update({REGISTRY_MODEL_LABEL: service.registry_model, MODEL_VERSION_LABEL: str(service.model_version)})
    return labels


def _pod(service: LlmServiceArgs, args: tuple[str, ...]) -> dict:
    """A vLLM pod of the replica (the leader's or a worker's): the GPUs of its share, on the pool it
    was sized for. KServe merges it over its preset by container name (`main`): the preset keeps
    its command, which appends these arguments, its probes and its restricted container context."""
    gpus = {service.gpu_resource: str(service.tensor_parallel)}
    resources = {"cpu": service.cpu, "memory": service.memory, **gpus}
    container: dict = {"name": "main", "resources": {"requests": resources, "limits": resources}, "securityContext": RESTRICTED_CONTAINER}
    if args:
        container["args"] = list(args)
    return {
        "priorityClassName": priority_class("production-inference" if service.production else "research"),
        "tolerations": [GPU_TOLERATION],
        "nodeSelector": {GPU_POOL_LABEL: service.pool},
        "automountServiceAccountToken": False,
        "securityContext": RESTRICTED_POD,
        "containers": [container],
    }


def llm_inference_service(service: LlmServiceArgs) -> dict:
    """An LLM's LLMInferenceService spec (serving.kserve.io/v1alpha2): its weights, parallelism,
    scaling and pods, and the llm-d scheduler KServe runs in front of them with their InferencePool
    (`<name>-inference-pool`), which picks the replica by KV-cache use and queue depth. No KServe
    route (`router.route`, `router.gateway`): clients reach the pool only through the inference
    gateway's AIGatewayRoute (modules/inference_gateway.py), with its authentication, token budget
    and usage metrics; a route of KServe's own on the Gateway would bypass all three."""
    template = _pod(service, service.vllm_args)
    if service.production:
        # Replicas on different nodes: one node's loss never takes a production LLM down.
        template["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {**LLM_WORKLOAD_LABELS, "app.kubernetes.io/name": service.name}}}
        ]
    parallelism: dict = {"tensor": service.tensor_parallel}
    spec: dict = {
        "model": {"uri": service.uri, "name": service.name},
        "scaling": llm_scaling(service),
        "parallelism": parallelism,
        "template": template,
        "router": {"scheduler": {}},
    }
    if service.pipeline_parallel > 1:
        # KServe 0.20's multi-node presets are data-parallel; the pipeline size is passed
        # explicitly (here and as vLLM's --pipeline-parallel-size): one stage per node.
        parallelism["pipeline"] = service.pipeline_parallel
        spec["worker"] = _pod(service, service.vllm_args)
    return spec


SCALING_FAILURE_THRESHOLD = 3
"""Failed polls of the replicas WVA publishes (KEDA polls every 30 s) after which KEDA falls back
to the LLM's peak: 90 s without an answer from Prometheus or WVA."""


def llm_scaling(service: LlmServiceArgs) -> dict:
    """An LLM's `spec.scaling`: between its replica bounds, as the workload-variant-autoscaler
    decides from its vLLM metrics (modules/variant_autoscaler.py), actuated by a KEDA ScaledObject
    KServe writes (`wva.keda`; the other actuator, an HPA, would need a Prometheus Adapter the
    platform doesn't run). While KEDA can't read WVA's answer it runs the peak (`fallback`): a
    metrics outage never shrinks a loaded LLM. `variantCost` is left at the CRD's default: it only
    ranks variants of one model against each other, and each LLM here has one."""
    return {
        "minReplicas": service.min_replicas,
        "maxReplicas": service.max_replicas,
        "wva": {"keda": {"fallback": {"failureThreshold": SCALING_FAILURE_THRESHOLD, "replicas": service.max_replicas}}},
    }


def behind_gateway_policy(proxies_namespace: str) -> dict:
    """The LLM pods of a team namespace (default deny, the namespace's own pods and Prometheus
    admitted: modules/tenancy.py) reachable from outside it only by the inference gateway's proxies,
    on vLLM's port and the scheduler's: nobody reaches an LLM around the gateway, its
    authentication and its token limits (policy rule `llm-behind-gateway`)."""
    ports = [{"protocol": "TCP", "port": VLLM_PORT}, {"protocol": "TCP", "port": SCHEDULER_PORT}]
    return {"podSelector": {"matchLabels": LLMISVC_POD_LABELS}, "policyTypes": ["Ingress"], "ingress": [{**from_namespace(proxies_namespace), "ports": ports}]}


LLM_EGRESS = {
    "podSelector": {"matchLabels": LLMISVC_POD_LABELS},
    "policyTypes": ["Egress"],
    "egress": [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
}
"""The LLM pods' way out of their default-deny namespace: HTTPS (the storage initializer fetching
`s3://`/`gs://` weights) and the API server (the llm-d scheduler watches its pool's pods), as for
training runs (modules/training_runtime.py); nothing else."""
