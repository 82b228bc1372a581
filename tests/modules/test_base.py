"""What every module shares: the one restricted securityContext (every pod the program writes itself
into a restricted namespace passes Pod Security `restricted` with it); every args field documented
where it is declared; the on-prem object store's bucket and key named alike by every module keeping
data there."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridai.modules.base import RESTRICTED_CONTAINER, RESTRICTED_POD, Args, StoreBucketArgs
from hybridai.modules.logging import ArchiveArgs
from tests.conftest import ROOT, planned
from tests.helpers import of_kind, prepared

MODULES = sorted(p.stem for p in (ROOT / "modules").glob("*.py") if p.stem != "__init__")


def undocumented(module: str) -> list[str]:
    """`<Args class>.<field>` of each field declared in `module` without a docstring under it."""
    loaded = importlib.import_module(f"hybridai.modules.{module}")
    missing = []
    for node in ast.parse(Path(loaded.__file__).read_text()).body:
        declared = getattr(loaded, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not (isinstance(declared, type) and issubclass(declared, Args)):
            continue
        for field, after in zip(node.body, [*node.body[1:], None]):
            if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and field.target.id in declared.model_fields:
                documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)
                if not documented:
                    missing.append(f"{node.name}.{field.target.id}")
    return missing


@pytest.mark.parametrize("module", MODULES)
def test_every_args_field_says_what_it_is_and_why_its_default(module: str) -> None:
    # GIVEN a module's args classes THEN every field they declare has its docstring
    assert undocumented(module) == []


def test_a_component_names_the_stacks_store_bucket_and_key_as_the_stack_does() -> None:
    # GIVEN finance-prod's audit archive WHEN a module's args name it
    spec, _ = prepared("finance-prod")
    archive = spec.logging.audit_archive
    args = ArchiveArgs.of(archive)
    # THEN the endpoint, bucket, region and both keys are the stack's, besides the module's own fields
    assert isinstance(args, StoreBucketArgs)
    assert (args.endpoint, args.bucket, args.region, args.access_key_id, args.secret_access_key) == (
        archive.endpoint, archive.bucket, archive.region, archive.access_key_id, archive.secret_access_key
    )
    assert (args.lock_mode, args.lock_days) == (archive.object_lock.mode, archive.object_lock.retention_days)


SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def restricted_refuses(pod: dict[str, Any]) -> list[str]:
    """What Pod Security `restricted` refuses in a pod spec's security contexts (Kubernetes' Pod
    Security Standards: privilege escalation, running as non-root, seccomp, capabilities; and
    baseline's privileged containers). A container's setting overrides its pod's."""
    context = pod.get("securityContext") or {}
    refused = []
    for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        own = c.get("securityContext") or {}
        name = c.get("name")
        if own.get("privileged"):
            refused.append(f"{name}: privileged")
        if own.get("allowPrivilegeEscalation") is not False:
            refused.append(f"{name}: allowPrivilegeEscalation not false")
        if own.get("runAsNonRoot", context.get("runAsNonRoot")) is not True:
            refused.append(f"{name}: runAsNonRoot not true")
        if own.get("runAsUser", context.get("runAsUser")) == 0:
            refused.append(f"{name}: runAsUser 0")
        if (own.get("seccompProfile") or context.get("seccompProfile") or {}).get("type") not in SECCOMP_TYPES:
            refused.append(f"{name}: no RuntimeDefault or Localhost seccomp profile")
        capabilities = own.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []) or set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            refused.append(f"{name}: capabilities not dropped")
    return refused


def test_the_shared_contexts_are_exactly_what_restricted_demands() -> None:
    # GIVEN a pod with the shared pod-level and container-level contexts, THEN restricted admits it
    assert restricted_refuses({"securityContext": RESTRICTED_POD, "containers": [{"name": "app", "securityContext": RESTRICTED_CONTAINER}]}) == []
    # AND without any one of their settings it is refused: none is there for nothing
    for key in RESTRICTED_POD:
        pod = {k: v for k, v in RESTRICTED_POD.items() if k != key}
        assert restricted_refuses({"securityContext": pod, "containers": [{"name": "app", "securityContext": RESTRICTED_CONTAINER}]}) != [], key
    for key in RESTRICTED_CONTAINER:
        container = {k: v for k, v in RESTRICTED_CONTAINER.items() if k != key}
        assert restricted_refuses({"securityContext": RESTRICTED_POD, "containers": [{"name": "app", "securityContext": container}]}) != [], key


def pods(resources: list) -> list[tuple[str, dict[str, Any]]]:  # noqa: ANN001 - recorded resources
    """Every pod spec the program writes itself (charts' pods aside), with where it is: workloads'
    templates, the JobSet a WorkflowTemplate creates, and each step of the workflow as Argo runs it
    (the workflow's pod context, the step's container)."""
    found = []
    for r in resources:
        meta, spec, kind = r.inputs.get("metadata") or {}, r.inputs.get("spec") or {}, r.inputs.get("kind")
        where = f"{r.target} {kind} {meta.get('namespace')}/{meta.get('name')}"
        if kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
            found.append((where, spec["template"]["spec"]))
        elif kind == "CronJob":
            found.append((where, spec["jobTemplate"]["spec"]["template"]["spec"]))
        elif kind == "WorkflowTemplate":
            for step in spec["templates"]:
                container = step.get("script") or step.get("container")
                if container:
                    found.append((f"{where} step {step['name']}", {"securityContext": spec["securityContext"], "containers": [{"name": step["name"], **container}]}))
                if "resource" in step:
                    jobset = yaml.safe_load(step["resource"]["manifest"])
                    for job in jobset["spec"]["replicatedJobs"]:
                        found.append((f"{where} JobSet {job['name']}", job["template"]["spec"]["template"]["spec"]))
    return found


@pytest.mark.parametrize("stack", ["healthcare-prod", "finance-prod", "manufacturing-prod"])
def test_every_pod_written_into_a_restricted_namespace_passes_restricted(stack: str) -> None:
    # GIVEN an example stack's plan and the namespaces that enforce restricted on each cluster
    resources = planned(stack)[0].resources
    restricted = {(r.target, r.inputs["metadata"]["name"]) for r in of_kind(resources, "Namespace") if r.inputs["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"}
    written = [(where, pod) for where, pod in pods(resources) if (where.split()[0], where.split()[2].split("/")[0]) in restricted]
    # THEN there are such pods (the archive check, edge sites' Triton and model sync, each training
    # workflow's steps and JobSet), and restricted admits every one of them
    assert written, "no pod in a restricted namespace: the walk is broken"
    assert {where: refused for where, pod in written if (refused := restricted_refuses(pod))} == {}
