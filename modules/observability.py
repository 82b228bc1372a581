"""GPU alert rules and Grafana dashboards: PromQL over DCGM, kube-state-metrics and model servers.

Metric sources: the DCGM exporter (`DCGM_FI_*`, labelled with the workload's `namespace` and `pod`
because its ServiceMonitor honours the exporter's labels), kube-state-metrics (`kube_*`), KServe
model servers (`request_predict_seconds`, a histogram per model server pod), KEDA's operator (`keda_*`,
labelled with each ScaledObject's `namespace`), vLLM (`vllm:*`, each series labelled `namespace` and
`model` by the scrape's `model_relabelings()`) and OpenCost (`container_gpu_allocation`,
`node_gpu_hourly_cost`).
"""
from __future__ import annotations

from typing import Any, Iterable, Literal

from hybridai import catalog

from hybridai.config.components import Team
from hybridai.config.operations import MonitoringSettings
from hybridai.config.workloads import ServedModel
from hybridai.recorded import ARCHIVE_CHECK, GPU_QUOTA_PREFIX
from hybridai.modules.autoscaling import PREDICTOR_METRICS_JOB
from hybridai.modules.base import Args
from hybridai.modules.gpu_burn_in import TAINT_KEY as BURN_IN_TAINT
from hybridai.modules.drift_monitor import BASELINE_METRIC, CHECKED_METRIC, DRIFT_METRIC, LATENCY_METRIC, PROMETHEUS_PREFIX, RUN_DEADLINE_SECONDS

INFERENCE_LATENCY = "request_predict_seconds"
GPU_RESOURCES = 'resource=~"nvidia_com_(gpu|mig_.+)"'


def _gpu_quota(kind: str) -> str:
    """kube-state-metrics' series of the teams' GPU quotas, `used` or `hard`, by the keys tenancy writes."""
    return f'kube_resourcequota{{type="{kind}", resource=~"{GPU_QUOTA_PREFIX}.+"}}'


GPU_QUOTA_USE = f"sum by (namespace, resource) ({_gpu_quota('used')}) / sum by (namespace, resource) ({_gpu_quota('hard')} > 0)"
"""Each team's share of its GPU quota in use, per GPU resource (quotas of zero left out)."""


class ModelObjective(Args):
    namespace: str
    """Namespace the model is served in."""
    model: str
    """InferenceService name: its predictor pods are `<model>-predictor-…` (`<model>-canary-predictor-…`)."""
    latency_objective_ms: int
    """Its p99 latency objective: its own alert fires when that is exceeded for 10 minutes."""

    @classmethod
    def of(cls, model: ServedModel, namespace: str, settings: MonitoringSettings) -> ModelObjective:
        """A served model's objective: its own, else the stack's `monitoring.latencyObjectiveMs`."""
        return cls(namespace=namespace, model=model.name, latency_objective_ms=model.objective_ms(settings.latency_objective_ms))


class DriftWatch(Args):
    namespace: str
    """Namespace the model is served in (the drift metrics' `namespace` label)."""
    model: str
    """InferenceService name (their `model` label)."""
    version: int
    """The registry version it serves (their `version` label): a promotion re-plans the rules for the new one."""
    threshold: float
    """Population stability index above which its inputs have drifted (`models[].drift.threshold`)."""
    latency_objective_ms: int
    """Its latency objective, which the p95 of its decisions must stay within."""
    stale_after_seconds: int
    """No check finished for this long: two intervals of its schedule and a run's deadline."""

    @classmethod
    def of(cls, model: ServedModel, namespace: str, settings: MonitoringSettings) -> DriftWatch:
        """A watched model's alert thresholds: its drift settings and latency objective (its own, else the stack's)."""
        return cls(
            namespace=namespace,
            model=model.name,
            version=model.registry.version,
            threshold=model.drift.threshold,
            latency_objective_ms=model.latency_objective_ms or settings.latency_objective_ms,
            stale_after_seconds=2 * model.drift.longest_gap_seconds() + RUN_DEADLINE_SECONDS,
        )


TTFT = "vllm:time_to_first_token_seconds"
ITL = "vllm:inter_token_latency_seconds"
"""vLLM's latency histograms (the inter-token one replaced `vllm:time_per_output_token_seconds`);
their fixed buckets are in hybridai/data/llms.yaml `vllm_histograms`."""
MODEL_LABEL = "model"
"""The label every vLLM series carries with its model's name (`model_relabelings`): the LLM alerts
and dashboard select on it and `namespace`."""
SLO_WINDOW_DAYS = 30
"""The error budget's period: the SRE workbook's burn rates are for a 30-day objective."""
BURN_RATES = ((14.4, "1h", "5m"), (6.0, "6h", "30m"))
"""(burn rate, long window, short window) of the multiwindow, multi-burn-rate alerts: the Google SRE
workbook's "Alerting on SLOs" pages at 2 % of a 30-day budget spent in an hour (14.4×) and 5 % in
six hours (6×), each confirmed over a window a twelfth as long so the alert stops soon after the
burn does (docs/design/llm-slo.md)."""


def model_relabelings() -> list[dict[str, Any]]:
    """The relabelings of a PodMonitor (or ServiceMonitor) endpoint scraping vLLM pods, giving each
    series the `model` label the LLM alerts select on: the InferenceService's name (its pods' label
    `serving.kserve.io/inferenceservice`) or else the LLMInferenceService's (`app.kubernetes.io/name`).
    With the Prometheus Operator's own `namespace` target label, `{namespace, model}` names a model."""
    return [
        {
            "action": "replace",
            "sourceLabels": ["__meta_kubernetes_pod_label_serving_kserve_io_inferenceservice", "__meta_kubernetes_pod_label_app_kubernetes_io_name"],
            "separator": ";",
            # The first label where set, else the second; neither: no `model` (the regex doesn't match).
            "regex": "([^;]+);.*|;(.+)",
            "replacement": "${1}${2}",
            "targetLabel": MODEL_LABEL,
        }
    ]


