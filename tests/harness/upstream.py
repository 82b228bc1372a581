"""Validation against the pinned charts' own reference data (default values, CRDs).

The data lives outside the repository, in ../shared/upstream or $HYBRIDAI_UPSTREAM. Tests that need
it fail in CI when it is missing (CI must check it) and skip elsewhere, saying why.

A custom resource is checked as the API server would on create: against its CRD's openAPIV3Schema
(strictly: undeclared fields are errors), then, with the schema's defaults applied, against every
CEL rule (`x-kubernetes-validations`) at its schema node, evaluated with cel-python (`celpy`) plus
the Kubernetes CEL library functions the pinned CRDs call (`K8S_CEL_FUNCTIONS`). A rule calling a
function the harness doesn't implement is an error (`UnsupportedCel`), never a silent pass.
"""
from __future__ import annotations

import base64
import copy
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

import celpy
import jsonschema
import pytest
import re2
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError, base_functions

from hybridai import catalog

# libyaml's loader: the Argo Workflows CRDs are 2.5 MB each.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def required() -> bool:
    """Must the reference data be there? In CI yes, unless HYBRIDAI_REQUIRE_UPSTREAM=0 says the CI
    has no copy of it (a hosted runner without the mirror); HYBRIDAI_REQUIRE_UPSTREAM=1 forces it."""
    explicit = os.environ.get("HYBRIDAI_REQUIRE_UPSTREAM")
    return explicit == "1" if explicit in ("0", "1") else bool(os.environ.get("CI"))


def upstream() -> Path:
    root = catalog.upstream_dir()
    if not root.is_dir():
        reason = f"upstream reference data not found at {root} (set {catalog.UPSTREAM_ENV})"
        if required():
            pytest.fail(reason)
        pytest.skip(reason)
    return root


def pinned_folders() -> list[str]:
    """The upstream folders of the charts hybridai/data/versions.yaml pins: the only reference data
    the harness reads. The upstream tree holds more (other versions of a chart, charts no stack
    deploys yet); a CRD there is no contract of this project until a pin names its folder."""
    return sorted({pin.upstream for pin in catalog.versions().charts.values()})


@cache
def _crds(root: Path) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) → openAPIV3Schema, from every CRD file of every pinned chart; read once
    per session."""
    schemas = {}
    for path in sorted(p for folder in pinned_folders() for p in (root / folder).glob("crds/*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def crd_schema(api_version: str, kind: str) -> dict | None:
    return _crds(upstream()).get((api_version, kind))


def strict(schema: dict) -> dict:
    """The schema as the API server applies it: fields a structural schema doesn't declare are
    pruned silently there, so here they are errors (`additionalProperties: false`)."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # metadata is validated by the API server as ObjectMeta, not by the CRD schema.
    if "metadata" in schema.get("properties", {}):
        schema["properties"]["metadata"] = {"type": "object"}
    return schema


@cache
def _strict_validator(root: Path, api_version: str, kind: str) -> jsonschema.Draft7Validator | None:
    schema = _crds(root).get((api_version, kind))
    return None if schema is None else jsonschema.Draft7Validator(strict(schema))


