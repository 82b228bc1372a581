"""GpuPlatform: a GPU cluster with the platform on it — the same composition on every cluster."""
from __future__ import annotations

import pulumi

from hybridai.recorded import component_type
from hybridai.modules.backup import Backup, BackupArgs
from hybridai.modules.base import Args, Module, options, placed, platform_namespaces_on
from hybridai.modules.certificates import CertManager, CertManagerArgs
from hybridai.modules.decision_log import DecisionSink, DecisionSinkArgs
from hybridai.modules.device_plugin import DevicePlugin, DevicePluginArgs
from hybridai.modules.drift_monitor import DriftMonitor, DriftMonitorArgs
from hybridai.modules.gpu_burn_in import GpuBurnIn, GpuBurnInArgs
from hybridai.modules.gpu_operator import GpuOperator, GpuOperatorArgs
from hybridai.modules.keda import Keda, KedaArgs
from hybridai.modules.logging import Logging, LoggingArgs
from hybridai.modules.mlflow import Mlflow, MlflowArgs
from hybridai.modules.monitoring import Monitoring, MonitoringArgs
from hybridai.modules.nvsentinel import NvSentinel, NvSentinelArgs
from hybridai.modules.queues import Queues, QueuesArgs
from hybridai.modules.secret_store import ExternalSecrets, ExternalSecretsArgs
from hybridai.modules.inference_gateway import InferenceGateway, InferenceGatewayArgs
from hybridai.modules.llm_serving import LlmServing, LlmServingArgs
from hybridai.modules.serving import Serving, ServingArgs
from hybridai.modules.target import Target
from hybridai.modules.tenancy import Tenancy, TenancyArgs
from hybridai.modules.training_runtime import TrainingRuntime, TrainingRuntimeArgs


class GpuPlatformArgs(Args):
    gpu_operator: GpuOperatorArgs | None = None
    """The NVIDIA GPU Operator (data-center clusters, EKS, k3s/RKE2 sites)."""
    device_plugin: DevicePluginArgs | None = None
    """The device plugin alone, where the OS image ships driver and runtime (Jetson sites)."""
    nvsentinel: NvSentinelArgs | None = None
    """NVSentinel: GPU faults to node conditions, quarantine and drain (the on-prem cluster, with
    the GPU Operator's DCGM); None: the XID alerts page and nothing acts on the node."""
    burn_in: GpuBurnInArgs | None = None
    """The burn-in of new GPU nodes (on-prem, EKS); None: new nodes take work as soon as they join."""
    tenancy: TenancyArgs
    """The cluster's team namespaces, quotas and priority classes."""
    serving: ServingArgs | None = None
    """KServe and the catalog's InferenceServices; None: the cluster serves no catalog models."""
    autoscaling: KedaArgs | None = None
    """KEDA, which scales the served models on their request metrics; None: no model served here."""
    llm_serving: LlmServingArgs | None = None
    """LLMInferenceService (llm-d) and the catalog's LLMs on a data-center cluster; None: it serves none that way."""
    inference_gateway: InferenceGatewayArgs | None = None
    """The inference gateway in front of those LLMs; None: no LLM is served behind one here."""
    monitoring: MonitoringArgs
    """Prometheus (server, or agent at the edge), Grafana, the GPU alerts and OpenCost."""
    queues: QueuesArgs | None = None
    """Kueue; None: nobody trains on the cluster."""
    logging: LoggingArgs | None = None
    """The logging namespace and, on the on-prem cluster, Loki; None: no logging on the cluster."""
    decisions: DecisionSinkArgs | None = None
    """The decision sink, beside the cluster's Loki, where its models log their decisions; None: no sink here."""
    mlflow: MlflowArgs | None = None
    """MLflow, on the stack's training hub only."""
    training_runtime: TrainingRuntimeArgs | None = None
    """JobSet, Argo Workflows and the catalog jobs the capacity plan placed here; None: no job runs here."""
    drift: DriftMonitorArgs | None = None
    """The drift checks beside the decision sink (they need `decisions` and `training_runtime`'s Argo
    Workflows); None: no model's drift is watched here."""
    external_secrets: ExternalSecretsArgs | None = None
    """external-secrets and the stores the cluster reads; None: no credential of the cluster comes from a store."""
    cert_manager: CertManagerArgs | None = None
    """cert-manager and the stack's issuer; None: the cluster gets no certificates (edge sites)."""
    backup: BackupArgs | None = None
    """Velero, its location and schedules; None: the cluster isn't backed up."""