def _le(bucket: float) -> str:
    """A regex matching a bucket's `le` value as vLLM's client writes it (`1.0`, `0.025`) and as a
    Prometheus that normalises integral values might store it (`1`)."""
    text = repr(float(bucket))
    exact = text.replace(".", "[.]")
    return f"{int(bucket)}|{exact}" if float(bucket).is_integer() else exact


class LlmObjective(Args):
    namespace: str
    """Namespace the LLM is served in."""
    model: str
    """Its InferenceService or LLMInferenceService name: the `model` label of its vLLM series."""
    ttft_objective_ms: int
    """Its p95 time-to-first-token objective (`llm.ttftP95Ms`)."""
    ttft_bucket_seconds: float
    """The boundary of vLLM's TTFT histogram at or below the objective: a request is good when its
    first token came within it (stricter than the objective where that falls between boundaries)."""
    itl_objective_ms: int
    """Its p95 inter-token latency objective (`llm.tpotP95Ms`)."""
    itl_bucket_seconds: float
    """The boundary of vLLM's inter-token histogram at or below that objective."""
    target: float = 0.95
    """Share of requests (tokens, for the inter-token latency) that must be good: 0.95, the p95 the
    catalog states its objectives at."""
    min_replicas: int = 1
    """Replicas that must answer; fewer for 5 minutes alerts (default: one; a production model's two)."""
    queue_per_replica: int = 16
    """Requests waiting per replica that alert when sustained: one full batch (`llm.concurrentSequences`)
    behind the one running doubles the wait for a first token."""
    kv_cache_saturation: float = 0.95
    """KV-cache use at which vLLM starts preempting sequences to make room (default 0.95: at 100 %
    it already has, and recomputes them)."""

    @classmethod
    def of(cls, model: ServedModel, namespace: str) -> LlmObjective:
        """An LLM's objectives on vLLM's histogram boundaries (each at or below the catalog's value;
        the catalog refuses one below a histogram's first boundary)."""
        llm = model.llm
        ttft, itl = llm.measured_at
        return cls(
            namespace=namespace,
            model=model.name,
            ttft_objective_ms=llm.ttft_p95_ms,
            ttft_bucket_seconds=ttft,
            itl_objective_ms=llm.tpot_p95_ms,
            itl_bucket_seconds=itl,
            min_replicas=model.min_replicas,
            queue_per_replica=llm.concurrent_sequences,
        )

    @property
    def selector(self) -> str:
        return f'namespace="{self.namespace}", {MODEL_LABEL}="{self.model}"'


class AlertArgs(Args):
    latency_objective_ms: int = 100
    """p99 inference latency objective of the cluster's namespaces (default: the stack's default)."""
    idle_gpu_percent: int = 10
    """An allocated GPU below this utilization for `idle_gpu_minutes` is idle waste (default: the stack's default)."""
    idle_gpu_minutes: int = 30
    """How long an allocated GPU stays idle before the alert fires (default: the stack's default)."""
    quota_alert_percent: int = 90
    """Alert when a team has used this share of a GPU quota (default: the stack's default)."""
    pending_training_minutes: int = 60
    """Alert when a training pod stays Pending, or a workload queued, longer (default: the stack's default)."""
    training_namespaces: tuple[str, ...] = ()
    """Namespaces whose Pending pods are training jobs; default: none, no pending-training alert."""
    model_objectives: tuple[ModelObjective, ...] = ()
    """Each served model's own p99 latency objective (LLMs have theirs in `llm_objectives`); default: none."""
    llm_objectives: tuple[LlmObjective, ...] = ()
    """Each LLM's latency objectives, queue and replicas (vLLM's metrics); default: none, no LLM alerts or dashboard."""
    queue_backlog_hint: str | None = None
    """Where training queues (Kueue): what to do when a queue backs up; default: None, no backlog alert."""
    karpenter: bool = False
    """Karpenter launches this cluster's GPU nodes: alert when it can't (default: off, no Karpenter)."""
    log_collectors: bool = False
    """Fluent Bit collects the logs: alert when shipping stalls, drops or its disk buffer fills (default: off, no collector)."""
    audit_archive_check: str | None = None
    """Namespace of the audit archive check (the hub): alert when it stops succeeding; default: None, no archive here."""
    decision_sink: str | None = None
    """Namespace of the decision sink: alert when its buffers fill or a destination refuses records; default: None, no sink here."""
    autoscaling: bool = False
    """KEDA scales the served models here: alert when a scaler fails or a predictor's request
    metrics can't be scraped (default: off, no model autoscaled here)."""
    drift_watches: tuple[DriftWatch, ...] = ()
    """The models whose decisions the drift checks read: alert on drift, latency, a missing baseline
    and a check that stopped; default: none."""
    burn_in_stuck_minutes: int | None = None
    """Where new GPU nodes are burned in (modules/gpu_burn_in.py): how long a node may stay
    `pending` before the burn-in counts as stuck; default: None, no burn-in, no burn-in alerts."""
    xid_remediation: Literal["page", "node-repair", "quarantine"] = "page"
    """What the cluster does on its own about a GPU fault its XID alerts report: `node-repair` (EKS:
    the node monitoring agent and Karpenter's node repair), `quarantine` (NVSentinel cordons and
    drains the node), or `page` (default: nothing acts on the node; the alert is the remediation)."""

    @classmethod
    def of(cls, settings: MonitoringSettings, teams: Iterable[Team], models: Iterable[ServedModel] = (), **coverage: Any) -> AlertArgs:
        """The stack's thresholds for a cluster of `teams` serving `models` (each with its own
        objective); `coverage`: what else runs there to alert on (`queue_backlog_hint`,
        `karpenter`, `log_collectors`, `audit_archive_check`, `decision_sink`, `autoscaling`, `drift_watches`)."""
        teams, models = list(teams), list(models)
        namespaces = {t.name: t.namespace for t in teams}
        return cls(
            latency_objective_ms=settings.latency_objective_ms,
            idle_gpu_percent=settings.idle_gpu_percent,
            idle_gpu_minutes=settings.idle_gpu_minutes,
            quota_alert_percent=settings.quota_alert_percent,
            pending_training_minutes=settings.pending_training_minutes,
            training_namespaces=tuple(sorted(t.namespace for t in teams if t.tier == "training")),
            model_objectives=tuple(ModelObjective.of(m, namespaces[m.team], settings) for m in models if m.llm is None),
            llm_objectives=tuple(LlmObjective.of(m, namespaces[m.team]) for m in models if m.llm is not None),
            **coverage,
        )