def validate_custom_resource(obj: dict) -> list[str]:
    root = upstream()
    validator = _strict_validator(root, obj["apiVersion"], obj["kind"])
    if validator is None:
        return [f"no CRD for {obj['apiVersion']} {obj['kind']} in the pinned charts"]
    errors = [f"{_where(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    return errors + cel_errors(_crds(root)[(obj["apiVersion"], obj["kind"])], obj)


# CEL: the rules of `x-kubernetes-validations`.


class UnsupportedCel(Exception):
    """A CEL rule the harness can't evaluate faithfully (a function it doesn't implement, or text
    cel-python can't parse): the test fails saying so, rather than passing the object unchecked."""


def _find(text: celtypes.StringType, regex: celtypes.StringType) -> celtypes.StringType:
    """Kubernetes regex library: the first match of `regex` in the string, or ''."""
    match = re2.search(regex, text)
    return celtypes.StringType(match.group(0) if match else "")


_ALL = celtypes.IntType(-1)


def _find_all(text: celtypes.StringType, regex: celtypes.StringType, limit: celtypes.IntType = _ALL) -> celtypes.ListType:
    """Kubernetes regex library: every match of `regex` in the string, at most `limit` (< 0: all)."""
    matches = [m.group(0) for m in re2.finditer(regex, text)]
    return celtypes.ListType(celtypes.StringType(m) for m in (matches if limit < 0 else matches[:limit]))


def _split(text: celtypes.StringType, separator: celtypes.StringType, limit: celtypes.IntType = _ALL) -> celtypes.ListType:
    """CEL strings extension (cel-go ext.Strings, in Kubernetes' CEL environment): Go's
    strings.SplitN — `limit` 0 gives [], < 0 every part, n at most n parts; '' splits characters."""
    if limit == 0:
        return celtypes.ListType()
    if separator == "":
        parts = list(text) if limit < 0 or limit >= len(text) else [*text[: limit - 1], text[limit - 1 :]]
    else:
        parts = text.split(separator, -1 if limit < 0 else limit - 1)
    return celtypes.ListType(celtypes.StringType(p) for p in parts)


def _lower_ascii(text: celtypes.StringType) -> celtypes.StringType:
    """CEL strings extension (cel-go ext.Strings): the string with ASCII letters lowercased, every
    other character as it is (Envoy Gateway's and the AI Gateway's SecurityPolicy header rules)."""
    return celtypes.StringType("".join(c.lower() if "A" <= c <= "Z" else c for c in text))


K8S_CEL_FUNCTIONS: dict[str, Callable] = {"find": _find, "findAll": _find_all, "split": _split, "lowerAscii": _lower_ascii}
"""Functions of Kubernetes' CEL environment beyond what cel-python provides, as the pinned CRDs'
rules call them (`test_every_cel_rule_of_the_pinned_crds_is_supported` scans them all). Others of
that environment (`isQuantity`/`quantity`, `url`, `ip`/`cidr`, the lists library, the rest of the
strings extension) are added here when a pinned CRD starts calling them."""
MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter", "dyn"})
"""Standard CEL macros (cel-python also treats `reduce` and `min` as macros of its own; Kubernetes
has no such macros, so those count as unsupported)."""
SUPPORTED = MACROS | {name for name in base_functions if name.isidentifier()} | set(K8S_CEL_FUNCTIONS)


@dataclass(frozen=True)
class CelProgram:
    program: celpy.Runner
    transition: bool
    """The rule reads `oldSelf`: a transition rule, which only applies to updates."""


_CEL = celpy.Environment()


def called_functions(ast: Any) -> set[str]:
    """The functions, methods and macros an expression calls."""
    names = set()
    for node in ast.iter_subtrees():
        if node.data == "member_dot_arg":
            names.add(node.children[1].value)
        elif node.data == "ident_arg":
            names.add(node.children[0].value)
    return names


@cache
def cel_program(text: str) -> CelProgram:
    """A rule, compiled once per session; UnsupportedCel when the harness can't evaluate it."""
    try:
        ast = _CEL.compile(text)
    except celpy.CELParseError as err:
        raise UnsupportedCel(f"cel-python can't parse the CEL rule {text!r}: {err}") from None
    unknown = called_functions(ast) - SUPPORTED
    if unknown:
        raise UnsupportedCel(
            f"the CEL rule {text!r} calls {', '.join(sorted(unknown))}, which the harness doesn't implement: "
            "add it to K8S_CEL_FUNCTIONS in tests/harness/upstream.py, as Kubernetes' CEL library defines it"
        )
    transition = any(node.data == "ident" and node.children[0].value == "oldSelf" for node in ast.iter_subtrees())
    return CelProgram(_CEL.program(ast, functions=K8S_CEL_FUNCTIONS), transition)


def crd_cel_rules(root: Path) -> Iterator[tuple[str, str, dict]]:
    """(`<apiVersion> <kind>`, schema path, rule) for every `x-kubernetes-validations` rule of the
    pinned CRDs."""

    def walk(node: Any, where: str) -> Iterator[tuple[str, dict]]:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations") or []:
                yield where, rule
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}/{i}")

    for (api_version, kind), schema in sorted(_crds(root).items()):
        for where, rule in walk(schema, ""):
            yield f"{api_version} {kind}", where or "/", rule


def _where(path: Any) -> str:
    return ".".join(map(str, path)) or "<root>"


