"""Harness: every example stack's plan is valid for the real APIs and the pinned charts."""
from __future__ import annotations

from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from hybridai import catalog
from hybridai.plan.artifacts import HELM_RELEASE, helm_release
from tests.conftest import ROOT, planned
from tests.harness.upstream import chart_defaults, unknown_value_keys, upstream, validate_custom_resource

K8S_VERSIONS = catalog.versions().kubernetes.validated_versions


def _manifests(stack: str) -> list[tuple[Path, dict]]:
    _, files = planned(stack)
    return [(path, yaml.safe_load(text)) for path, text in sorted(files.items()) if path.parts[0] == "manifests"]


def _is_builtin(obj: dict) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_builtin_manifests_validate_strictly_against_kubernetes(example_stack: str, k8s_version: str) -> None:
    # GIVEN the plan of an example stack WHEN each built-in object is validated in strict mode
    manifests = [(p, o) for p, o in _manifests(example_stack) if _is_builtin(o)]
    assert manifests, "the plan has Kubernetes objects"
    errors = {}
    for path, obj in manifests:
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors[str(path)] = err.message
    # THEN none breaks the schema (unknown fields included)
    assert errors == {}


def test_custom_resources_validate_against_their_crds(example_stack: str) -> None:
    upstream()
    custom = [(p, o) for p, o in _manifests(example_stack) if not _is_builtin(o)]
    errors = {str(p): e for p, o in custom if (e := validate_custom_resource(o))}
    assert errors == {}


def test_helm_values_exist_in_the_pinned_charts(example_stack: str) -> None:
    plan, _ = planned(example_stack)
    pins = {(pin.chart, pin.version): pin for pin in catalog.versions().charts.values()}
    releases = [helm_release(r) for r in plan.resources if r.type == HELM_RELEASE]
    assert releases, "the plan has Helm releases"
    for release in releases:
        pin = pins.get((release["chart"], release["version"]))
        assert pin is not None, f"{release['release']}: {release['chart']} {release['version']} is not pinned in versions.yaml"
        assert release["repository"] == pin.repository
        unknown = list(unknown_value_keys(release["values"], chart_defaults(pin.upstream, pin.chart))) if release["values"] else []
        assert unknown == [], f"{release['release']}: keys not in {pin.chart} {pin.version}"


# The checks themselves must catch what they exist to catch.


def test_strict_kubernetes_validation_rejects_unknown_fields() -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {"finalizerz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, K8S_VERSIONS[0], strict=True)


def test_crd_validation_rejects_unknown_and_mistyped_fields() -> None:
    upstream()
    good = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "dcgm", "namespace": "gpu-operator"},
        "spec": {"selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}}, "endpoints": [{"port": "gpu-metrics", "interval": "15s"}]},
    }
    assert validate_custom_resource(good) == []
    typo = {**good, "spec": {**good["spec"], "endpoint": []}}
    assert any("endpoint" in e for e in validate_custom_resource(typo))
    wrong_type = {**good, "spec": {**good["spec"], "endpoints": "gpu-metrics"}}
    assert validate_custom_resource(wrong_type) != []
    assert validate_custom_resource({**good, "kind": "ServiceMonitorz"}) == ["no CRD for monitoring.coreos.com/v1 ServiceMonitorz in the pinned charts"]


def test_values_check_reports_keys_the_chart_lacks() -> None:
    defaults = chart_defaults("gpu-operator/v26.7.0", "gpu-operator")
    values = {"driver": {"enabled": False, "enabeld": True}, "migManager": {"config": {"name": "x"}}, "toolkit": {"env": [{"name": "A", "value": "b"}]}}
    assert list(unknown_value_keys(values, defaults)) == ["driver.enabeld"]


def test_pinned_charts_have_upstream_reference_data() -> None:
    root = upstream()
    for name, pin in catalog.versions().charts.items():
        assert (root / pin.upstream).is_dir(), f"{name}: no reference data at {root / pin.upstream}"


def test_pulumi_project_file_matches_pulumis_schema() -> None:
    schema = yaml.safe_load((upstream() / "pulumi" / "project.json").read_text())
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    jsonschema.validate(project, schema)
    assert project["name"] == "hybrid-ai"
    assert project["stackConfigDir"] == "stacks"
    assert project["runtime"]["options"]["toolchain"] == "pip"


def test_agent_mode_monitoring_values_exist_in_the_chart() -> None:
    # No example stack has an edge site yet; the agent-mode values must still be real chart keys.
    from modules.monitoring import Monitoring, MonitoringArgs
    from modules.target import Target, TargetArgs
    from tests.helpers import release, run_module

    resources = run_module(lambda: Monitoring(Target("e", "site", TargetArgs(placement="edge:site", context="site")), MonitoringArgs(mode="agent", remote_write_url="https://hub/api/v1/write")))
    pin = catalog.chart("kube-prometheus-stack")
    values = release(resources, "kube-prometheus-stack").inputs["values"]
    assert list(unknown_value_keys(values, chart_defaults(pin.upstream, pin.chart))) == []