XID_REMEDIATION = {
    "page": "Nothing acts on the node on its own here: cordon it (`kubectl cordon`), drain it, and act.",
    "node-repair": "The EKS node monitoring agent marks the node AcceleratedHardwareReady=False; Karpenter's node repair replaces it 10 minutes later.",
    "quarantine": "NVSentinel cordons the node on a fatal GPU fault and drains it by the stack's policy (training pods get `gpuHealth.trainingDrainMinutes`, served models keep their disruption budgets); reset or reboot as above, then uncordon the node.",
}
"""The sentence each XID alert needing action ends with, by AlertArgs.xid_remediation."""


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    rule = {"alert": name, "expr": expr, "labels": {"severity": severity, "source": "hybrid-ai"}, "annotations": {"summary": summary, "description": description}}
    if duration != "0m":
        rule["for"] = duration
    return rule


def alert_groups(args: AlertArgs) -> list[dict[str, Any]]:
    """Rule groups of the PrometheusRule every cluster gets."""
    groups = [{"name": "hybridai-gpu-health", "rules": _gpu_health_alerts(args)}, {"name": "hybridai-gpu-service", "rules": _gpu_service_alerts(args)}]
    if args.karpenter:
        groups.append({"name": "hybridai-node-autoscaling", "rules": _karpenter_alerts()})
    if args.burn_in_stuck_minutes:
        groups.append({"name": "hybridai-gpu-burn-in", "rules": burn_in_alerts(args.burn_in_stuck_minutes)})
    if args.model_objectives:
        groups.append({"name": "hybridai-model-objectives", "rules": [_model_objective(o) for o in args.model_objectives]})
    if args.llm_objectives:
        groups.append({"name": "hybridai-llm-objectives", "rules": [r for o in args.llm_objectives for r in llm_alerts(o)]})
    if args.log_collectors or args.audit_archive_check or args.decision_sink:
        groups.append({"name": "hybridai-logging", "rules": _logging_alerts(args)})
    if args.autoscaling:
        groups.append({"name": "hybridai-autoscaling", "rules": _autoscaling_alerts()})
    if args.drift_watches:
        groups.append({"name": "hybridai-model-drift", "rules": [r for w in args.drift_watches for r in _drift_alerts(w)]})
    return groups


def burn_in_alerts(stuck_minutes: int) -> list[dict[str, Any]]:
    """A new GPU node whose burn-in failed (its taint set to `failed`), and one that has stayed
    `pending` longer than a burn-in takes (`stuck_minutes`): kube-state-metrics' `kube_node_spec_taint`,
    one series per node and taint."""
    taint = f'kube_node_spec_taint{{key="{BURN_IN_TAINT}"'
    return [
        _alert(
            "GpuBurnInFailed",
            f'max by (node) ({taint}, value="failed"}}) == 1',
            "0m",
            "warning",
            "GPU node {{ $labels.node }} failed its burn-in and takes no work",
            "Its DCGM diagnostic or NCCL all-reduce failed, or it advertises fewer GPUs than its pool has; the node keeps the taint "
            f"{BURN_IN_TAINT}=failed. The burn-in Job's log says which test on which GPU. On-prem: have the GPU serviced, then "
            "delete the node's Job and set the taint back to pending to burn it in again. Cloud: delete the node (Karpenter "
            "terminates the instance and launches another).",
        ),
        _alert(
            "GpuBurnInStuck",
            f'max by (node) ({taint}, value="pending"}}) == 1',
            f"{stuck_minutes}m",
            "warning",
            "GPU node {{ $labels.node }} has waited over " + str(stuck_minutes) + " minutes for its burn-in",
            "The node never advertised its GPUs (the GPU Operator's driver or validator is failing: check its pods on the node), "
            "it belongs to no pool the burn-in knows (a MIG pool's node must join without the taint), or the burn-in "
            "controller isn't running (its CronJob in the burn-in namespace).",
        ),
    ]


def _autoscaling_alerts() -> list[dict[str, Any]]:
    """When a model's autoscaler is blind: KEDA's own error counter (labelled with the ScaledObject's
    namespace, its ServiceMonitor honouring the operator's labels), and a predictor whose request
    metrics Prometheus can't scrape (KEDA then reads no series and counts the load as none)."""
    return [
        _alert(
            "KedaScalerErrors",
            "sum by (namespace, scaledObject, scaler, triggerIndex) (increase(keda_scaler_detail_errors_total[5m])) > 0",
            "10m",
            "critical",
            "KEDA can't read trigger {{ $labels.triggerIndex }} of {{ $labels.namespace }}/{{ $labels.scaledObject }}",
            "Its {{ $labels.scaler }} scaler has failed for 10 minutes: the model keeps its current replicas and no longer follows its load. "
            "`kubectl -n {{ $labels.namespace }} describe scaledobject {{ $labels.scaledObject }}` and the keda-operator's log say why: "
            "Prometheus unreachable (the monitoring namespace admits the keda namespace on 9090), its certificate not trusted (the CA in /custom/ca), or a query error.",
        ),
        _alert(
            "ModelMetricsNotScraped",
            f'max by (namespace, pod) (up{{job="{PREDICTOR_METRICS_JOB}"}}) == 0',
            "10m",
            "warning",
            "Prometheus can't scrape the request metrics of {{ $labels.namespace }}/{{ $labels.pod }}",
            "For 10 minutes the predictor's metrics port (its runtime's `prometheus.kserve.io/port`) hasn't answered: its autoscaler counts the pod as idle, "
            "so the model may run too few replicas for its load. A TorchServe model needs `metrics_mode=prometheus` and `metrics_address=http://0.0.0.0:8082` in its config.properties.",
        ),
    ]