def _scalar(schema: dict, value: Any) -> Any:
    """A JSON value as the CEL type Kubernetes gives its schema type and format."""
    if isinstance(value, bool) or value is None or schema.get("x-kubernetes-int-or-string"):
        return json_to_cel(value)
    if isinstance(value, (int, float)):
        return celtypes.DoubleType(value) if schema.get("type") == "number" else json_to_cel(value)
    if isinstance(value, str) and schema.get("type") == "string":
        fmt = schema.get("format")
        try:
            if fmt == "byte":
                return celtypes.BytesType(base64.b64decode(value))
            if fmt in ("date", "date-time", "datetime"):
                return celtypes.TimestampType(value)
            if fmt == "duration":
                return celtypes.DurationType(value)
        except (ValueError, TypeError):
            pass  # not of its format: the schema check reports that
    return json_to_cel(value)


def _cel_walk(schema: dict, value: Any, path: tuple, errors: list[str]) -> Any:
    """Apply the schema's defaults to `value` (in place, as the API server does before validating),
    evaluate the rules of every node below, then this node's, and return `value` as CEL sees it:
    fields the schema doesn't declare are invisible to rules."""
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        properties = schema.get("properties")
        if properties is not None:
            for key, sub in properties.items():
                if key not in value and "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
            cel = celtypes.MapType({celtypes.StringType(k): _cel_walk(properties[k], v, (*path, k), errors) for k, v in value.items() if k in properties})
        elif isinstance(schema.get("additionalProperties"), dict):
            cel = celtypes.MapType({celtypes.StringType(k): _cel_walk(schema["additionalProperties"], v, (*path, k), errors) for k, v in value.items()})
        else:
            cel = json_to_cel(value)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        cel = celtypes.ListType(_cel_walk(schema["items"], v, (*path, i), errors) for i, v in enumerate(value))
    else:
        cel = _scalar(schema, value)
    if value is None:
        return cel  # a null (nullable) field: its rules don't run
    for rule in schema.get("x-kubernetes-validations") or []:
        problem = _evaluate(rule, cel)
        if problem:
            field = rule.get("fieldPath", "")
            errors.append(f"{_where(path) + field if path else field.lstrip('.') or '<root>'}: {problem}")
    return cel


def _evaluate(rule: dict, cel: Any) -> str | None:
    """Why `rule` rejects the value, or None when it holds (or only applies to updates)."""
    compiled = cel_program(rule["rule"])
    if compiled.transition:
        # oldSelf: the rule compares with the stored object, and a create has none. (With
        # `optionalOldSelf: true` it would run on create too; no pinned CRD sets that.)
        return None
    try:
        result = compiled.program.evaluate({"self": cel})
    except CELEvalError as err:
        return f"CEL rule {rule['rule']!r} failed to evaluate: {_short(err)}"
    if not isinstance(result, celtypes.BoolType):
        return f"CEL rule {rule['rule']!r} gave {result!r}, not a bool"
    return None if result else _message(rule, cel)


def _message(rule: dict, cel: Any) -> str:
    """The rule's messageExpression when it renders to a string, else its message, else what the
    API server says without one."""
    if rule.get("messageExpression"):
        try:
            rendered = cel_program(rule["messageExpression"]).program.evaluate({"self": cel})
            if isinstance(rendered, str) and rendered:
                return str(rendered)
        except (UnsupportedCel, CELEvalError):
            pass
    return rule.get("message") or f"failed rule: {rule['rule']}"


def _short(err: CELEvalError) -> str:
    detail = str(err.args[0]) if err.args else str(err)
    return detail.split(" (in activation")[0][:200]


def cel_errors(schema: dict, obj: dict) -> list[str]:
    """The CEL rules `obj` breaks, each as `<key path>: <the rule's message>`."""
    obj = copy.deepcopy(obj)
    # The API server shows rules only the name fields of an object's metadata.
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("name", "generateName")}
    errors: list[str] = []
    _cel_walk(schema, obj, (), errors)
    return errors


COMMENTED_DEFAULTS: dict[str, tuple[tuple[str, ...], str, dict]] = {
    # The Loki chart documents its object-storage buckets only in a comment of values.yaml
    # (`# bucketNames:` with `chunks`, `ruler`, `admin`), yet its templates need them for S3.
    "loki": (("loki", "storage", "bucketNames"), "# bucketNames:", {"chunks": None, "ruler": None, "admin": None}),
}
"""Keys a chart documents only as a comment of its default values: chart → (key path, the comment
that must be in values.yaml, the keys below it). Added to the defaults only while the comment is there."""


