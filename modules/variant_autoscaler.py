"""The workload-variant-autoscaler (WVA, llm-d) on a cluster serving LLMInferenceServices: the
controller that turns each LLM's vLLM metrics in Prometheus into the replicas it needs.

How an LLMInferenceService scales (KServe v0.20.0, pkg/controller/v1alpha2/llmisvc/scaling.go): its
`spec.scaling.wva.keda` makes KServe's controller write, beside the vLLM Deployment (or
LeaderWorkerSet), a VariantAutoscaling (`<name>-kserve-va`, model id = `spec.model.name`) and a
KEDA ScaledObject (`<name>-kserve-keda`) whose one `prometheus` trigger reads
`wva_desired_replicas{variant_name="<name>-kserve-va", exported_namespace="<namespace>"}` with a
threshold of 1: KEDA runs the replicas WVA publishes, between the spec's bounds. This controller
computes them every `reconcileInterval` from `vllm:kv_cache_usage_perc` and
`vllm:num_requests_waiting` (selected by `namespace` and `model_name`, the served model name the
preset passes vLLM), against each LLM's saturation thresholds (`VariantThresholds`). The Prometheus
address and TLS of KServe's trigger are the `autoscaling-wva-controller-config` key of KServe's
`inferenceservice-config` (modules/serving.py). docs/design/llm-serving.md#scaling.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pydantic import model_validator

from hybridai import catalog
from hybridai.config.base import WVA_NAMESPACE
from hybridai.config.workloads import ServedModel
from hybridai.modules.autoscaling import VLLM_KV_CACHE_TARGET
from hybridai.modules.base import MANAGED_BY, Args, Module, child, from_namespace, on_port, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.monitoring import PROMETHEUS_PORT, prometheus_url
from hybridai.modules.target import Target
from hybridai.recorded import component_type

NAMESPACE = WVA_NAMESPACE
RELEASE = "workload-variant-autoscaler"
"""The release (and chart) name: the chart's objects are named `workload-variant-autoscaler-…`."""
METRICS_PORT = 8443
"""The controller's metrics port (`wva.metrics.port`, the chart's default): `wva_desired_replicas`,
which the chart's ServiceMonitor has Prometheus scrape and KServe's KEDA trigger reads back."""
POOL_GROUP = "inference.networking.k8s.io"
"""The InferencePool API group the controller watches: KServe v0.20.0 writes `inference.networking.k8s.io/v1`
pools (the chart's empty default means the older `inference.networking.x-k8s.io`)."""
KV_CACHE_SATURATED = 0.95
"""KV-cache use at which a replica counts as saturated: where vLLM starts preempting sequences
(the LLM alert's `kv_cache_saturation`, modules/observability.py)."""
CONTROLLER_REPLICAS = 2
"""Controller replicas (leader-elected; the chart's default): a node's loss never stops the LLMs'
scaling for longer than a lease."""


class VariantThresholds(Args):
    """One LLM's saturation thresholds, a per-model override of the controller's saturation
    config (`wva.capacityScaling.overrides`, keyed by model id and namespace), from its catalog
    entry: a replica is saturated when its KV cache is `KV_CACHE_SATURATED` full or
    `queue_length` requests wait on it; WVA adds a replica when the replicas' average spare KV
    cache falls below `kv_spare` or their average spare queue below `queue_spare`."""

    model: str
    """The model id WVA selects vLLM's series by (`model_name`): the LLMInferenceService's
    `spec.model.name`, its name."""
    namespace: str
    """The namespace it is served in (the series' `namespace`)."""
    kv_cache: float = KV_CACHE_SATURATED
    """KV-cache use (0–1) at which a replica is saturated (`kvCacheThreshold`)."""
    kv_spare: float = round(KV_CACHE_SATURATED - VLLM_KV_CACHE_TARGET, 2)
    """Average spare KV cache below which a replica is added (`kvSpareTrigger`): 0.15, so WVA
    scales up once the replicas' average use passes VLLM_KV_CACHE_TARGET (0.8), the KV-cache
    target of a vLLM InferenceService's KEDA trigger: both serving paths scale at the same use."""
    queue_length: int
    """Requests waiting at which a replica is saturated (`queueLengthThreshold`): two full batches
    (2 × `llm.concurrentSequences`), where a new request waits two batches' time for its first token."""
    queue_spare: int
    """Average spare queue below which a replica is added (`queueSpareTrigger`): one batch, so WVA
    scales up once more than one full batch (`llm.concurrentSequences`) waits per replica on
    average: the waiting-requests target of a vLLM InferenceService's trigger, and the level the
    LlmRequestsQueued alert fires at when it lasts (scaling couldn't keep up)."""

    @model_validator(mode="after")
    def _within_wva_limits(self) -> VariantThresholds:
        # The controller refuses a saturation config outside these (internal/config/saturation_scaling.go Validate).
        if not 0 <= self.kv_spare <= self.kv_cache <= 1:
            raise ValueError(f"{self.model}: need 0 ≤ kvSpareTrigger ({self.kv_spare:g}) ≤ kvCacheThreshold ({self.kv_cache:g}) ≤ 1")
        if not 0 < self.queue_spare <= self.queue_length:
            raise ValueError(f"{self.model}: need 0 < queueSpareTrigger ({self.queue_spare}) ≤ queueLengthThreshold ({self.queue_length})")
        return self

    @classmethod
    def of(cls, model: ServedModel, namespace: str) -> VariantThresholds:
        """An LLM's thresholds from its catalog entry: its batch (`llm.concurrentSequences`)."""
        batch = model.llm.concurrent_sequences
        return cls(model=model.name, namespace=namespace, queue_length=2 * batch, queue_spare=batch)

    def override(self) -> dict:
        """The chart's override entry (templates/manager/wva-cp-configmap.yaml)."""
        return {
            "modelID": self.model,
            "namespace": self.namespace,
            "kvCacheThreshold": self.kv_cache,
            "kvSpareTrigger": self.kv_spare,
            "queueLengthThreshold": self.queue_length,
            "queueSpareTrigger": self.queue_spare,
        }