class GpuPlatform(Module):
    """Everything a GPU cluster runs for its tenants, in the order it must come up: GPU setup,
    tenants, monitoring, the models' autoscaler (once the monitoring CRDs exist), serving (once the
    tenants' namespaces and the autoscaler's CRDs exist), and training queues (once the namespaces
    and the monitoring CRDs their ServiceMonitor needs exist). Each part is present when its args are."""

    def __init__(
        self,
        target: Target,
        args: GpuPlatformArgs,
        opts: pulumi.ResourceOptions | None = None,
        parts_were_under: pulumi.Resource | pulumi.Input[str] | None = None,
        backup_after: list[pulumi.Resource] | None = None,
    ):
        """`parts_were_under`: where the parts were registered before the platform existed —
        directly under `target` (the default), or a URN where the target itself moved since.
        `backup_after`: what Velero needs before it starts (on EKS, its Pod Identity association)."""
        if (args.gpu_operator is None) == (args.device_plugin is None):
            # RunError: Pulumi prints it without a traceback; the Python SDK has no ResourceError.
            raise pulumi.RunError(f"{target.prefix}-platform: a GPU platform needs exactly one of the GPU Operator or the device plugin")
        if args.serving is not None and args.autoscaling is None:
            raise pulumi.RunError(f"{target.prefix}-platform: served models are scaled by KEDA: give the platform `autoscaling` with `serving`")
        if args.drift is not None and (args.decisions is None or args.training_runtime is None):
            raise pulumi.RunError(f"{target.prefix}-platform: the drift checks run beside the decision sink, on Argo Workflows: give `decisions` and `training_runtime` too")
        # Named like its target: the parts, named `<target>-…`, then follow a renamed target through
        # the engine's inherited aliases (it carries an alias's name over to children named after it).
        super().__init__(component_type("gpu_platform", "GpuPlatform"), target.prefix, None, placed(target, opts))
        # Deployed stacks move the parts under the platform instead of replacing them.
        self.children_were_under = parts_were_under if parts_were_under is not None else target

        if args.gpu_operator is not None:
            self.gpu_operator: GpuOperator | None = GpuOperator(target, args.gpu_operator, opts=options(self))
        else:
            self.gpu_operator = None
            DevicePlugin(target, args.device_plugin, opts=options(self))
        # Stores and certificates first: the parts' Secrets and Certificates need their CRDs, stores and issuers.
        self.external_secrets = ExternalSecrets(target, args.external_secrets, opts=options(self)) if args.external_secrets else None
        stores = [self.external_secrets] if self.external_secrets else []
        self.cert_manager = CertManager(target, args.cert_manager, opts=options(self), depends_on_secrets=stores) if args.cert_manager else None
        security = [*stores, *([self.cert_manager] if self.cert_manager else [])]
        self.tenancy = Tenancy(target, args.tenancy, opts=options(self))
        self.monitoring = Monitoring(target, args.monitoring, opts=options(self, depends_on=security))
        # After the GPU Operator (the DCGM it reads), cert-manager (its store's certificates) and
        # monitoring (its PodMonitors' CRD).
        self.nvsentinel = (
            NvSentinel(target, args.nvsentinel, opts=options(self, depends_on=[*([self.gpu_operator] if self.gpu_operator else []), *security, self.monitoring]))
            if args.nvsentinel
            else None
        )
        # After the GPU Operator, whose validator is the first gate (the Job waits for the GPUs it advertises).
        self.burn_in = GpuBurnIn(target, args.burn_in, opts=options(self, depends_on=[self.gpu_operator] if self.gpu_operator else [])) if args.burn_in else None
        # After monitoring: its ServiceMonitor needs the monitoring CRDs.
        self.autoscaling = Keda(target, args.autoscaling, opts=options(self, depends_on=[self.monitoring, *security])) if args.autoscaling else None
        # After KEDA: KServe's controller manages ScaledObjects only if their CRD exists when it starts.
        self.serving = Serving(target, args.serving, opts=options(self, depends_on=[self.tenancy, self.monitoring, *security, self.autoscaling])) if args.serving else None
        # After KServe (its namespace and the configuration the llmisvc controller reads); the
        # gateway after the LLMs' InferencePool CRD and monitoring (its PodMonitor).
        serving = [self.serving] if self.serving else []
        self.llm_serving = LlmServing(target, args.llm_serving, opts=options(self, depends_on=[self.tenancy, *serving])) if args.llm_serving else None
        llms = [self.llm_serving] if self.llm_serving else []
        self.inference_gateway = (
            InferenceGateway(target, args.inference_gateway, opts=options(self, depends_on=[self.tenancy, self.monitoring, *security, *llms])) if args.inference_gateway else None
        )
        self.queues = Queues(target, args.queues, opts=options(self, depends_on=[self.tenancy, self.monitoring])) if args.queues else None
        # After monitoring: the collectors' ServiceMonitor needs its CRD.
        self.logging = Logging(target, args.logging, opts=options(self, depends_on=[self.monitoring, *security])) if args.logging else None
        # After logging and certificates: it writes to Loki, serves with a certificate of the issuer.
        self.decisions = DecisionSink(target, args.decisions, opts=options(self, depends_on=[*([self.logging] if self.logging else []), *security])) if args.decisions else None
        self.mlflow = Mlflow(target, args.mlflow, opts=options(self, depends_on=[self.tenancy, *security])) if args.mlflow else None
        self.training_runtime = (
            TrainingRuntime(
                target,
                args.training_runtime,
                {ns.namespace: self.tenancy.namespaces[ns.name] for ns in args.tenancy.tenants},
                # Workflows submit to the teams' LocalQueues (which wait for the monitoring CRDs);
                # without queues (the drift checks' workflows only) the controller's ServiceMonitor
                # waits for them itself.
                opts=options(self, depends_on=[self.tenancy, *([self.queues] if self.queues else [self.monitoring])]),
            )
            if args.training_runtime
            else None
        )
        # In the sink's namespace, on Argo Workflows' CRDs; its Secrets need the stores.
        self.drift = DriftMonitor(target, args.drift, opts=options(self, depends_on=[self.decisions, self.training_runtime, *stores])) if args.drift else None
        # After monitoring: its ServiceMonitor and alert rules need the monitoring CRDs.
        # Last: the platform schedule covers every platform namespace the parts above created.
        backup = args.backup.with_platform(platform_namespaces_on(target.provider)) if args.backup else None
        self.backup = Backup(target, backup, opts=options(self, depends_on=[self.monitoring, *security, *(backup_after or [])])) if backup else None
        self.register_outputs({"namespaces": {team: ns.metadata.name for team, ns in self.tenancy.namespaces.items()}})
