"""GpuOperator: the pinned chart, its namespace, and its MIG and time-slicing config."""
from __future__ import annotations

import yaml

from hybridai import catalog
from hybridai.config.components import GpuOperatorSettings, TimeSlicing
from hybridai.modules.gpu_operator import MIG_CONFIG_MAP, TIME_SLICING_CONFIG_MAP, GpuNodeArgs, GpuOperator, GpuOperatorArgs
from hybridai.modules.target import Target, TargetArgs
from tests.conftest import planned
from tests.helpers import named, of_kind, of_type, prepared, run_module


def operator(args: GpuOperatorArgs):
    return run_module(lambda: GpuOperator(Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1")), args))


def release_of(resources):
    [release] = of_type(resources, "kubernetes:helm.sh/v3:Release")
    return release.inputs


def test_release_is_the_pinned_chart_in_its_privileged_namespace() -> None:
    resources = operator(GpuOperatorArgs())
    release = release_of(resources)
    pin = catalog.chart("gpu-operator")
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == (pin.chart, "v26.7.0", "https://helm.ngc.nvidia.com/nvidia")
    assert release["name"] == "gpu-operator" and release["namespace"] == "gpu-operator"
    assert release["atomic"] is True
    ns = named(resources, "Namespace", "gpu-operator")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_preinstalled_driver_and_distribution_toolkit_paths() -> None:
    # GIVEN an RKE2 cluster whose nodes ship the driver
    values = release_of(operator(GpuOperatorArgs(driver=False, toolkit_env=catalog.toolkit_env("rke2"))))["values"]
    # THEN the operator leaves the driver alone and points the toolkit at RKE2's containerd
    assert values["driver"] == {"enabled": False}
    env = {e["name"]: e["value"] for e in values["toolkit"]["env"]}
    assert env["CONTAINERD_CONFIG"] == "/var/lib/rancher/rke2/agent/etc/containerd/config.toml.tmpl"
    assert env["CONTAINERD_SOCKET"] == "/run/k3s/containerd/containerd.sock"


def test_mig_layouts_become_the_mig_manager_config_and_node_labels() -> None:
    args = GpuOperatorArgs(
        mig_strategy="mixed",
        mig_configs={
            "hybridai-a100": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}],
            "hybridai-a100-2": [{"devices": [0], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}, {"devices": [1, 2, 3], "mig-enabled": False}],
        },
        nodes=(GpuNodeArgs(name="n1", pool="a100", gpu_model="A100-80GB", mig_config="hybridai-a100", gpus=8), GpuNodeArgs(name="n2", pool="h100", gpu_model="H100-80GB", mig_config="all-disabled", gpus=8)),
    )
    resources = operator(args)
    values = release_of(resources)["values"]
    assert values["mig"] == {"strategy": "mixed"}
    assert values["migManager"] == {"enabled": True, "config": {"name": MIG_CONFIG_MAP, "default": "all-disabled"}}
    config = yaml.safe_load(named(resources, "ConfigMap", MIG_CONFIG_MAP).inputs["data"]["config.yaml"])
    assert config["mig-configs"]["hybridai-a100"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}}]
    assert config["mig-configs"]["hybridai-a100-2"] == [{"devices": [0], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}, {"devices": [1, 2, 3], "mig-enabled": False}]
    assert config["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    labels = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in of_kind(resources, "Node")}
    assert labels["n1"]["nvidia.com/mig.config"] == "hybridai-a100"
    assert labels["n2"]["nvidia.com/mig.config"] == "all-disabled"
    assert labels["n1"]["hybrid-ai.io/gpu-pool"] == "a100"
    # The release waits for its ConfigMap; node labels wait for the operator.
    release = of_type(resources, "kubernetes:helm.sh/v3:Release")[0]
    assert named(resources, "ConfigMap", MIG_CONFIG_MAP).urn in release.dependencies
    assert all(release.urn in r.dependencies for r in of_kind(resources, "Node"))


def test_without_mig_the_mig_manager_is_off_and_no_config_is_written() -> None:
    resources = operator(GpuOperatorArgs())
    assert release_of(resources)["values"]["migManager"] == {"enabled": False}
    assert of_kind(resources, "ConfigMap") == []


def test_time_slicing_config_for_the_device_plugin() -> None:
    resources = operator(GpuOperatorArgs(time_slicing_replicas=4))
    values = release_of(resources)["values"]
    assert values["devicePlugin"] == {"config": {"name": TIME_SLICING_CONFIG_MAP, "default": "any"}}
    sharing = yaml.safe_load(named(resources, "ConfigMap", TIME_SLICING_CONFIG_MAP).inputs["data"]["any"])
    assert sharing["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]


def test_dcgm_exporter_on_without_the_operators_own_service_monitor() -> None:
    # The Monitoring module scrapes DCGM through a ServiceMonitor of its own.
    values = release_of(operator(GpuOperatorArgs()))["values"]["dcgmExporter"]
    assert values == {"enabled": True, "serviceMonitor": {"enabled": False}}


def test_a_cluster_whose_image_has_the_driver_keeps_it_and_its_nodes_are_labelled_as_planned() -> None:
    # GIVEN finance-dev's lab cluster: RKE2, driver preinstalled, one node of two L4s
    spec, capacity = prepared("finance-dev")
    # WHEN its operator's args are made from the capacity plan
    args = GpuOperatorArgs.of(spec.gpu_operator, spec.onprem, "monitoring", capacity.onprem.strategy, capacity.onprem.mig_configs, capacity.onprem.nodes)
    # THEN the operator leaves the driver alone, points its toolkit at RKE2's containerd, and labels the planned node
    assert (args.driver, args.toolkit, args.toolkit_env) == (False, True, catalog.toolkit_env("rke2"))
    assert (args.mig_strategy, args.mig_configs) == ("none", {})
    assert args.nodes == (GpuNodeArgs(name="lab-gpu-01", pool="l4", gpu_model="L4-24GB", mig_config="all-disabled", gpus=2),)


def test_a_mig_cluster_gets_the_planned_layouts_and_the_stacks_operator_settings() -> None:
    # GIVEN healthcare-prod (MIG pools, operator-managed driver) with time-slicing and no DCGM exporter
    spec, capacity = prepared("healthcare-prod")
    settings = spec.gpu_operator.model_copy(update={"dcgm_exporter": False, "time_slicing": TimeSlicing(replicas=4)})
    args = GpuOperatorArgs.of(settings, spec.onprem, "monitoring", capacity.onprem.strategy, capacity.onprem.mig_configs, capacity.onprem.nodes)
    # THEN the driver is the operator's, the plan's strategy and layouts apply, the settings carry over
    assert (args.driver, args.mig_strategy, args.mig_configs) == (True, "mixed", capacity.onprem.mig_configs)
    assert [n.mig_config for n in args.nodes] == [n.mig_config for n in capacity.onprem.nodes]
    assert (args.dcgm_exporter, args.time_slicing_replicas) == (False, 4)


def test_on_eks_the_ami_ships_driver_and_toolkit() -> None:
    # GIVEN the stack's operator settings WHEN the EKS cluster's operator args are made
    args = GpuOperatorArgs.on_eks(GpuOperatorSettings(), "observability")
    # THEN neither driver nor toolkit is installed, GPUs stay whole, the stack's Prometheus scrapes it
    assert (args.driver, args.toolkit, args.mig_strategy, args.nodes) == (False, False, "none", ())
    assert (args.namespace, args.monitoring_namespace) == ("gpu-operator", "observability")


def test_dcgms_readers_get_the_standalone_hostengine_and_only_its_port() -> None:
    # GIVEN the operator with NVSentinel reading DCGM
    resources = operator(GpuOperatorArgs(dcgm_clients=("nvsentinel",)))
    values = release_of(resources)["values"]
    # THEN DCGM's hostengine runs on its own (the nvidia-dcgm Service NVSentinel reads)
    assert values["dcgm"] == {"enabled": True}
    # AND the namespace admits NVSentinel on 5555 alone, besides Prometheus
    ingress = named(resources, "NetworkPolicy", "gpu-operator-ingress").inputs["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nvsentinel"}}}], "ports": [{"protocol": "TCP", "port": 5555}]} in ingress
    # AND without readers the exporter keeps its embedded hostengine
    assert "dcgm" not in release_of(operator(GpuOperatorArgs()))["values"]


