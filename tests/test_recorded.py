"""The recorded contract's readers: team GPU quotas, GPU NodePools, MIG strategies and key paths, as
cost and review ask for them — and what the writing modules write reads back the same."""
from __future__ import annotations

from typing import Any

import pytest

from hybridai.modules.target import Target, TargetArgs
from hybridai.modules.tenancy import Tenancy, TenancyArgs, TenantArgs
from hybridai.recorded import RecordedNodePool, RecordedQuota, gpu_node_pools, gpu_quota_key, gpu_quotas, mig_strategies, value_at
from tests.helpers import run_module


def record(type_: str, inputs: dict[str, Any], target: str = "dc1") -> dict[str, Any]:
    return {"type": type_, "inputs": inputs, "target": target, "placement": "onprem"}


def namespace(name: str, labels: dict[str, str], target: str = "dc1") -> dict[str, Any]:
    return record("kubernetes:core/v1:Namespace", {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}, target)


def quota(namespace_: str, hard: dict[str, str], target: str = "dc1") -> dict[str, Any]:
    return record("kubernetes:core/v1:ResourceQuota", {"kind": "ResourceQuota", "metadata": {"name": f"{namespace_}-quota", "namespace": namespace_}, "spec": {"hard": hard}}, target)


def node_pool(name: str, spec: dict[str, Any], target: str = "training") -> dict[str, Any]:
    return record("kubernetes:karpenter.sh/v1:NodePool", {"kind": "NodePool", "metadata": {"name": name}, "spec": spec}, target)


def test_a_gpu_quota_key_is_requests_of_the_gpu_resource() -> None:
    assert gpu_quota_key("nvidia.com/gpu") == "requests.nvidia.com/gpu"
    assert gpu_quota_key("nvidia.com/mig-3g.40gb") == "requests.nvidia.com/mig-3g.40gb"


def test_a_gpu_quota_key_of_another_resource_is_refused() -> None:
    # GIVEN a resource that is no GPU: a quota key for it would never be read as one
    with pytest.raises(ValueError, match="'cpu' is not a GPU resource"):
        gpu_quota_key("cpu")


def test_gpu_quotas_read_each_quotas_gpu_units_with_its_namespaces_team() -> None:
    # GIVEN a team namespace with GPU, MIG and CPU quota on dc1, and a quota in a namespace no team owns
    records = [
        namespace("radiology", {"hybrid-ai.io/team": "radiology", "hybrid-ai.io/tier": "production-inference"}),
        quota("radiology", {"requests.cpu": "64", "requests.nvidia.com/gpu": "0", "requests.nvidia.com/mig-3g.40gb": "4", "pods": "100"}),
        quota("scratch", {"requests.nvidia.com/gpu": "2"}),
    ]
    # WHEN the quotas are read
    found = gpu_quotas(records)
    # THEN the GPU keys only, as numbers, zeros kept; the team and tier from the namespace's labels
    assert found == [
        RecordedQuota("dc1", "radiology", "radiology", "production-inference", {"nvidia.com/gpu": 0.0, "nvidia.com/mig-3g.40gb": 4.0}),
        RecordedQuota("dc1", "scratch", None, "", {"nvidia.com/gpu": 2.0}),
    ]


def test_a_namespace_of_the_same_name_on_another_target_is_not_the_team() -> None:
    # GIVEN team `fraud` on the training cluster only, and a quota in a `fraud` namespace on dc1
    records = [namespace("fraud", {"hybrid-ai.io/team": "fraud"}, target="training"), quota("fraud", {"requests.nvidia.com/gpu": "8"})]
    # THEN that quota belongs to no team
    [found] = gpu_quotas(records)
    assert (found.target, found.team) == ("dc1", None)


def test_the_quotas_tenancy_writes_read_back_as_its_tenants_gpu_quota() -> None:
    # GIVEN the Tenancy module writing a tenant's GPU and MIG quota
    tenant = TenantArgs(
        name="radiology", namespace="radiology", group="oidc:radiology", tier="training", data_classification="phi",
        gpu_quota={"nvidia.com/gpu": 2, "nvidia.com/mig-1g.10gb": 7}, cpu="8", memory="32Gi", storage="1Ti", pods=20,
    )

    def program():
        Tenancy(Target("t", "dc1", TargetArgs(placement="onprem", context="dc1")), TenancyArgs(tenants=(tenant,)))

    # WHEN its records are read
    [found] = gpu_quotas(r.record() for r in run_module(program))
    # THEN the reader finds the team, its tier and exactly the quota it was given
    assert (found.team, found.tier, found.gpus) == ("radiology", "training", {"nvidia.com/gpu": 2.0, "nvidia.com/mig-1g.10gb": 7.0})


def test_gpu_node_pools_read_limit_model_role_and_requirements() -> None:
    # GIVEN a GPU NodePool, a NodePool without a GPU limit, and a record of another type
    spec = {
        "template": {
            "metadata": {"labels": {"hybrid-ai.io/node-role": "gpu-training", "hybrid-ai.io/gpu-model": "A100-80GB"}},
            "spec": {"requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p4de.24xlarge"]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
            ]},
        },
        "limits": {"nvidia.com/gpu": "48"},
    }
    records = [node_pool("a100", spec), node_pool("cpu", {"limits": {"cpu": "100"}}), quota("fraud", {"requests.nvidia.com/gpu": "8"})]
    # THEN only the GPU NodePool is read, its limit as a number
    assert gpu_node_pools(records) == [RecordedNodePool("training", "a100", 48, "A100-80GB", "gpu-training", ("p4de.24xlarge",), ("spot", "on-demand"))]


def test_mig_strategies_are_the_gpu_operator_releases_per_target() -> None:
    records = [
        record("kubernetes:helm.sh/v3:Release", {"chart": "gpu-operator", "values": {"mig": {"strategy": "mixed"}}}, "dc1"),
        record("kubernetes:helm.sh/v3:Release", {"chart": "gpu-operator", "values": {}}, "training"),
        record("kubernetes:helm.sh/v3:Release", {"chart": "kueue", "values": {"mig": {"strategy": "single"}}}, "edge"),
    ]
    # THEN a release without a strategy runs none; other charts' values say nothing
    assert mig_strategies(records) == {"dc1": "mixed", "training": "none"}


def test_value_at_walks_mappings_and_is_none_off_the_path() -> None:
    values = {"server": {"enabled": True, "replicas": 2}, "args": ["--a"]}
    assert value_at(values, ("server", "replicas")) == 2
    assert value_at(values, ("server", "resources", "requests")) is None
    # a list (or any value) on the way is not walked into
    assert value_at(values, ("args", "0")) is None
