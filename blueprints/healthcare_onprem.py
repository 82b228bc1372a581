"""healthcare-onprem: a hospital's GPU platform, entirely on-prem (HIPAA).

No cloud provider is created at all, so no resource of this stack can hold PHI outside the
hospital. Tenants share GPUs only through MIG, which isolates memory and faults in hardware;
time-slicing is refused at config validation.
"""
from __future__ import annotations

import pulumi

from blueprints.common import ONPREM_BACKLOG, gpu_operator_args, monitoring_args, onprem_pricing, onprem_queues_args, onprem_tenancy_args, serving_args
from hybridai.config.healthcare import HealthcareOnpremSpec
from modules.gpu_operator import GpuOperator
from modules.monitoring import Monitoring
from modules.target import Target, TargetArgs
from modules.queues import Queues
from modules.serving import Serving
from modules.tenancy import Tenancy


def build(spec: HealthcareOnpremSpec) -> None:
    cluster = spec.onprem
    onprem = Target(spec.prefix, cluster.name, TargetArgs(placement="onprem", context=cluster.context, kubeconfig=cluster.kubeconfig))
    GpuOperator(onprem, gpu_operator_args(cluster, spec.gpu_operator, spec.capacity, spec.monitoring.namespace))
    tenancy = Tenancy(onprem, onprem_tenancy_args(spec))
    serving = serving_args(spec)
    if serving:
        Serving(onprem, serving, opts=pulumi.ResourceOptions(depends_on=[tenancy]))
    queues = onprem_queues_args(spec)
    monitoring = Monitoring(onprem, monitoring_args(spec, spec.teams, spec.gpu_operator.namespace, onprem_pricing(spec, cluster), spec.models, ONPREM_BACKLOG if queues else None))
    if queues:
        Queues(onprem, queues, opts=pulumi.ResourceOptions(depends_on=[monitoring]))