@dataclass(frozen=True)
class DocumentedDefaults:
    """The default values of a pinned chart whose values.yaml the reference data doesn't hold (a
    chart of CRDs only, whose folder holds the CRDs it installs), as its own documentation lists them."""

    source: str
    """Where the chart's values table is, for whoever re-verifies at a new version."""
    values: dict[str, Any]


DOCUMENTED_DEFAULTS: dict[str, DocumentedDefaults] = {
    # Envoy Gateway's CRD-only chart (charts/gateway-crds-helm): three values, all of them.
    "gateway-crds-helm": DocumentedDefaults(
        source="https://gateway.envoyproxy.io/docs/install/gateway-crds-helm-api/ (Values: crds.envoyGateway.enabled false, crds.gatewayAPI.channel experimental, crds.gatewayAPI.enabled false)",
        values={"crds": {"envoyGateway": {"enabled": False}, "gatewayAPI": {"channel": "experimental", "enabled": False}}},
    ),
}
"""Per chart: its documented defaults, where the reference data has none of its values."""


@cache
def chart_defaults(upstream_folder: str, chart: str) -> dict:
    """A pinned chart's default values: `<chart>-values.yaml` where a folder holds several charts
    (KServe's), else the folder's values.yaml when its Chart.yaml is that chart's, else its
    documented defaults (DOCUMENTED_DEFAULTS). FileNotFoundError: a chart without values (CRDs only)."""
    root = upstream() / upstream_folder
    path = root / f"{chart}-values.yaml"
    if not path.exists():
        manifest = root / "Chart.yaml"
        if manifest.exists() and yaml.safe_load(manifest.read_text()).get("name") == chart:
            path = root / "values.yaml"
        elif chart in DOCUMENTED_DEFAULTS:
            return copy.deepcopy(DOCUMENTED_DEFAULTS[chart].values)
        else:
            raise FileNotFoundError(f"no values of {chart} in {root}")
    text = path.read_text()
    defaults = yaml.safe_load(text)
    if path.name == "values.yaml":
        _add_local_subcharts(root, defaults)
    if chart in COMMENTED_DEFAULTS and COMMENTED_DEFAULTS[chart][1] in text:
        keys, _, below = COMMENTED_DEFAULTS[chart]
        node = defaults
        for key in keys[:-1]:
            node = node[key]
        node.setdefault(keys[-1], dict(below))
    return defaults


def _add_local_subcharts(root: Path, defaults: dict) -> None:
    """An umbrella chart's subcharts' own defaults, where the reference data holds them as
    `<subchart>-values.yaml` (NVSentinel's), below their key, with what the parent sets there over
    them; a vendored subchart of a subchart as `<subchart>.<name>-values.yaml`, below its own key."""

    def merged(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merged(base.get(k), v) for k, v in over.items()}}
        return over if over is not None else base

    chart = yaml.safe_load((root / "Chart.yaml").read_text())
    for dependency in chart.get("dependencies") or []:
        name = dependency["name"]
        path = root / f"{name}-values.yaml"
        if not path.exists():
            continue
        own = yaml.safe_load(path.read_text()) or {}
        for nested in sorted(root.glob(f"{name}.*-values.yaml")):
            inner = nested.name.removeprefix(f"{name}.").removesuffix("-values.yaml")
            own[inner] = merged(yaml.safe_load(nested.read_text()) or {}, own.get(inner))
        defaults[name] = merged(own, defaults.get(name))


FREE_FORM = frozenset({"nodeSelector", "podLabels", "podAnnotations", "labels", "annotations"})
"""Value keys that are Kubernetes label or annotation maps whatever their defaults hold: any key goes below them."""