class VariantAutoscalerArgs(Args):
    monitoring_namespace: str
    """Whose Prometheus the controller reads (https: WVA reads Prometheus over TLS only, so a cluster
    serving LLMInferenceServices has the stack's issuer, a stack rule) and which scrapes its metrics."""
    models: tuple[VariantThresholds, ...]
    """The cluster's LLMInferenceServices' thresholds."""

    @model_validator(mode="after")
    def _one_entry_per_model(self) -> VariantAutoscalerArgs:
        keys = [(m.namespace, m.model) for m in self.models]
        if len(set(keys)) != len(keys):
            raise ValueError(f"one threshold entry per model and namespace: {sorted(keys)}")
        return self

    @classmethod
    def of(cls, models: list[ServedModel], namespaces: dict[str, str], monitoring_namespace: str) -> VariantAutoscalerArgs:
        """WVA for the catalog's LLMs (`models` with an `llm` block), each in its team's namespace
        (`namespaces`: team → namespace), reading the Prometheus of `monitoring_namespace`."""
        return cls(monitoring_namespace=monitoring_namespace, models=tuple(VariantThresholds.of(m, namespaces[m.team]) for m in models if m.llm is not None))


class VariantAutoscaler(Module):
    """The workload-variant-autoscaler (chart pinned, its VariantAutoscaling CRD with it) in its own
    restricted namespace, watching every namespace's VariantAutoscalings (KServe writes them beside
    each LLMInferenceService), reading the cluster's Prometheus, its metrics scraped; out of its
    namespace it reaches only the API server, DNS and Prometheus."""

    def __init__(self, target: Target, args: VariantAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-variant-autoscaler"
        super().__init__(component_type("variant_autoscaler", "VariantAutoscaler"), name, None, placed(target, opts))
        provider = target.provider
        # Prometheus scrapes the controller's metrics.
        namespace = platform_namespace(f"{name}-ns", NAMESPACE, pod_security("restricted"), [{**from_namespace(args.monitoring_namespace), **on_port(METRICS_PORT)}], self, provider)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata={"name": "wva-egress", "namespace": NAMESPACE, "labels": MANAGED_BY},
            spec=controller_egress(args.monitoring_namespace),
            opts=child(self, provider, depends_on=[namespace]),
        )
        self.release = pinned_release(f"{name}-release", RELEASE, NAMESPACE, wva_values(args), child(self, provider, depends_on=[namespace]), gitops=target.gitops)
        self.register_outputs({"namespace": NAMESPACE})


def controller_egress(monitoring_namespace: str) -> dict:
    """Where the controller's pods may connect: Prometheus (its queries carry the pod's
    service-account token: see `wva_values` on TLS), the API server (its address isn't a pod or
    namespace a policy can select: its ports anywhere) and the cluster's DNS."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}}}], "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]},
            {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        ],
    }


def wva_values(args: VariantAutoscalerArgs) -> dict:
    """The workload-variant-autoscaler chart's values: the controller only (the chart's example
    VariantAutoscaling, HPA and vLLM emulator Service off: KServe writes each LLM's), watching all
    namespaces, at the pinned release's image, reading the cluster's Prometheus, with each LLM's
    thresholds.

    TLS to Prometheus: the controller speaks https only, and verifies a custom CA only from an inline
    PEM value (`wva.prometheus.caCert`, written into a ConfigMap by the chart). The stack issuer's
    CA is a Secret cert-manager holds, not a value known when the program runs, and the chart has no
    value to mount a Secret. So the controller connects without verifying Prometheus' certificate
    (`insecureSkipVerify`, set here explicitly, not left to the chart's default), which
    docs/design/llm-serving.md states as a gap. What limits it: the controller's egress reaches only
    Prometheus' namespace and port, the API server and DNS (`controller_egress`)."""
    pin = catalog.chart(RELEASE)
    thresholds = {f"{m.namespace}-{m.model}": m.override() for m in args.models}
    return {
        "controller": {"enabled": True},
        "wva": {
            "replicaCount": CONTROLLER_REPLICAS,
            # The release's image: its workflow sets the tag to the chart's release when it packages
            # it (the repository's values name an older one), pulled once.
            "image": {"tag": f"v{pin.version}"},
            "imagePullPolicy": "IfNotPresent",
            # Its VariantAutoscalings are in the teams' namespaces, not its own.
            "namespaceScoped": False,
            # Plain http on the metrics port, which only Prometheus' namespace reaches (the
            # namespace's NetworkPolicy): the secure mode's certificate is self-signed and the
            # chart's ServiceMonitor then skips verifying it.
            "metrics": {"enabled": True, "port": METRICS_PORT, "secure": False},
            "prometheus": {"baseURL": prometheus_url(args.monitoring_namespace, True), "tls": {"insecureSkipVerify": True}},
            "poolGroup": POOL_GROUP,
            # KServe's LLMInferenceService has at least one replica (its CRD: `scaling.minReplicas` ≥ 1).
            "scaleToZero": False,
            "capacityScaling": {"overrides": thresholds},
        },
        "va": {"enabled": False},
        "hpa": {"enabled": False},
        "vllmService": {"enabled": False},
    }