XID_ACTIONS = {
    "none": "The GPU stays usable: the application restarts (or needs nothing); nothing is done to the node.",
    "reset": "The GPU must be reset (a reboot also clears it) before it is trusted again: drain its pods first.",
    "reboot": "Only a reboot (power cycle) brings the GPU back: drain the node and reboot it.",
    "replace": "Replace the node (cloud) or have the GPU serviced (on-prem).",
}
"""What each action of hybridai/data/gpu-health.yaml asks of whoever the alert reaches."""


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def xid_alerts(remediation: str) -> list[dict[str, Any]]:
    """An alert per XID class of hybridai/data/gpu-health.yaml, at its severity (critical pages
    on-call, modules/alerting.py): which GPU of which node reported which XID, what it means and
    what it needs. The DCGM exporter's `DCGM_FI_DEV_XID_ERRORS` holds the last XID a GPU reported;
    a class fires for 10 minutes after one of its XIDs was seen, however many others came after.
    `remediation`: what the cluster does about it on its own (AlertArgs.xid_remediation)."""
    rules = []
    classes = catalog.gpu_health().xid_classes
    for name, cls in classes.items():
        matches = " or ".join(f"DCGM_FI_DEV_XID_ERRORS == {xid}" for xid in sorted(cls.xids))
        xids = "/".join(str(x) for x in sorted(cls.xids))
        rule = _alert(
            f"GpuXid{_camel(name)}",
            f"max by (Hostname, gpu, UUID) (max_over_time(({matches})[10m:1m]))",
            "0m",
            cls.severity,
            f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.UUID }}}}) on {{{{ $labels.Hostname }}}} reported XID {{{{ $value }}}} ({name})",
            f"XID {xids}: {cls.meaning} {XID_ACTIONS[cls.action]}" + ("" if cls.action == "none" else f" {remediation}"),
        )
        rule["labels"].update({"xid_class": name, "action": cls.action})
        rules.append(rule)
    # Any other XID still pages, as every XID did before the classes: the catalog has RESET_GPU
    # and RESTART_BM ones the data doesn't classify (46, 62, 109, 140 …).
    known = " or ".join(f"DCGM_FI_DEV_XID_ERRORS == {xid}" for cls in classes.values() for xid in sorted(cls.xids))
    rule = _alert(
        "GpuXidUnclassified",
        f"max by (Hostname, gpu, UUID) (max_over_time((DCGM_FI_DEV_XID_ERRORS > 0 unless ({known}))[10m:1m]))",
        "0m",
        "critical",
        "GPU {{ $labels.gpu }} ({{ $labels.UUID }}) on {{ $labels.Hostname }} reported XID {{ $value }}",
        "An XID hybridai/data/gpu-health.yaml doesn't classify: look its resolution bucket up in NVIDIA's Xid Catalog "
        f"(docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html) and act on it. {remediation}",
    )
    rule["labels"]["xid_class"] = "unclassified"
    rules.append(rule)
    return rules


def _gpu_health_alerts(args: AlertArgs) -> list[dict[str, Any]]:
    """The GPUs themselves: allocated but idle, hardware and driver faults, heat, GPUs a node lost."""
    idle = args.idle_gpu_percent
    return [
        *xid_alerts(XID_REMEDIATION[args.xid_remediation]),
        _alert(
            "GpuAllocatedButIdle",
            f'avg by (namespace, pod, Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL{{pod!=""}}) < {idle}',
            f"{args.idle_gpu_minutes}m",
            "warning",
            "GPU allocated to {{ $labels.namespace }}/{{ $labels.pod }} is idle",
            f"GPU {{{{ $labels.gpu }}}} on {{{{ $labels.Hostname }}}} has stayed below {idle} % utilization for {args.idle_gpu_minutes} minutes while allocated: "
            "free it (scale the workload down or release the notebook) so another team can use it.",
        ),
        _alert(
            "GpuEccDoubleBitErrors",
            "increase(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL[15m]) > 0",
            "0m",
            "critical",
            "Uncorrectable ECC errors on GPU {{ $labels.gpu }} of {{ $labels.Hostname }}",
            "Double-bit ECC errors corrupt data. Drain the node and have the GPU inspected or replaced.",
        ),
        _alert(
            "GpuTemperatureHigh",
            "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP) > 85",
            "10m",
            "warning",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} runs at {{ $value }} °C",
            "Above 85 °C for 10 minutes; the GPU throttles and ages faster. Check cooling and airflow.",
        ),
        _alert(
            "GpuThermalThrottling",
            "rate(DCGM_FI_DEV_THERMAL_VIOLATION[5m]) > 0",
            "10m",
            "warning",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is thermally throttled",
            "The GPU has slowed its clocks to cool down for 10 minutes: jobs on it run slower than planned.",
        ),
        _alert(
            "GpuNodeLostGpus",
            f"(max by (node) (max_over_time(kube_node_status_allocatable{{{GPU_RESOURCES}}}[1h])) > 0) unless (max by (node) (kube_node_status_allocatable{{{GPU_RESOURCES}}}) > 0)",
            "10m",
            "critical",
            "Node {{ $labels.node }} no longer offers its GPUs",
            "The node advertised GPUs in the last hour and now advertises none: the driver, device plugin or MIG reconfiguration failed. Check the gpu-operator pods on the node.",
        ),
    ]