def test_driver_upgrades_take_a_quarter_of_the_nodes_at_most_and_keep_the_serving_minimum_up() -> None:
    from hybridai.modules.gpu_operator import DriverUpgradeArgs

    # GIVEN pools of 2, 4, 8, 9 and 12 nodes serving production models (two replicas, one to a node)
    # THEN upgrades go 1, 1, 2, 2 and 3 at a time: a quarter rounded down, at least one
    assert [DriverUpgradeArgs.of(n, 2, 60).max_parallel for n in (2, 4, 8, 9, 12)] == [1, 1, 2, 2, 3]
    # AND never more than leaves the serving minimum up: 4 nodes with a 3-replica minimum → 1
    assert DriverUpgradeArgs.of(4, 3, 60).max_parallel == 1
    assert DriverUpgradeArgs.of(16, 14, 60).max_parallel == 2
    assert DriverUpgradeArgs.of(8, 2, 90).training_wait_seconds == 5400


def test_the_upgrade_policy_waits_for_training_and_drains_through_the_eviction_api() -> None:
    from hybridai.modules.gpu_operator import DriverUpgradeArgs

    # GIVEN an operator installing the driver on 8 nodes
    values = release_of(operator(GpuOperatorArgs(upgrade=DriverUpgradeArgs.of(8, 2, 60))))["values"]
    policy = values["driver"]["upgradePolicy"]
    # THEN two nodes at a time, each waiting an hour for its trainer pods, then drained (not forced)
    assert (policy["autoUpgrade"], policy["maxParallelUpgrades"], policy["maxUnavailable"]) == (True, 2, 2)
    assert policy["waitForCompletion"] == {"timeoutSeconds": 3600, "podSelector": "hybrid-ai.io/training-step=train"}
    assert policy["drain"] == {"enable": True, "force": False, "timeoutSeconds": 600, "deleteEmptyDir": True}
    # AND where the node image ships the driver, there is no policy to set
    assert "upgradePolicy" not in release_of(operator(GpuOperatorArgs(driver=False, upgrade=DriverUpgradeArgs.of(8, 2, 60))))["values"]["driver"]


def test_the_on_prem_clusters_policy_comes_from_its_nodes_and_models() -> None:
    # GIVEN healthcare-prod's on-prem cluster (its nodes from the capacity plan, production models)
    spec, _ = prepared("healthcare-prod")
    plan, _ = planned("healthcare-prod")
    [release] = [r for r in of_type(plan.resources, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "gpu-operator"]
    policy = release.inputs["values"]["driver"]["upgradePolicy"]
    # THEN at most a quarter of its GPU nodes at a time, waiting the stack's training drain minutes
    nodes = len([r for r in plan.resources if r.type == "kubernetes:core/v1:NodePatch"])
    assert policy["maxParallelUpgrades"] == max(1, min(nodes // 4, nodes - 2))
    assert nodes >= 2
    assert policy["waitForCompletion"]["timeoutSeconds"] == spec.gpu_health.training_drain_minutes * 60
