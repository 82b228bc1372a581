"""GPU alert rules and Grafana dashboards: PromQL over DCGM, kube-state-metrics and model servers.

Metric sources: the DCGM exporter (`DCGM_FI_*`, labelled with the workload's `namespace` and `pod`
because its ServiceMonitor honours the exporter's labels), kube-state-metrics (`kube_*`), and KServe
model servers (`request_predict_seconds`, a histogram per model server pod).
"""
from __future__ import annotations

from typing import Any, Iterable

from hybridai.config.components import Team
from hybridai.config.operations import MonitoringSettings
from hybridai.config.workloads import ServedModel
from hybridai.recorded import ARCHIVE_CHECK, GPU_QUOTA_PREFIX
from hybridai.modules.base import Args

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
        return cls(namespace=namespace, model=model.name, latency_objective_ms=model.latency_objective_ms or settings.latency_objective_ms)


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
    """Each served model's own p99 latency objective; default: none."""
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

    @classmethod
    def of(cls, settings: MonitoringSettings, teams: Iterable[Team], models: Iterable[ServedModel] = (), **coverage: Any) -> AlertArgs:
        """The stack's thresholds for a cluster of `teams` serving `models` (each with its own
        objective); `coverage`: what else runs there to alert on (`queue_backlog_hint`,
        `karpenter`, `log_collectors`, `audit_archive_check`)."""
        teams = list(teams)
        namespaces = {t.name: t.namespace for t in teams}
        return cls(
            latency_objective_ms=settings.latency_objective_ms,
            idle_gpu_percent=settings.idle_gpu_percent,
            idle_gpu_minutes=settings.idle_gpu_minutes,
            quota_alert_percent=settings.quota_alert_percent,
            pending_training_minutes=settings.pending_training_minutes,
            training_namespaces=tuple(sorted(t.namespace for t in teams if t.tier == "training")),
            # An LLM's objectives are time to first token and per output token, not a request latency.
            model_objectives=tuple(ModelObjective.of(m, namespaces[m.team], settings) for m in models if m.llm is None),
            **coverage,
        )


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
    if args.model_objectives:
        groups.append({"name": "hybridai-model-objectives", "rules": [_model_objective(o) for o in args.model_objectives]})
    if args.log_collectors or args.audit_archive_check or args.decision_sink:
        groups.append({"name": "hybridai-logging", "rules": _logging_alerts(args)})
    return groups


def _gpu_health_alerts(args: AlertArgs) -> list[dict[str, Any]]:
    """The GPUs themselves: allocated but idle, hardware and driver faults, heat, GPUs a node lost."""
    idle = args.idle_gpu_percent
    return [
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
            "GpuXidError",
            "max by (Hostname, gpu, UUID) (max_over_time(DCGM_FI_DEV_XID_ERRORS[10m])) > 0",
            "0m",
            "critical",
            "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
            "The driver reported an XID error (hardware, driver or application fault). Check `nvidia-smi -q` and the node's kernel log; drain the node if it repeats.",
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


def dashboards(latency_objective_ms: int) -> dict[str, dict[str, Any]]:
    """Grafana dashboards by file name: GPU fleet, inference, team quotas."""
    return {
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


def expressions(groups: list[dict[str, Any]], boards: dict[str, dict[str, Any]]) -> list[str]:
    """Every PromQL expression of the rules and dashboards (for parsing them in tests)."""
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    exprs += [target["expr"] for board in boards.values() for panel in board["panels"] for target in panel["targets"]]
    return exprs