def _gpu_service_alerts(args: AlertArgs) -> list[dict[str, Any]]:
    """What the GPUs serve: inference latency, team quotas, training that waits too long."""
    service = [
        _alert(
            "InferenceLatencyAboveObjective",
            f"histogram_quantile(0.99, sum by (namespace, le) (rate({INFERENCE_LATENCY}_bucket[5m]))) > {args.latency_objective_ms / 1000:g}",
            "10m",
            "critical",
            "p99 inference latency in {{ $labels.namespace }} is above the objective",
            f"p99 latency has exceeded {args.latency_objective_ms} ms for 10 minutes. Add replicas or GPU capacity, or check for a slow model version.",
        ),
        _alert(
            "TeamGpuQuotaNearlyExhausted",
            f"{GPU_QUOTA_USE} >= {args.quota_alert_percent / 100:g}",
            "15m",
            "warning",
            "{{ $labels.namespace }} has used {{ $value | humanizePercentage }} of its {{ $labels.resource }} quota",
            "New GPU workloads of this team will be refused once the quota is full: free idle GPUs or ask for a larger share.",
        ),
    ]
    if args.training_namespaces:
        namespaces = "|".join(sorted(args.training_namespaces))
        service.append(
            _alert(
                "TrainingPodPendingTooLong",
                f'max by (namespace, pod) (kube_pod_status_phase{{phase="Pending", namespace=~"{namespaces}"}}) == 1',
                f"{args.pending_training_minutes}m",
                "warning",
                "Training pod {{ $labels.namespace }}/{{ $labels.pod }} has been pending too long",
                f"Pending for over {args.pending_training_minutes} minutes: no GPU capacity or quota is free, or the burst pool can't scale up.",
            )
        )
    if args.queue_backlog_hint:
        # Kueue keeps queued jobs suspended, without pods: its own metric shows the backlog.
        service.append(
            _alert(
                "TrainingQueuedTooLong",
                "sum by (cluster_queue) (kueue_pending_workloads) > 0",
                f"{args.pending_training_minutes}m",
                "warning",
                "Training has waited over {{ $labels.cluster_queue }}'s quota for " + f"{args.pending_training_minutes} minutes",
                f"{{{{ $value }}}} workloads have been queued in ClusterQueue {{{{ $labels.cluster_queue }}}} for over {args.pending_training_minutes} minutes. {args.queue_backlog_hint}",
            )
        )
    return service


LOKI_OUTPUTS = 'name=~"loki_.*"'
"""The collectors' Loki outputs (aliased `loki_<stream>`); their metrics count what Loki accepted.
The archive's S3 output is left out: its metrics don't count failed uploads (fluent/fluent-bit#6141),
so the archive check watches it instead."""


def _logging_alerts(args: AlertArgs) -> list[dict[str, Any]]:
    rules = []
    if args.log_collectors:
        rules += [
            _alert(
                "LogShippingStalled",
                f"sum by (namespace, pod) (rate(fluentbit_input_records_total[15m])) > 0 unless sum by (namespace, pod) (rate(fluentbit_output_proc_records_total{{{LOKI_OUTPUTS}}}[15m])) > 0",
                "15m",
                "critical",
                "Log collector {{ $labels.pod }} reads logs but ships none",
                "Fluent Bit has read records for 15 minutes without Loki accepting any: the hub is unreachable or refusing them. "
                "Audit streams wait on disk; container logs beyond the memory buffer are lost. Check `logging.hubUrl`, the collector's log and Loki.",
            ),
            _alert(
                "LogRecordsDropped",
                f"sum by (namespace, pod, name) (increase(fluentbit_output_dropped_records_total{{{LOKI_OUTPUTS}}}[15m])) > 0",
                "0m",
                "warning",
                "Log collector {{ $labels.pod }} dropped records bound for Loki ({{ $labels.name }})",
                "{{ $value }} records were given up after their retries in 15 minutes: Loki rejected them (too large, too old) or stayed unreachable.",
            ),
            _alert(
                "LogBufferFilling",
                f"min by (namespace, pod, name) (fluentbit_output_chunk_available_capacity_percent{{{LOKI_OUTPUTS}}}) < 20",
                "10m",
                "critical",
                "Log collector {{ $labels.pod }}'s disk buffer for {{ $labels.name }} is over 80 % full",
                "The uplink to the hub has been down or slow long enough to fill the buffer (`logging.edgeBufferSize`); "
                "when it is full the oldest logs are dropped. Restore the link or raise the buffer.",
            ),
        ]
    if args.audit_archive_check:
        rules.append(
            _alert(
                "AuditArchiveCheckFailing",
                f'time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{{namespace="{args.audit_archive_check}", cronjob="{ARCHIVE_CHECK}"}}) > 7200',
                "0m",
                "critical",
                "The audit archive hasn't passed its check for two hours",
                f"The `{ARCHIVE_CHECK}` job in {{{{ $labels.namespace }}}} fails: the archive bucket's Object Lock isn't what the stack declares, "
                "or a cluster's API audit records stopped arriving (archive writes failing). `kubectl logs -n {{ $labels.namespace }} job/<its latest job>` says which.",
            )
        )
    if args.decision_sink:
        rules += _decision_sink_alerts(args.decision_sink)
    return rules


def _decision_sink_alerts(namespace: str) -> list[dict[str, Any]]:
    """The decision sink's buffers and destinations (Vector's own metrics): a retried failure shows as
    a filling buffer, a refused write (403, 400) as errors and discarded records."""
    sink = f'namespace="{namespace}", component_kind="sink"'
    return [
        _alert(
            "DecisionBufferFilling",
            f"max by (namespace, pod, component_id) (vector_buffer_size_bytes{{{sink}}} / vector_buffer_max_size_bytes{{{sink}}}) > 0.8",
            "5m",
            "critical",
            "The decision sink's buffer for {{ $labels.component_id }} is over 80 % full",
            "Decisions wait on the sink's volume because the destination (the audit archive or Loki) is slow or unreachable; when the buffer "
            "is full the models' loggers wait. Check the destination and `kubectl logs -n {{ $labels.namespace }} {{ $labels.pod }}`.",
        ),
        _alert(
            "DecisionWritesRefused",
            f"sum by (namespace, pod, component_id) (increase(vector_component_errors_total{{{sink}, stage=\"sending\"}}[10m])) > 0 "
            f"or sum by (namespace, pod, component_id) (increase(vector_component_discarded_events_total{{{sink}, intentional=\"false\"}}[10m])) > 0",
            "0m",
            "critical",
            "The decision sink's {{ $labels.component_id }} refuses records",
            "A destination answered with an error Vector doesn't retry (access denied, a missing checksum, a bad request): those records are "
            "not in the archive or Loki. Check the writer key's permissions and the store's log.",
        ),
    ]