PASSED_THROUGH: dict[str, frozenset[str]] = {
    # MLflow's deployment template writes these whole (`toYaml`) as the pod's and each container's
    # securityContext (charts/mlflow/templates/deployment.yaml at mlflow-1.11.5), so any field of
    # a Kubernetes SecurityContext is valid below them; the strict Kubernetes schema checks them.
    "mlflow": frozenset({"podSecurityContext", "securityContext"}),
    # Loki's pod template writes its probes whole, less `enabled` (`toYaml (omit . "enabled")` in
    # charts/loki/templates/_pod.tpl at loki-18.11.0), so any field of a Kubernetes Probe is valid
    # below them — `httpGet.scheme` for the HTTPS Loki serves with the stack's issuer.
    "loki": frozenset({"readinessProbe", "livenessProbe"}),
    # KEDA's three Deployments write `podSecurityContext.<component>` and `securityContext.<component>`
    # whole (`toYaml`) as the pod's and the container's securityContext (templates/manager,
    # metrics-server and webhooks deployment.yaml at v2.20.2), so any field of a Kubernetes
    # (Pod)SecurityContext is valid below them; tests/modules/test_keda.py validates them as such
    # against the strict Kubernetes schema.
    "keda": frozenset({"podSecurityContext", "securityContext"}),
    # Envoy Gateway's chart renders `config.envoyGateway` whole as its EnvoyGateway configuration
    # (values.yaml: "EnvoyGateway configuration. Visit …/api/extension_types/#envoygateway to view all
    # options"), so any field of that API is valid below it: the AI Gateway's extension manager and
    # the global rate limit's Redis, as Envoy AI Gateway v1.0.0's own values files for this chart set them.
    "gateway-helm": frozenset({"envoyGateway"}),
}
"""Per chart: value keys the chart's templates pass through whole as a Kubernetes object."""


def unknown_value_keys(values: dict, defaults: Any, path: str = "", free_form: frozenset[str] = FREE_FORM) -> Iterator[str]:
    """Key paths set in `values` that the chart's default values don't have. Below a default that
    is an empty map, a list or null, or a label map (FREE_FORM), the chart takes free-form content,
    so anything goes."""
    if not isinstance(defaults, dict) or not defaults:
        return
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            yield where
        elif key in free_form:
            continue
        elif isinstance(value, dict):
            yield from unknown_value_keys(value, defaults[key], where, free_form)


@dataclass(frozen=True)
class SubchartKeys:
    """Value keys a chart hands to a subchart whose own default values the upstream reference data
    doesn't hold (only the parent chart's are there), each verified by hand against the subchart's
    values.yaml and templates at `version`, and listed with where it is defined and used there."""

    subchart: str
    """The dependency's name in the parent's Chart.yaml, which is also its key in the parent's values."""
    version: str
    """The subchart version the keys were verified against: the parent's Chart.yaml must depend on
    exactly this one, so a bump of either chart forces re-verification."""
    source: str
    """Where that version's chart is read, for whoever re-verifies."""
    keys: dict[tuple[str, ...], str]
    """Key path below the subchart's key → where the subchart declares it (values.yaml line) and
    uses it (template). Each is a scalar, a list or a free-form map in the subchart's defaults, so
    anything below it goes; a structured map is listed by its keys instead."""


