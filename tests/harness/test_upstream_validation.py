"""Harness: every example stack's plan is valid for the real APIs and the pinned charts."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import jsonschema
import kubernetes_validate
import pytest
import yaml
from celpy import celtypes

from hybridai import catalog
from hybridai.plan.artifacts import HELM_RELEASE, helm_release
from tests.conftest import ROOT, planned
from tests.helpers import has_path
from tests.harness.upstream import (
    FREE_FORM,
    PASSED_THROUGH,
    K8S_CEL_FUNCTIONS,
    SUBCHART_KEYS,
    UnsupportedCel,
    _crds,
    cel_errors,
    image_registries,
    cel_program,
    chart_defaults,
    crd_cel_rules,
    crd_schema,
    dependency_version,
    unknown_value_keys,
    reference_root,
    upstream,
    validate_custom_resource,
    values_defaults,
)

K8S_VERSIONS = catalog.versions().kubernetes.validated_versions


def _manifests(stack: str) -> list[tuple[Path, dict]]:
    _, files = planned(stack)
    return [(path, yaml.safe_load(text)) for path, text in sorted(files.items()) if path.parts[0] == "manifests"]


def _is_builtin(obj: dict) -> bool:
    """Kubernetes' own kinds: the core and `*.k8s.io` groups, less those a pinned chart's CRD
    defines (Gateway API's `gateway.networking.k8s.io`, the Inference Extension's
    `inference.networking.k8s.io`), which are validated against their CRDs."""
    group = obj["apiVersion"].rpartition("/")[0]
    return ("." not in group or group.endswith(".k8s.io")) and crd_schema(obj["apiVersion"], obj["kind"]) is None


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
    reference_root()
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
        free_form = FREE_FORM | PASSED_THROUGH.get(pin.chart, frozenset())
        unknown = list(unknown_value_keys(release["values"], values_defaults(pin.upstream, pin.chart), free_form=free_form)) if release["values"] else []
        assert unknown == [], f"{release['release']}: keys not in {pin.chart} {pin.version}"


def test_each_charts_registries_cover_the_images_its_defaults_name() -> None:
    # GIVEN every pinned chart's default values WHEN the registries of their images are read
    # THEN versions.yaml lists each of them for the chart (what an edge site mirrors for it)
    reference_root()
    missing = {}
    for name, pin in catalog.versions().charts.items():
        try:
            defaults = chart_defaults(pin.upstream, pin.chart)
        except FileNotFoundError:
            continue  # a chart of CRDs only (kserve-crd): no images
        if lacking := image_registries(defaults) - set(pin.registries):
            missing[name] = sorted(lacking)
    assert missing == {}


def test_lokis_https_probes_are_the_charts_own_with_the_scheme() -> None:
    # GIVEN Loki's values with the stack's issuer, and the pinned chart's default probes
    from hybridai.config.operations import SecretKeyRef
    from hybridai.modules.certificates import TlsArgs
    from hybridai.modules.logging import LogStoreArgs, loki_values

    key = SecretKeyRef(name="s", key="k")
    store = LogStoreArgs(endpoint="https://s3.example", bucket="b", access_key_id=key, secret_access_key=key, log_retention_days=1, audit_retention_days=1, tls=TlsArgs(issuer="ca"))
    ours = loki_values(store)["loki"]
    pin = catalog.chart("loki")
    chart = chart_defaults(pin.upstream, pin.chart)["loki"]
    # THEN each probe is the chart's (path, port, timings), with only `scheme: HTTPS` added
    for probe in ("readinessProbe", "livenessProbe"):
        mine = copy.deepcopy(ours[probe])
        assert mine["httpGet"].pop("scheme") == "HTTPS"
        assert mine == chart[probe], probe


def test_image_registries_reads_each_way_charts_name_images() -> None:
    values = {
        "image": {"repository": "cr.fluentbit.io/fluent/fluent-bit"},
        "prometheus": {"image": {"registry": "quay.io", "repository": "prometheus/prometheus"}},
        "velero": {"image": {"repository": "velero/velero"}},
        "initContainers": [{"name": "aws", "image": "public.ecr.aws/x/y:1"}],
        "operator": {"repository": "nvcr.io/nvidia", "image": "gpu-operator"},
        "templated": {"repository": "{{ .Values.global.registry }}/x"},
    }
    assert image_registries(values) == {"cr.fluentbit.io", "quay.io", "docker.io", "public.ecr.aws", "nvcr.io"}


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


# CEL: `x-kubernetes-validations`, as the API server evaluates them on create.

EC2_NODE_CLASS = {
    "apiVersion": "karpenter.k8s.aws/v1",
    "kind": "EC2NodeClass",
    "metadata": {"name": "a100", "labels": {"app.kubernetes.io/managed-by": "hybrid-ai"}},
    "spec": {
        "role": "fin-prod-training-karpenter-node",
        "amiSelectorTerms": [{"alias": "al2023@v20251209"}],
        "subnetSelectorTerms": [{"id": "subnet-0a"}, {"id": "subnet-0b"}],
        "securityGroupSelectorTerms": [{"id": "sg-0a"}],
        "associatePublicIPAddress": False,
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}],
        "tags": {"hybrid-ai.io/team": "platform"},
    },
}
NODE_POOL = {
    "apiVersion": "karpenter.sh/v1",
    "kind": "NodePool",
    "metadata": {"name": "a100", "labels": {"app.kubernetes.io/managed-by": "hybrid-ai"}},
    "spec": {
        "template": {
            "metadata": {"labels": {"hybrid-ai.io/node-role": "gpu-training", "hybrid-ai.io/node-group": "a100", "hybrid-ai.io/gpu-model": "A100-80GB"}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "a100"},
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p4de.24xlarge"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
                ],
                "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                "expireAfter": "720h",
            },
        },
        "limits": {"nvidia.com/gpu": "48"},
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m", "budgets": [{"nodes": "10%"}]},
    },
}


def _changed(obj: dict, change: Callable[[dict], Any]) -> dict:
    obj = copy.deepcopy(obj)
    change(obj["spec"])
    return obj


def test_karpenter_objects_as_the_program_writes_them_pass_every_cel_rule() -> None:
    upstream()
    assert validate_custom_resource(EC2_NODE_CLASS) == []
    assert validate_custom_resource(NODE_POOL) == []


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        (
            _changed(NODE_POOL, lambda s: s["template"]["spec"]["requirements"][0].update(values=[])),
            "spec.template.spec.requirements: requirements with operator 'In' must have a value defined",
        ),
        (
            _changed(NODE_POOL, lambda s: s["template"]["spec"]["requirements"].append({"key": "kubernetes.io/hostname", "operator": "Exists"})),
            'spec.template.spec.requirements.2.key: label "kubernetes.io/hostname" is restricted',
        ),
        (
            # the Kubernetes regex library's find(): the label's domain ends in karpenter.sh
            _changed(NODE_POOL, lambda s: s["template"]["metadata"]["labels"].update({"team.karpenter.sh/owner": "x"})),
            'spec.template.metadata.labels: label domain "karpenter.sh" is restricted',
        ),
        (
            _changed(EC2_NODE_CLASS, lambda s: s.update(amiSelectorTerms=[{"owner": "amazon"}], amiFamily="AL2023")),
            "spec.amiSelectorTerms: expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']",
        ),
        (
            _changed(EC2_NODE_CLASS, lambda s: s.update(instanceProfile="fin-prod-training-karpenter-node")),
            "spec: must specify exactly one of ['role', 'instanceProfile']",
        ),
        (
            # the strings extension's split()
            _changed(EC2_NODE_CLASS, lambda s: s.update(amiSelectorTerms=[{"alias": "ubuntu@v1"}])),
            (
                "spec.amiSelectorTerms.0.alias: family is not supported, must be one of the following: "
                "'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'"
            ),
        ),
        (
            _changed(EC2_NODE_CLASS, lambda s: s["blockDeviceMappings"].append({"deviceName": "/dev/xvdb", "rootVolume": True, "ebs": {"volumeSize": "100Gi"}})),
            "spec.blockDeviceMappings: must have only one blockDeviceMappings with rootVolume",
        ),
    ],
    ids=["in-without-values", "restricted-requirement-key", "restricted-label-domain", "ami-term-without-selector", "role-and-instance-profile", "unsupported-ami-family", "two-root-volumes"],
)
def test_cel_rules_reject_karpenter_objects_that_break_them(obj: dict, error: str) -> None:
    # GIVEN a NodePool or EC2NodeClass that breaks one CEL rule of its CRD (and nothing in its schema)
    upstream()
    # WHEN it is validated THEN the rule's message is reported at the rule's node
    assert validate_custom_resource(obj) == [error]


def test_every_cel_rule_of_the_pinned_crds_is_supported() -> None:
    # GIVEN every x-kubernetes-validations rule of every pinned CRD (and each messageExpression)
    # WHEN each is compiled THEN cel-python parses it and the harness implements every function it calls
    rules = list(crd_cel_rules(upstream()))
    assert {"karpenter.sh/v1 NodePool", "karpenter.k8s.aws/v1 EC2NodeClass"} <= {crd for crd, _, _ in rules}
    unsupported = {}
    for crd, where, rule in rules:
        for text in filter(None, (rule["rule"], rule.get("messageExpression"))):
            try:
                cel_program(text)
            except UnsupportedCel as err:
                unsupported[f"{crd} {where}"] = str(err)
    assert unsupported == {}


def test_only_the_pinned_charts_crds_are_read(tmp_path: Path) -> None:
    # GIVEN reference data holding a pinned chart's CRD and a CRD of a folder no pin names
    crd = {"kind": "CustomResourceDefinition", "spec": {"group": "example.io", "names": {"kind": "Widget"}, "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    pinned = tmp_path / catalog.chart("karpenter").upstream / "crds"
    unpinned = tmp_path / "not-pinned" / "v9" / "crds"
    for folder, group in ((pinned, "pinned.example.io"), (unpinned, "unpinned.example.io")):
        folder.mkdir(parents=True)
        (folder / "widget.yaml").write_text(yaml.safe_dump({**crd, "spec": {**crd["spec"], "group": group}}))
    # WHEN the harness reads the CRDs THEN only the pinned folder's are contracts
    assert set(_crds(tmp_path)) == {("pinned.example.io/v1", "Widget")}


SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "string"}, "provider": {"type": "string", "default": "generic"}}}}}


def _with_rule(**rule: str) -> dict:
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["spec"]["x-kubernetes-validations"] = [rule]
    return schema


def test_a_cel_function_the_harness_lacks_fails_the_test_saying_which() -> None:
    # GIVEN a rule calling a Kubernetes CEL library function the harness doesn't implement
    schema = _with_rule(rule="isQuantity(self.size) && quantity(self.size).isGreaterThan(quantity('1Gi'))", message="too small")
    # WHEN an object is checked THEN the test can't pass silently: it fails naming the functions
    with pytest.raises(UnsupportedCel, match=r"calls isGreaterThan, isQuantity, quantity, which the harness doesn't implement"):
        cel_errors(schema, {"spec": {"size": "2Gi"}})
    assert "isQuantity" not in K8S_CEL_FUNCTIONS


def test_transition_rules_are_skipped_and_defaults_applied_before_rules_run() -> None:
    # GIVEN a transition rule (oldSelf) and a rule reading a field only the schema's default sets
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "self.size == oldSelf.size", "message": "size is immutable"},
        {"rule": "self.provider == 'generic'", "message": "provider must be generic"},
    ]
    # WHEN an object without that field is created THEN neither rejects it
    assert cel_errors(schema, {"spec": {"size": "1"}}) == []
    # AND a value against the rule is rejected with its message
    assert cel_errors(schema, {"spec": {"size": "1", "provider": "aws"}}) == ["spec: provider must be generic"]


def test_cel_messages_and_evaluation_errors() -> None:
    # GIVEN rules with a messageExpression, with no message at all, and one reading an absent field
    rendered = _with_rule(rule="self.size.startsWith('a')", messageExpression="'size ' + self.size + ' must start with a'")
    bare = _with_rule(rule="self.size.startsWith('a')")
    absent = _with_rule(rule="self.name == 'x'", message="m")
    # THEN the expression is rendered, the API server's fallback is used, and an error is an error
    assert cel_errors(rendered, {"spec": {"size": "b"}}) == ["spec: size b must start with a"]
    assert cel_errors(bare, {"spec": {"size": "b"}}) == ["spec: failed rule: self.size.startsWith('a')"]
    [error] = cel_errors(absent, {"spec": {}})
    assert error.startswith("spec: CEL rule \"self.name == 'x'\" failed to evaluate: ") and "'name'" in error


@pytest.mark.parametrize(
    "expression",
    [
        "'team.karpenter.sh/owner'.find('^([^/]+)') == 'team.karpenter.sh'",
        "'no-slash'.find('/.*') == ''",
        "'a1b22c333'.findAll('[0-9]+') == ['1', '22', '333'] && 'a1b22c333'.findAll('[0-9]+', 2) == ['1', '22']",
        "'al2023@v20251209'.split('@') == ['al2023', 'v20251209']",
        "'a@b@c'.split('@', 2) == ['a', 'b@c'] && 'a@b'.split('@', 0) == [] && 'abc'.split('') == ['a', 'b', 'c']",
        "'Authorization'.lowerAscii() == 'authorization' && 'ÀB-1'.lowerAscii() == 'Àb-1'",
    ],
)
def test_kubernetes_cel_library_functions_behave_as_in_kubernetes(expression: str) -> None:
    result = cel_program(expression).program.evaluate({})
    assert isinstance(result, celtypes.BoolType) and result


def test_values_check_reports_keys_the_chart_lacks() -> None:
    defaults = chart_defaults("gpu-operator/v26.7.0", "gpu-operator")
    values = {"driver": {"enabled": False, "enabeld": True}, "migManager": {"config": {"name": "x"}}, "toolkit": {"env": [{"name": "A", "value": "b"}]}}
    assert list(unknown_value_keys(values, defaults)) == ["driver.enabeld"]


@pytest.mark.parametrize("chart", sorted(SUBCHART_KEYS))
def test_subchart_keys_were_verified_against_the_subchart_the_pinned_chart_depends_on(chart: str) -> None:
    # GIVEN subchart keys verified by hand against one version of the subchart
    listed = SUBCHART_KEYS[chart]
    pin = catalog.chart(chart)
    # WHEN the pinned parent chart's Chart.yaml names its dependency
    depends_on = dependency_version(pin.upstream, listed.subchart)
    # THEN it is that version: a bump of either chart fails here until every key is re-verified
    # against the new subchart's values.yaml and templates and `version` is updated
    assert depends_on == listed.version, (
        f"{chart} {pin.version} depends on {listed.subchart} {depends_on}; SUBCHART_KEYS[{chart!r}] were verified "
        f"against {listed.subchart} {listed.version}: re-verify each key in {listed.source.replace(listed.version, str(depends_on))}"
    )


@pytest.mark.parametrize("chart", sorted(SUBCHART_KEYS))
def test_subchart_keys_list_only_what_the_parent_defaults_lack(chart: str) -> None:
    # GIVEN the listed subchart keys and the pinned parent chart's own defaults
    listed = SUBCHART_KEYS[chart]
    pin = catalog.chart(chart)
    parent = chart_defaults(pin.upstream, chart)
    # WHEN each listed path is looked up in the parent's defaults THEN none is there already
    # (a listed key the parent's defaults hold would be checked against both, and vouched for twice)
    assert [path for path in listed.keys if has_path(parent[listed.subchart], path)] == []
    assert all(provenance.strip() for provenance in listed.keys.values())


def test_values_check_reports_subchart_keys_outside_the_list() -> None:
    # GIVEN grafana values: listed subchart keys, a key of the parent's defaults, and two typos
    pin = catalog.chart("kube-prometheus-stack")
    values = {
        "grafana": {
            "grafana.ini": {"server": {"protocol": "https", "protocl": "https"}},
            "extraSecretMounts": [{"name": "tls", "secretName": "s", "mountPath": "/m", "readOnly": True}],
            "serviceMonitor": {"enabled": True, "scheme": "https", "shceme": "https"},
            "admin": {"existingSecret": "grafana-admin"},
        }
    }
    # WHEN checked against the parent's defaults and the listed subchart keys
    unknown = list(unknown_value_keys(values, values_defaults(pin.upstream, pin.chart)))
    # THEN only the keys neither holds are reported
    assert unknown == ["grafana.grafana.ini.server.protocl", "grafana.serviceMonitor.shceme"]
    # AND without the list, the subchart keys themselves would be reported
    assert "grafana.grafana.ini" in list(unknown_value_keys(values, chart_defaults(pin.upstream, pin.chart)))


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
    from hybridai.modules.monitoring import Monitoring, MonitoringArgs
    from hybridai.modules.target import Target, TargetArgs
    from tests.helpers import release, run_module

    resources = run_module(lambda: Monitoring(Target("e", "site", TargetArgs(placement="edge:site", context="site")), MonitoringArgs(mode="agent", remote_write_url="https://hub/api/v1/write")))
    pin = catalog.chart("kube-prometheus-stack")
    values = release(resources, "kube-prometheus-stack").inputs["values"]
    assert list(unknown_value_keys(values, chart_defaults(pin.upstream, pin.chart))) == []


def test_tls_monitoring_values_exist_in_the_chart_or_the_verified_subchart_keys() -> None:
    # GIVEN monitoring with an issuer: Prometheus and Grafana serving TLS (grafana subchart keys)
    from hybridai.modules.certificates import TlsArgs
    from hybridai.modules.monitoring import Monitoring, MonitoringArgs
    from hybridai.modules.target import Target, TargetArgs
    from tests.helpers import release, run_module

    loki = {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": "https://loki.logging.svc:3100"}
    args = MonitoringArgs(tls=TlsArgs(issuer="hybridai-ca"), extra_datasources=(loki,))
    resources = run_module(lambda: Monitoring(Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1")), args))
    pin = catalog.chart("kube-prometheus-stack")
    values = release(resources, "kube-prometheus-stack").inputs["values"]
    # THEN every key is in kube-prometheus-stack's defaults or in the list verified against the grafana subchart
    assert list(unknown_value_keys(values, values_defaults(pin.upstream, pin.chart))) == []
    # AND every listed key is one the program sets (the list holds nothing unverified-and-unused)
    listed = SUBCHART_KEYS["kube-prometheus-stack"]
    assert [path for path in listed.keys if not has_path(values[listed.subchart], path)] == []