def _drift_alerts(watch: DriftWatch) -> list[dict[str, Any]]:
    """One watched model version, from the drift check's gauges (Argo's custom metrics, labelled
    with the model's namespace, name and version): drift over its threshold, the p95 of its decisions
    over its objective, no baseline to compare with, no check for two of its intervals."""

    def series(metric: str) -> str:
        selector = f'namespace="{watch.namespace}", model="{watch.model}", version="{watch.version}"'
        return f"max by (namespace, model, version) ({PROMETHEUS_PREFIX}{metric}{{{selector}}})"

    name, version = watch.model, watch.version
    rules = [
        _alert(
            "ModelInputDrift",
            f"{series(DRIFT_METRIC)} > {watch.threshold:g}",
            "0m",
            "warning",
            f"Inputs of {name} v{version} have drifted from its training data",
            f"The largest population stability index of its input features over the last check's window is {{{{ $value }}}} (threshold {watch.threshold:g}): "
            "the decisions it makes are on inputs unlike those it was trained on. The check's log names the features (`kubectl logs -n <decision sink namespace> "
            "-l hybrid-ai.io/drift-check --tail 50`); review the model, retrain it on current data, or find the upstream change that moved the feature.",
        ),
        _alert(
            "ModelDecisionLatencyAboveObjective",
            f"{series(LATENCY_METRIC)} > {watch.latency_objective_ms / 1000:g}",
            "0m",
            "warning",
            f"p95 latency of {name} v{version}'s decisions is above its {watch.latency_objective_ms} ms objective",
            f"Over the last check's window, {{{{ $value }}}} s or longer for 5 % of the decisions (response time minus request time, "
            f"as the decision trail records them): over 5 % of decisions missed the {watch.latency_objective_ms} ms objective. Compare with "
            "ModelLatencyAboveObjective (the model servers' own histogram) and add replicas or roll back a slower version.",
        ),
        _alert(
            "ModelDriftBaselineMissing",
            f"{series(BASELINE_METRIC)} < 1",
            "0m",
            "warning",
            f"{name} v{version} has no training baseline its inputs can be compared with",
            "0: the version's training run logged no `drift/reference.json` (a sample of its training inputs written as a request to the model), so "
            "the registration recorded no baseline — log one and retrain. -1: the baseline exists but the check can't read it: the MLflow login "
            "(`logging.decisions.drift.mlflowSecret`) needs READ on the registered model and its experiment. Latency is still checked.",
        ),
        _alert(
            "ModelDriftCheckStale",
            f"time() - {series(CHECKED_METRIC)} > {watch.stale_after_seconds}",
            "0m",
            "warning",
            f"The drift check of {name} v{version} hasn't finished for {watch.stale_after_seconds // 3600} hours",
            "Drift and latency of the model's decisions are no longer measured: the check fails or doesn't run. "
            "`argo list -n <decision sink namespace>` and the failed run's log say why (the archive reader key, MLflow, the window's objects).",
        ),
    ]
    for rule in rules:
        rule["labels"].update({"model": name, "version": str(version)})
    return rules


def _karpenter_alerts() -> list[dict[str, Any]]:
    """When the burst pool can't grow: what Karpenter's own metrics say, and what to do about it."""
    return [
        _alert(
            "KarpenterCannotLaunchNodes",
            "sum by (method, error) (increase(karpenter_cloudprovider_errors_total[15m])) > 0",
            "15m",
            "warning",
            "Karpenter's {{ $labels.method }} calls to EC2 keep failing: {{ $labels.error }}",
            "Training waiting for cloud GPUs won't start. InsufficientInstanceCapacity: the pool's instance types are out in its "
            "zones — add instance types of the same GPU to the pool, or allow on-demand (`capacityTypes`). VcpuLimitExceeded / "
            "MaxSpotInstanceCountExceeded: raise the account's EC2 service quota for G and P instances. UnauthorizedOperation: the "
            "controller's role lacks a permission — compare it with the pinned Karpenter version's policy.",
        ),
        _alert(
            "KarpenterNodePoolAtGpuLimit",
            'max by (nodepool) (karpenter_nodepools_usage{resource_type="nvidia.com/gpu"}) >= max by (nodepool) (karpenter_nodepools_limit{resource_type="nvidia.com/gpu"})',
            "30m",
            "warning",
            "NodePool {{ $labels.nodepool }} holds every GPU its limit allows",
            "Further training on this pool waits until running jobs finish. If the weekly runs need more, add them to the stack's "
            "`training` catalog (the limit is sized from it) or raise the pool's `gpuLimit` — the budget alert follows the spend.",
        ),
        _alert(
            "KarpenterUnschedulablePods",
            "max(karpenter_scheduler_unschedulable_pods_count) > 0",
            "30m",
            "warning",
            "{{ $value }} pods fit no NodePool of the burst pool",
            "No instance type of any NodePool can run them: check their GPU requests, node selectors (the Kueue flavor's "
            "`karpenter.sh/nodepool`) and tolerations (`nvidia.com/gpu`) against the pools' instance types.",
        ),
    ]


def _model_objective(objective: ModelObjective) -> dict[str, Any]:
    """p99 latency of one model (stable and canary pods) against the objective its catalog entry
    was sized for."""
    pods = f'namespace="{objective.namespace}", pod=~"{objective.model}-(canary-)?predictor-.+"'
    rule = _alert(
        "ModelLatencyAboveObjective",
        f"histogram_quantile(0.99, sum by (namespace, le) (rate({INFERENCE_LATENCY}_bucket{{{pods}}}[5m]))) > {objective.latency_objective_ms / 1000:g}",
        "10m",
        "critical",
        f"p99 latency of {objective.model} in {{{{ $labels.namespace }}}} is above its {objective.latency_objective_ms} ms objective",
        "The model was sized for this objective at its catalog throughput: it is getting more load than planned, or a new version is slower. "
        "Raise peakRps (or lower throughputRps) in the catalog and re-plan, or roll the canary back.",
    )
    rule["labels"]["model"] = objective.model
    return rule


def bad_share(metric: str, bucket: float, selector: str, window: str) -> str:
    """PromQL: the share of a histogram's observations over `window` above `bucket` (1 − those in
    its bucket ÷ all), per namespace and model."""
    by = f"sum by (namespace, {MODEL_LABEL})"
    return f'(1 - {by} (rate({metric}_bucket{{{selector}, le=~"{_le(bucket)}"}}[{window}])) / {by} (rate({metric}_count{{{selector}}}[{window}])))'