SUBCHART_KEYS: dict[str, SubchartKeys] = {
    # Grafana serving TLS (modules/monitoring.py grafana_serves_tls, sidecar_reloads_over_tls).
    # Lines of charts/grafana/values.yaml and templates at the tag grafana-12.11.1
    # (commit 864f7794683680e5100a38670e103c4fa6e37e29).
    "kube-prometheus-stack": SubchartKeys(
        subchart="grafana",
        version="12.11.1",
        source="grafana-community/helm-charts, charts/grafana, tag grafana-12.11.1",
        keys={
            ("grafana.ini", "server", "protocol"): (
                "values.yaml:959 `grafana.ini` (:969 `server`); templates/_config.tpl writes every section and key into grafana.ini: Grafana's [server] protocol"
            ),
            ("grafana.ini", "server", "cert_file"): "as protocol: Grafana's [server] cert_file",
            ("grafana.ini", "server", "cert_key"): "as protocol: Grafana's [server] cert_key",
            ("grafana.ini", "server", "certs_watch_interval"): "as protocol: Grafana's [server] certs_watch_interval (re-reads cert_file/cert_key)",
            ("extraSecretMounts",): "values.yaml:667 `extraSecretMounts: []`; _pod.tpl:1382 mounts each in the grafana container, :1692 a Secret volume (secretName, defaultMode, items)",
            ("extraContainerVolumes",): "values.yaml:479 `extraContainerVolumes: []`; _pod.tpl:1744 adds them to the pod's volumes as written",
            ("envValueFrom",): "values.yaml:628 `envValueFrom: {}`; _pod.tpl:1489 each key an env var of the grafana container with `valueFrom`",
            ("readinessProbe", "httpGet", "scheme"): "values.yaml:90 `readinessProbe.httpGet` (path, port); _pod.tpl:1533 the grafana container's readinessProbe as written",
            ("livenessProbe", "httpGet", "scheme"): "values.yaml:95 `livenessProbe.httpGet` (path, port); _pod.tpl:1529 the grafana container's livenessProbe as written",
            ("service", "port"): "values.yaml:261 `service.port: 80` (targetPort 3000 at :262); templates/service.yaml:59 the Service's port",
            ("hostAliases",): "values.yaml:299 `hostAliases: []`; _pod.tpl:17 the pod's hostAliases as written",
            ("serviceMonitor", "scheme"): "values.yaml:286 `serviceMonitor.scheme: http`; templates/servicemonitor.yaml the endpoint's scheme",
            ("serviceMonitor", "tlsConfig"): "values.yaml:287 `serviceMonitor.tlsConfig: {}`; templates/servicemonitor.yaml the endpoint's tlsConfig as written",
            ("sidecar", "dashboards", "reloadURL"): "values.yaml:1230; _pod.tpl:815 the dashboards sidecar's REQ_URL",
            ("sidecar", "dashboards", "env"): "values.yaml:1165 `env: {}`; _pod.tpl:745 each key an env var of the dashboards sidecar",
            ("sidecar", "dashboards", "extraMounts"): "values.yaml:1278 `extraMounts: []`; _pod.tpl:864 the dashboards sidecar's volumeMounts",
            ("sidecar", "datasources", "reloadURL"): "values.yaml:1351; _pod.tpl:944 the datasources sidecar's REQ_URL",
            ("sidecar", "datasources", "env"): "values.yaml:1284 `env: {}`; _pod.tpl:878 each key an env var of the datasources sidecar",
            ("sidecar", "datasources", "extraMounts"): "values.yaml:1371 `extraMounts: []`; _pod.tpl:993 the datasources sidecar's volumeMounts",
        },
    ),
}
"""Per parent chart: the subchart keys it is given beyond the parent's own defaults."""


def dependency_version(upstream_folder: str, subchart: str) -> str | None:
    """The version of `subchart` that the pinned parent chart's Chart.yaml depends on."""
    chart = yaml.safe_load((upstream() / upstream_folder / "Chart.yaml").read_text())
    return next((d["version"] for d in chart.get("dependencies") or [] if d["name"] == subchart), None)


@cache
def values_defaults(upstream_folder: str, chart: str) -> dict:
    """The chart's default values, with the subchart keys listed in SUBCHART_KEYS added below their
    subchart's key (as free-form leaves). Where the parent's defaults already leave a node free-form
    (empty map, list, null), the key is left to that."""
    defaults = copy.deepcopy(chart_defaults(upstream_folder, chart))
    listed = SUBCHART_KEYS.get(chart)
    for path in listed.keys if listed else ():
        node: Any = defaults[listed.subchart]
        added = False
        for i, key in enumerate(path):
            if not isinstance(node, dict) or (not node and not added):
                break  # the parent's defaults leave this free-form: the key needs no adding
            if key not in node:
                node[key] = None if i == len(path) - 1 else {}
                added = True
            node = node[key]
    return defaults


def _registry(repository: str, registry: Any = None) -> str:
    """The registry of an image repository (`registry` given apart, or the first part of the name
    when it has a dot or a port, else Docker Hub, as containerd reads names)."""
    if isinstance(registry, str) and registry and "{{" not in registry:
        return registry.split("/")[0]
    first, _, rest = repository.partition("/")
    return first if rest and ("." in first or ":" in first) else "docker.io"


def image_registries(values: Any) -> set[str]:
    """Registries of the images a chart's default values name: every map with a `repository`
    (and maybe a `registry`) and every `image` string."""
    found: set[str] = set()
    if isinstance(values, dict):
        repository = values.get("repository")
        if isinstance(repository, str) and repository and "{{" not in repository:
            found.add(_registry(repository, values.get("registry")))
        for key, value in values.items():
            # (beside a `repository`, an `image` string is the image's name in it: the GPU Operator's)
            if key == "image" and isinstance(value, str) and value and "{{" not in value and "repository" not in values:
                found.add(_registry(value))
            else:
                found |= image_registries(value)
    elif isinstance(values, list):
        for value in values:
            found |= image_registries(value)
    return found
