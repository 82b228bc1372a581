"""Write a plan's artifacts: resources.json, one manifest per Kubernetes object, one file per Helm release.

Everything is canonical (sorted keys, fixed formatting, no timestamps), so two plans of the same
stack are byte-identical and a diff between two plans shows exactly what changed.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime import rpc

from hybridai.cost import estimate
from hybridai.plan import review
from hybridai.plan.engine import Plan, PlanError
from hybridai.recorded import TARGET_TYPE, Resource

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "[secret: redacted by hybridai plan]"
# Inputs the provider uses itself; the API server never receives them.
_PROVIDER_ONLY = {"compat"}


def clean(value: Any) -> Any:
    """Plain JSON-able data: secrets redacted, integral floats back to ints (the wire format has
    only doubles), dict keys sorted."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: clean(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_manifest(resource: Resource) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:") and resource.type != HELM_RELEASE


def manifest(resource: Resource, cleaned: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object as the API server receives it: apiVersion, kind, metadata first."""
    inputs = cleaned if cleaned is not None else clean(resource.inputs)
    body = {k: v for k, v in inputs.items() if k not in _PROVIDER_ONLY}
    head = {k: body.pop(k) for k in ("apiVersion", "kind", "metadata") if k in body}
    return {**head, **body}


def manifest_path(resource: Resource, obj: dict[str, Any]) -> Path:
    metadata = obj.get("metadata") or {}
    if "name" not in metadata:
        raise PlanError(f"{resource.urn}: Kubernetes object without metadata.name (auto-named objects change name on every deploy)")
    return Path("manifests") / resource.target / (metadata.get("namespace") or "_cluster") / f"{obj['kind']}-{metadata['name']}.yaml"


def helm_release(resource: Resource, cleaned: dict[str, Any] | None = None) -> dict[str, Any]:
    inputs = cleaned if cleaned is not None else clean(resource.inputs)
    chart, repository = inputs.get("chart"), (inputs.get("repositoryOpts") or {}).get("repo")
    if chart and chart.startswith("oci://"):
        repository, chart = chart.rsplit("/", 1)
    return {
        "release": inputs.get("name"),
        "chart": chart,
        "repository": repository,
        "version": inputs.get("version"),
        "namespace": inputs.get("namespace"),
        "values": inputs.get("values") or {},
    }


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml's emitter when PyYAML has it: ~5x faster
    """Block style, multi-line strings as literal blocks (ConfigMap payloads stay readable)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def records(plan: Plan) -> list[dict[str, Any]]:
    """The resources as resources.json holds them: what the cost model and policy rules read."""
    return [{**r.record(), "inputs": clean(r.inputs)} for r in plan.resources]


def render(plan: Plan, base: Path | None = None) -> dict[Path, str]:
    """Every artifact of the plan, path → content, before anything touches the disk. With `base`
    (an earlier plan's folder), summary.md also shows the change against it."""
    files: dict[Path, str] = {}
    recorded = records(plan)
    document = {"stack": plan.stack, "blueprint": plan.blueprint, "resources": recorded}
    files[Path("resources.json")] = json.dumps(document, indent=2, sort_keys=False) + "\n"
    estimate_, policy = None, None
    if plan.spec is not None:
        estimate_ = estimate(recorded, plan.spec.cost, plan.capacity.cloud_training_hours)
        policy = review.policy_report(plan, recorded, estimate_)
        files[Path("cost.json")] = json.dumps(estimate_, indent=2) + "\n"
        files[Path("policy.json")] = json.dumps(policy, indent=2) + "\n"
        files[Path("policy-config.json")] = json.dumps(review.crossguard_config(plan, estimate_), indent=2) + "\n"
        change = review.compare(recorded, estimate_, base) if base else None
        files[Path("summary.md")] = review.summary(plan, recorded, estimate_, policy, change)
    owners: dict[Path, str] = {}
    # GitOps targets: their manifests again under gitops/<target>/, the folder to commit for the
    # site's Argo CD (under `pulumi up` the provider renders the same objects there).
    gitops = {r.inputs["target"] for r in plan.resources if r.type == TARGET_TYPE and r.inputs.get("delivery") == "gitops"}
    for resource, record in zip(plan.resources, recorded):
        if resource.type == HELM_RELEASE:
            release = helm_release(resource, record["inputs"])
            path = Path("helm") / resource.target / f"{release['release']}.yaml"
        elif is_manifest(resource):
            release = manifest(resource, record["inputs"])
            path = manifest_path(resource, release)
        else:
            continue
        if path in owners:
            raise PlanError(f"{owners[path]} and {resource.urn} both write {path}: two resources would fight over one object")
        owners[path] = resource.urn
        files[path] = to_yaml(release)
        if resource.target in gitops and path.parts[0] == "manifests":
            files[Path("gitops", *path.parts[1:])] = files[path]
    return files


def write(plan: Plan, out: Path, base: Path | None = None) -> dict[Path, str]:
    """Replace `out` with the plan's artifacts. Only a directory that is empty or holds an earlier
    plan is replaced, so a mistyped --out can't wipe unrelated files."""
    files = render(plan, base)
    if out.exists() and any(out.iterdir()) and not (out / "resources.json").exists():
        raise PlanError(f"{out} is not empty and holds no earlier plan; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for path, content in files.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_text(content)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return files


def counts(plan: Plan) -> Counter[tuple[str, str]]:
    """Resources by (placement, kind): Kubernetes kind, or the type's last segment."""
    tally: Counter[tuple[str, str]] = Counter()
    for r in plan.resources:
        # Kubernetes objects by kind, everything else by its full type token (unambiguous).
        kind = r.inputs.get("kind") if is_manifest(r) else r.type
        tally[(r.placement, str(kind))] += 1
    return tally