def _burn_alerts(name: str, what: str, metric: str, bucket: float, objective_ms: int, o: LlmObjective) -> list[dict[str, Any]]:
    """The multiwindow, multi-burn-rate pair of one objective (`BURN_RATES`)."""
    budget = 1 - o.target
    rules = []
    for rate, long, short in BURN_RATES:
        threshold = round(rate * budget, 6)
        expr = f"{bad_share(metric, bucket, o.selector, long)} > {threshold:g} and {bad_share(metric, bucket, o.selector, short)} > {threshold:g}"
        measured = f"{bucket * 1000:g} ms" + ("" if bucket * 1000 == objective_ms else f" (vLLM's histogram boundary at or below the {objective_ms} ms objective)")
        spent = rate * int(long.removesuffix("h")) / (SLO_WINDOW_DAYS * 24)
        rule = _alert(
            name,
            expr,
            "0m",
            "critical",
            f"{o.model} in {{{{ $labels.namespace }}}} burns its {what} error budget {rate:g}× too fast",
            f"Over the last {long} (and {short}) more than {threshold:.0%} of its {'tokens' if metric == ITL else 'requests'} took longer than {measured}, "
            f"against an objective of {o.target:.0%} within it: {spent:.0%} of the {SLO_WINDOW_DAYS}-day error budget is gone in {long}. "
            "Add replicas (or let the autoscaler), check the queue and KV-cache alerts, or shorten prompts and outputs.",
        )
        rule["labels"].update({MODEL_LABEL: o.model, "slo": what.replace(" ", "-"), "burn_rate": f"{rate:g}", "window": long})
        rules.append(rule)
    return rules


def llm_alerts(o: LlmObjective) -> list[dict[str, Any]]:
    """One LLM's alerts on vLLM's metrics: its time to first token and inter-token latency against
    their objectives as burn rates, requests queued, KV cache saturated, replicas missing."""
    sel = o.selector
    answering = f"(sum by (namespace, {MODEL_LABEL}) (up{{{sel}}}) or on () vector(0))"
    burns = _burn_alerts("LlmTimeToFirstTokenBudgetBurn", "time to first token", TTFT, o.ttft_bucket_seconds, o.ttft_objective_ms, o)
    burns += _burn_alerts("LlmInterTokenLatencyBudgetBurn", "inter-token latency", ITL, o.itl_bucket_seconds, o.itl_objective_ms, o)
    rules = [
        _alert(
            "LlmRequestsQueued",
            f"avg by (namespace, {MODEL_LABEL}) (vllm:num_requests_waiting{{{sel}}}) > {o.queue_per_replica}",
            "10m",
            "warning",
            f"{o.model} in {{{{ $labels.namespace }}}} has {{{{ $value }}}} requests waiting per replica",
            f"More than a full batch ({o.queue_per_replica} sequences) has waited behind each replica's for 10 minutes: time to first token grows with the queue. "
            "The autoscaler is at its maximum or the pool has no GPU for another replica: raise peakRps in the catalog and re-plan.",
        ),
        _alert(
            "LlmKvCacheSaturated",
            f"max by (namespace, {MODEL_LABEL}, pod) (vllm:kv_cache_usage_perc{{{sel}}}) > {o.kv_cache_saturation:g}",
            "15m",
            "warning",
            f"{o.model}'s KV cache on {{{{ $labels.pod }}}} is {{{{ $value | humanizePercentage }}}} full",
            "vLLM preempts running sequences when its KV cache is full and recomputes them later: latency jumps. Longer contexts or more concurrent sequences "
            "than the catalog states reach the replica; lower `contextLength`/`concurrentSequences` to what is served, or add replicas.",
        ),
        _alert(
            "LlmNoReplicaAnswering",
            f"{answering} < 1",
            "5m",
            "critical",
            f"No replica of {o.model} answers in {o.namespace}",
            "None of its vLLM pods has answered a metrics scrape for 5 minutes: the model is down (pods pending for GPUs, crashing while loading "
            "weights, or the storage unreachable). `kubectl get pods -n " + o.namespace + "` and the pods' events say which.",
        ),
    ]
    if o.min_replicas > 1:
        rules.append(
            _alert(
                "LlmReplicasBelowMinimum",
                f"{answering} < {o.min_replicas} and {answering} >= 1",
                "15m",
                "warning",
                f"{o.model} in {o.namespace} runs with {{{{ $value }}}} of its {o.min_replicas} replicas",
                "A production LLM keeps two replicas so one node's loss doesn't stop it; one is missing for 15 minutes (a node down or drained, "
                "GPUs lost, a pod crash-looping). Check the pods and the GPU nodes.",
            )
        )
    for rule in rules:
        # Also when no series is left to carry them (a model with no replica answering).
        rule["labels"].update({MODEL_LABEL: o.model, "namespace": o.namespace})
    return burns + rules


