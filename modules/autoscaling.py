"""Autoscaling on what a model server does, not on its CPU: KEDA triggers over request metrics in
Prometheus, handed to KServe's own KEDA integration. Not a component: the Serving module (and any
InferenceService, an LLM's included) puts `kserve_keda()`'s fields on a predictor.

KServe v0.20.0 turns a predictor of an InferenceService annotated `serving.kserve.io/autoscalerClass:
keda` into a KEDA ScaledObject named like its Deployment (`<name>-predictor`), which KServe owns
(pkg/controller/v1beta1/inferenceservice/reconcilers/keda/keda_reconciler.go at v0.20.0): its
replica bounds are the predictor's `minReplicas`/`maxReplicas`, each `autoScaling.metrics[]` entry of
type External with backend `prometheus` becomes a `prometheus` trigger (`serverAddress`, `query`,
`threshold` from `target.value`), and the HPA's stabilization windows come from KServe's
inferenceservice-config (`autoscaler`). KServe sets no metric type, so each trigger is KEDA's
default, AverageValue: the HPA runs ceil(query ÷ threshold) replicas. So every query here sums a
measure over the predictor's pods and every threshold is what one replica should carry; the HPA
takes the largest answer of all triggers. docs/design/scaling-on-requests.md.
"""
from __future__ import annotations

from decimal import Decimal

from pydantic import model_validator

from hybridai import catalog
from hybridai.catalog import RequestMetrics
from hybridai.modules.base import Args

AUTOSCALER_CLASS = {"serving.kserve.io/autoscalerClass": "keda"}
"""The InferenceService annotation that makes KServe scale its predictor with a KEDA ScaledObject
(instead of the HPA on CPU it creates by default)."""
PREDICTOR_METRICS_JOB = "kserve-predictors"
"""The `job` of every predictor pod's request metrics (the Serving module's PodMonitor), which the
triggers read and the scrape alert watches."""
RATE_WINDOW = "2m"
"""The window of every rate: four scrapes at Prometheus' 30 s interval, so one missed scrape
doesn't blank the trigger, yet a burst shows within two KEDA polls (30 s each)."""


VLLM_KV_CACHE_TARGET = 0.8
"""KV-cache use a vLLM replica is scaled to keep: below the 0.95 at which vLLM starts preempting
sequences (and the LLM alert fires), so a new replica is up before that. Both ways an LLM is served
scale on it: a vLLM InferenceService's KEDA trigger (`vllm_triggers`) and an LLMInferenceService's
workload-variant-autoscaler (modules/variant_autoscaler.py)."""


def _threshold(value: float) -> str:
    """A threshold as KServe's `target.value` (a Kubernetes quantity) and KEDA's float: plain
    decimal, to KEDA's three decimals (it hands the HPA `%.3f`, limits.yaml `keda`)."""
    return format(Decimal(f"{value:.3f}").normalize(), "f")


class PrometheusTrigger(Args):
    """A KEDA `prometheus` trigger of a predictor: a PromQL query summing a measure over its pods,
    and what one replica should carry of it."""

    name: str
    """What it measures (`requests`, `in-flight`, `waiting`, `kv-cache`): for the plan's readers and
    the tests; KServe's integration gives KEDA triggers no names."""
    query: str
    """PromQL summing the measure over the predictor's pods (KEDA queries it every 30 s)."""
    per_replica: float
    """The measure one replica should carry: the trigger's threshold. At least KEDA's threshold
    precision (limits.yaml `keda.threshold_min`): below it the HPA's target is 0."""

    @model_validator(mode="after")
    def _within_keda_precision(self) -> PrometheusTrigger:
        smallest = catalog.limits().keda.threshold_min
        if self.per_replica < smallest:
            raise ValueError(f"trigger {self.name}: a threshold of {self.per_replica:g} is below KEDA's precision ({smallest:g}): the HPA would get a target of 0")
        return self

    @property
    def threshold(self) -> str:
        """`per_replica` as KServe's `target.value` and KEDA's `threshold`."""
        return _threshold(self.per_replica)


