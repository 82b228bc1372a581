"""GpuPlatform: one composition on every cluster — its parts, their order, and where they came from."""
from __future__ import annotations

import pulumi
import pytest

from hybridai.modules.device_plugin import DevicePluginArgs
from hybridai.modules.gpu_operator import GpuOperatorArgs
from hybridai.modules.gpu_platform import GpuPlatform, GpuPlatformArgs
from hybridai.modules.monitoring import MonitoringArgs
from hybridai.modules.target import Target, TargetArgs
from hybridai.modules.tenancy import TenancyArgs, TenantArgs
from tests.conftest import planned
from tests.helpers import run_module


def deps(stack: str, predicate) -> dict[str, set[str]]:
    plan, _ = planned(stack)
    return {r.name: {d.split("::")[-1] for d in r.dependencies} for r in plan.resources if predicate(r)}


def test_every_cluster_runs_one_platform() -> None:
    # GIVEN the manufacturing stack (plant, EKS, three edge sites), THEN each cluster has exactly one
    # GpuPlatform, and the platform's parts sit under it
    plan, _ = planned("manufacturing-prod")
    platforms = {r.target: r for r in plan.resources if r.type == "hybrid-ai:gpu_platform:GpuPlatform"}
    assert set(platforms) == {"plant-dc", "training", "line-1", "line-2", "line-3"}
    parts = [r for r in plan.resources if r.type in ("hybrid-ai:tenancy:Tenancy", "hybrid-ai:monitoring:Monitoring")]
    assert {r.parent for r in parts} == {p.urn for p in platforms.values()}


def test_local_queues_wait_for_their_team_namespace() -> None:
    # GIVEN Kueue on the on-prem cluster, THEN a team's LocalQueue waits for the team's namespace
    # (it is created in it) and the ServiceMonitor for the monitoring CRDs
    queues = deps("healthcare-prod", lambda r: r.inputs.get("kind") == "LocalQueue")
    assert "hc-prod-dc1-tenancy-clinical-research" in queues["hc-prod-dc1-queues-clinical-research-local"]
    assert "hc-prod-dc1-monitoring-kube-prometheus-stack" in queues["hc-prod-dc1-queues-clinical-research-local"]


def test_parts_are_aliased_to_where_they_were_registered_before() -> None:
    # GIVEN an on-prem platform, THEN each part carries an alias with its target as parent (where
    # the blueprints registered it before the platform existed)
    plan, _ = planned("healthcare-prod")
    [target] = [r for r in plan.resources if r.type == "hybrid-ai:target:Target"]
    operator = next(r for r in plan.resources if r.type == "hybrid-ai:gpu_operator:GpuOperator")
    assert [a["parentUrn"] for a in operator.aliases] == [target.urn]


def minimal(**parts) -> GpuPlatformArgs:
    tenancy = TenancyArgs(tenants=(TenantArgs(name="a", namespace="a", group="g", tier="training", data_classification="internal", gpu_quota={}, cpu="1", memory="1Gi", storage="1Gi", pods=10),))
    return GpuPlatformArgs(tenancy=tenancy, monitoring=MonitoringArgs(), **parts)


@pytest.mark.parametrize(
    "parts",
    [
        {},
        {
            "gpu_operator": GpuOperatorArgs(),
            "device_plugin": DevicePluginArgs(namespace="gpu-operator", pool="p", gpu_model="Orin-AGX-64GB", nodes=("n",), gpus_per_node=1, registry_mirror=None, monitoring_namespace="monitoring"),
        },
    ],
)
def test_a_platform_sets_up_its_gpus_exactly_one_way(parts: dict) -> None:
    # GIVEN neither or both of the GPU Operator and the device plugin, THEN the platform refuses,
    # naming the cluster's target
    def program() -> None:
        GpuPlatform(Target("t", "c", TargetArgs(placement="onprem", context="c")), minimal(**parts))

    with pytest.raises(pulumi.RunError, match="t-c-platform: a GPU platform needs exactly one of the GPU Operator or the device plugin"):
        run_module(program)


def test_served_models_come_with_their_autoscaler() -> None:
    # GIVEN a platform serving models without KEDA, THEN it refuses: KServe would hand their
    # ScaledObjects to nobody
    from hybridai.modules.serving import ServingArgs

    def program() -> None:
        GpuPlatform(Target("t", "c", TargetArgs(placement="onprem", context="c")), minimal(gpu_operator=GpuOperatorArgs(), serving=ServingArgs(models=())))

    with pytest.raises(pulumi.RunError, match="t-c-platform: served models are scaled by KEDA: give the platform `autoscaling` with `serving`"):
        run_module(program)


def test_kserve_waits_for_keda_which_waits_for_the_monitoring_crds() -> None:
    # GIVEN healthcare-prod's on-prem platform
    plan, _ = planned("healthcare-prod")
    by_name = {r.name: r for r in plan.resources}
    keda, kserve = by_name["hc-prod-dc1-keda-release"], by_name["hc-prod-dc1-serving-kserve"]
    # THEN KServe's controller starts after KEDA's CRDs exist (it manages ScaledObjects only then),
    # and KEDA's ServiceMonitor after the monitoring stack's CRDs
    assert keda.urn in kserve.dependencies
    assert by_name["hc-prod-dc1-monitoring-kube-prometheus-stack"].urn in by_name["hc-prod-dc1-keda-servicemonitor"].dependencies