def llm_dashboard(objectives: Iterable[LlmObjective]) -> dict[str, Any]:
    """The LLM dashboard of a cluster's LLMs: latency against each objective, the share of requests
    within it, tokens, queue, KV cache, replicas and cost per million output tokens."""
    objectives = list(objectives)
    models = "|".join(o.model for o in objectives)
    sel = f'{MODEL_LABEL}=~"{models}"'
    by = f"namespace, {MODEL_LABEL}"

    def p95(metric: str) -> tuple[str, str]:
        return f"histogram_quantile(0.95, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}[5m])))", "{{model}} p95"

    ttft = [p95(TTFT)] + [(f"vector({o.ttft_objective_ms / 1000:g})", f"{o.model} objective") for o in objectives]
    itl = [p95(ITL)] + [(f"vector({o.itl_objective_ms / 1000:g})", f"{o.model} objective") for o in objectives]
    within = [(f"1 - {bad_share(TTFT, o.ttft_bucket_seconds, o.selector, '1h')}", f"{o.model} TTFT ≤ {o.ttft_bucket_seconds * 1000:g} ms") for o in objectives]
    within += [(f"1 - {bad_share(ITL, o.itl_bucket_seconds, o.selector, '1h')}", f"{o.model} ITL ≤ {o.itl_bucket_seconds * 1000:g} ms") for o in objectives]
    gpu_cost = (
        f"sum by ({by}) ((container_gpu_allocation * on (node) group_left () max by (node) (node_gpu_hourly_cost)) "
        f"* on (namespace, pod) group_left ({MODEL_LABEL}) max by (namespace, pod, {MODEL_LABEL}) (up{{{sel}}}))"
    )
    tokens_per_hour = f"(sum by ({by}) (rate(vllm:generation_tokens_total{{{sel}}}[1h])) * 3600)"
    return _dashboard(
        "hybridai-llm",
        "hybrid-ai / LLMs",
        [
            ("Time to first token p95 against the objective", "s", *ttft),
            ("Inter-token latency p95 against the objective", "s", *itl),
            ("Share of requests (tokens) within the objective's bucket, last hour", "percentunit", *within),
            ("Output and prompt tokens per second", "short", (f"sum by ({by}) (rate(vllm:generation_tokens_total{{{sel}}}[5m]))", "{{model}} output"), (f"sum by ({by}) (rate(vllm:prompt_tokens_total{{{sel}}}[5m]))", "{{model}} prompt")),
            ("Requests waiting and running", "short", (f"sum by ({by}) (vllm:num_requests_waiting{{{sel}}})", "{{model}} waiting"), (f"sum by ({by}) (vllm:num_requests_running{{{sel}}})", "{{model}} running")),
            ("KV-cache use (fullest replica)", "percentunit", (f"max by ({by}) (vllm:kv_cache_usage_perc{{{sel}}})", "{{model}}")),
            ("Replicas answering", "short", (f"sum by ({by}) (up{{{sel}}})", "{{model}}")),
            ("USD per million output tokens (OpenCost's GPU-hour, whole GPUs)", "currencyUSD", (f"{gpu_cost} / {tokens_per_hour} * 1e6", "{{model}}")),
        ],
    )


def _panel(i: int, title: str, unit: str, *targets: tuple[str, str]) -> dict[str, Any]:
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"expr": expr, "legendFormat": legend, "refId": chr(ord("A") + n)} for n, (expr, legend) in enumerate(targets)],
    }


def _dashboard(uid: str, title: str, panels: list[tuple]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["hybrid-ai", "gpu"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "panels": [_panel(i, *p) for i, p in enumerate(panels)],
    }


def dashboards(latency_objective_ms: int, llm_objectives: Iterable[LlmObjective] = ()) -> dict[str, dict[str, Any]]:
    """Grafana dashboards by file name: GPU fleet, inference, team quotas; and LLMs where the
    cluster serves any."""
    llm_objectives = tuple(llm_objectives)
    boards = {
        "gpu-fleet": _dashboard(
            "hybridai-gpu-fleet",
            "hybrid-ai / GPU fleet",
            [
                ("GPU utilization by node", "percent", ("avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}}")),
                ("GPU utilization by namespace", "percent", ('avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{pod!=""})', "{{namespace}}")),
                ("GPU memory used by node", "decmbytes", ("sum by (Hostname) (DCGM_FI_DEV_FB_USED)", "{{Hostname}}")),
                ("GPU memory used by namespace", "decmbytes", ('sum by (namespace) (DCGM_FI_DEV_FB_USED{pod!=""})', "{{namespace}}")),
                ("GPU temperature by node (max)", "celsius", ("max by (Hostname) (DCGM_FI_DEV_GPU_TEMP)", "{{Hostname}}")),
                ("GPU power by node", "watt", ("sum by (Hostname) (DCGM_FI_DEV_POWER_USAGE)", "{{Hostname}}")),
                ("GPU power by namespace", "watt", ('sum by (namespace) (DCGM_FI_DEV_POWER_USAGE{pod!=""})', "{{namespace}}")),
                ("Allocated GPUs idle below 10 %", "short", ('count by (namespace) (DCGM_FI_DEV_GPU_UTIL{pod!=""} < 10)', "{{namespace}}")),
            ],
        ),
        "inference": _dashboard(
            "hybridai-inference",
            "hybrid-ai / Inference",
            [
                (
                    "p99 latency by namespace",
                    "s",
                    (f"histogram_quantile(0.99, sum by (namespace, le) (rate({INFERENCE_LATENCY}_bucket[5m])))", "{{namespace}} p99"),
                    (f"vector({latency_objective_ms / 1000:g})", "objective"),
                ),
                ("p50 latency by namespace", "s", (f"histogram_quantile(0.5, sum by (namespace, le) (rate({INFERENCE_LATENCY}_bucket[5m])))", "{{namespace}} p50")),
                ("Requests per second by namespace", "reqps", (f"sum by (namespace) (rate({INFERENCE_LATENCY}_count[5m]))", "{{namespace}}")),
                ("GPU utilization of serving pods", "percent", ('avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{pod!=""})', "{{namespace}}/{{pod}}")),
            ],
        ),
        "gpu-quotas": _dashboard(
            "hybridai-gpu-quotas",
            "hybrid-ai / GPU quota use by team",
            [
                (
                    "GPU quota used",
                    "percentunit",
                    (
                        GPU_QUOTA_USE,
                        "{{namespace}} {{resource}}",
                    ),
                ),
                ("GPUs requested by namespace", "short", (f"sum by (namespace, resource) ({_gpu_quota('used')})", "{{namespace}} {{resource}}")),
                ("GPU quota by namespace", "short", (f"sum by (namespace, resource) ({_gpu_quota('hard')})", "{{namespace}} {{resource}}")),
                ("Pending pods by namespace", "short", ('sum by (namespace) (kube_pod_status_phase{phase="Pending"})', "{{namespace}}")),
            ],
        ),
    }
    if llm_objectives:
        boards["llm"] = llm_dashboard(llm_objectives)
    return boards


def expressions(groups: list[dict[str, Any]], boards: dict[str, dict[str, Any]]) -> list[str]:
    """Every PromQL expression of the rules and dashboards (for parsing them in tests)."""
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    exprs += [target["expr"] for board in boards.values() for panel in board["panels"] for target in panel["targets"]]
    return exprs