class ScalingArgs(Args):
    """How a predictor scales: between its replica bounds, on its triggers."""

    min_replicas: int
    """Replicas it never goes below (the capacity plan's: two for a production model). At least 1:
    every trigger here reads the predictor's own pods, so at zero nothing would ever wake it
    (scaling from zero needs a measure from outside them, such as the gateway's request count)."""
    max_replicas: int
    """Replicas it never goes above (the capacity plan's peak: the GPU slices reserved for it)."""
    triggers: tuple[PrometheusTrigger, ...]
    """What it scales on; the HPA follows whichever asks for the most replicas."""

    @model_validator(mode="after")
    def _bounds(self) -> ScalingArgs:
        if not self.triggers:
            raise ValueError("a predictor scaled by KEDA needs at least one trigger")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"replica bounds {self.min_replicas}..{self.max_replicas}: need 1 ≤ min ≤ max")
        return self


def predictor_pods(namespace: str, name: str) -> str:
    """The label matchers of an InferenceService's stable predictor pods (its Deployment
    `<name>-predictor`; a canary's pods, `<name>-canary-predictor-…`, run at a fixed size) as the
    predictors' PodMonitor scrapes them: another scrape of the same pods is never counted twice."""
    return f'job="{PREDICTOR_METRICS_JOB}", namespace="{namespace}", pod=~"{name}-predictor-.+"'


def request_triggers(namespace: str, name: str, metrics: RequestMetrics, replica_rps: float, replica_in_flight: float) -> tuple[PrometheusTrigger, ...]:
    """A predictive model's triggers, from its catalog entry as the capacity plan read it:

    - `requests`: requests per second over its pods, `replica_rps` per replica — the rate the
      planner sized each replica for (throughput less headroom), so the replicas at peak are the
      planner's;
    - `in-flight`: requests being served or queued (the rate of the time spent on them, Little's
      law), `replica_in_flight` per replica — what a replica holds at its planned rate when each
      request takes the whole latency objective. It asks for more replicas than `requests` only
      when requests take longer than planned (a slower version, a throttled GPU, a queue building
      up), before the latency alert fires.
    """
    pods = predictor_pods(namespace, name)
    seconds = "" if metrics.busy_unit_seconds == 1 else f" * {metrics.busy_unit_seconds:g}"
    return (
        PrometheusTrigger(name="requests", query=f"sum(rate({metrics.requests}{{{pods}}}[{RATE_WINDOW}]))", per_replica=replica_rps),
        PrometheusTrigger(name="in-flight", query=f"sum(rate({metrics.busy}{{{pods}}}[{RATE_WINDOW}])){seconds}", per_replica=replica_in_flight),
    )


def vllm_triggers(namespace: str, name: str, waiting_per_replica: float, kv_cache_usage: float) -> tuple[PrometheusTrigger, ...]:
    """An LLM's triggers on vLLM's own gauges (kserve-vllmserver; `vllm:gpu_cache_usage_perc` is the
    deprecated name of the second):

    - `waiting`: requests queued, not yet scheduled (`vllm:num_requests_waiting`), summed over the
      pods, `waiting_per_replica` per replica;
    - `kv-cache`: the KV cache's use (`vllm:kv_cache_usage_perc`, 0–1 per pod) summed over the pods,
      `kv_cache_usage` per replica: the HPA then keeps the average use at that fraction.
    """
    if not 0 < kv_cache_usage <= 1:
        raise ValueError(f"kv_cache_usage is a fraction of the cache (0 < x ≤ 1), got {kv_cache_usage:g}")
    pods = predictor_pods(namespace, name)
    return (
        PrometheusTrigger(name="waiting", query=f"sum(vllm:num_requests_waiting{{{pods}}})", per_replica=waiting_per_replica),
        PrometheusTrigger(name="kv-cache", query=f"sum(vllm:kv_cache_usage_perc{{{pods}}})", per_replica=kv_cache_usage),
    )


def kserve_keda(scaling: ScalingArgs, prometheus_url: str) -> dict:
    """A predictor's fields for KServe's KEDA integration (with `AUTOSCALER_CLASS` on the
    InferenceService): its replica bounds and each trigger as an External metric read from the
    cluster's Prometheus at `prometheus_url`."""
    return {
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "autoScaling": {
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"backend": "prometheus", "serverAddress": prometheus_url, "query": t.query},
                        # KServe's webhook requires `value` (with its type) and its reconciler reads
                        # only `value`, as the trigger's threshold; the trigger itself keeps KEDA's
                        # default type, AverageValue (see the module's docstring).
                        "target": {"type": "Value", "value": t.threshold},
                    },
                }
                for t in scaling.triggers
            ]
        },
    }
