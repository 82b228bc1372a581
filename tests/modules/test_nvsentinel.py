"""NvSentinel: the pinned chart in its privileged namespace, detection, quarantine and drain on,
remediation off, and the drain policy from the stack's teams and `gpuHealth`."""
from __future__ import annotations

from hybridai import catalog
from hybridai.config.gpu_health import GpuHealthSettings
from hybridai.modules.nvsentinel import NvSentinel, NvSentinelArgs, drain_policy
from hybridai.modules.target import Target, TargetArgs
from tests.helpers import named, prepared, release, run_module


def args_of(stack: str, **settings) -> NvSentinelArgs:
    spec, _ = prepared(stack)
    return NvSentinelArgs.of(spec.gpu_health.model_copy(update=settings), spec.teams, spec.training, spec.gpu_operator.namespace, spec.monitoring.namespace)


def test_training_namespaces_wait_the_stacks_minutes_and_the_others_are_evicted_within_their_budgets() -> None:
    # GIVEN healthcare-prod: clinical-research trains; radiology, pathology, clinical-notes serve; ml-platform researches
    args = args_of("healthcare-prod", training_drain_minutes=120)
    # WHEN its drain policy is made
    policy = drain_policy(args)
    # THEN the training namespace gets DeleteAfterTimeout (120 minutes), the others Immediate
    # (the Eviction API, which their PodDisruptionBudgets hold), anything else is left to finish
    assert policy == [
        {"name": "clinical-research", "mode": "DeleteAfterTimeout"},
        {"name": "clinical-notes", "mode": "Immediate"},
        {"name": "ml-platform", "mode": "Immediate"},
        {"name": "pathology", "mode": "Immediate"},
        {"name": "radiology", "mode": "Immediate"},
        {"name": "*", "mode": "AllowCompletion"},
    ]
    assert args.training_drain_minutes == 120


def test_a_team_that_serves_and_trains_gets_the_training_wait() -> None:
    # GIVEN finance-prod: fraud serves (production-inference) and trains its feature job on-prem
    args = args_of("finance-prod")
    # THEN its namespace waits like a training one (its training pods aren't killed mid-step); the
    # teams that only serve are evicted within their budgets
    assert args.training_namespaces == ("fraud",)
    assert args.evicted_namespaces == ("credit-serving", "document-review")


def test_the_pinned_chart_detects_quarantines_and_drains_and_remediates_nothing() -> None:
    # GIVEN NVSentinel with a training namespace and a serving one
    args = NvSentinelArgs(training_namespaces=("fraud",), evicted_namespaces=("scoring",), training_drain_minutes=45, gpu_operator_namespace="gpus")
    resources = run_module(lambda: NvSentinel(Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1")), args))
    pin = catalog.chart("nvsentinel")
    chart = release(resources, f"{pin.repository}/{pin.chart}").inputs
    values = chart["values"]
    # THEN the pinned release, its images at the pinned tag (never the chart's moving `main`)
    assert (chart["version"], chart["namespace"], chart["name"]) == ("v1.19.0", "nvsentinel", "nvsentinel")
    assert values["global"]["image"] == {"tag": "v1.19.0"}
    # AND it reads the operator's DCGM hostengine in the operator's namespace
    assert values["global"]["dcgm"]["service"] == {"endpoint": "nvidia-dcgm.gpus.svc", "port": 5555}
    # AND quarantine and drain run, with their store; reboot and GPU reset don't
    flags = {k: v["enabled"] for k, v in values["global"].items() if isinstance(v, dict) and "enabled" in v}
    assert flags == {"faultQuarantine": True, "nodeDrainer": True, "mongodbStore": True, "faultRemediation": False, "janitor": False}
    # AND the drainer waits 45 minutes for training, skips the platform's own namespaces
    drainer = values["node-drainer"]
    assert drainer["deleteAfterTimeoutMinutes"] == 45
    assert drainer["systemNamespaces"] == "^(nvsentinel|kube-system|gpus)$"
    assert drainer["userNamespaces"][0] == {"name": "fraud", "mode": "DeleteAfterTimeout"}
    # AND its namespace is privileged (the host journal), protected (the store's volumes), scraped on the metrics port only
    ns = named(resources, "Namespace", "nvsentinel")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert ns.protect is True
    policy = named(resources, "NetworkPolicy", "nvsentinel-ingress").inputs["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 2112}]} in policy


def test_it_runs_where_cert_manager_does_unless_the_stack_says() -> None:
    # GIVEN the default settings THEN NVSentinel runs with tls (cert-manager) and not without
    assert GpuHealthSettings().runs(has_tls=True) is True
    assert GpuHealthSettings().runs(has_tls=False) is False
    assert GpuHealthSettings.model_validate({"enabled": False}).runs(has_tls=True) is False
