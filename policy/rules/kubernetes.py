"""Kubernetes workload and tenancy rules."""
from __future__ import annotations

import re
from typing import Any, Iterator

from hybridai import cidr
from hybridai.config.components import is_system_namespace
from hybridai.recorded import TEAM_LABEL
from hybridai.policy.rules.base import Finding, PolicyContext, Resource, kind, metadata, rule

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
GPU_PREFIX = "nvidia.com/"


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """The pod template of a workload (or the spec of a Pod)."""
    k, spec = kind(resource), resource["inputs"].get("spec") or {}
    if k == "Pod":
        return spec
    if k == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if k in WORKLOADS:
        return (spec.get("template") or {}).get("spec")
    return None


def workloads(resources: list[Resource]) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for r in resources:
        spec = pod_spec(r)
        if spec is not None:
            yield r, spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _where(r: Resource) -> str:
    m = metadata(r)
    return f"{kind(r)} {m.get('namespace', '')}/{m.get('name', '')}"


@rule("k8s-pod-security-labels", "Workload namespaces enforce the restricted Pod Security Standard (platform namespaces their documented level), with audit and warn set and versions pinned")
def pod_security_labels(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in resources:
        if kind(r) != "Namespace":
            continue
        m = metadata(r)
        labels = m.get("labels") or {}
        expected = ctx.platform_namespaces.get(m.get("name"), "restricted")
        enforce = labels.get("pod-security.kubernetes.io/enforce")
        if enforce != expected:
            yield Finding(r["urn"], f"namespace {m.get('name')} enforces Pod Security {enforce!r}, expected {expected!r}")
        for mode in ("enforce", "audit", "warn"):
            if f"pod-security.kubernetes.io/{mode}" not in labels or f"pod-security.kubernetes.io/{mode}-version" not in labels:
                yield Finding(r["urn"], f"namespace {m.get('name')} lacks the pinned pod-security {mode} label")


@rule("k8s-privileged-only-in-operator-namespace", "Privileged containers, host namespaces and added capabilities only in the GPU Operator's namespace")
def privileged(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r, spec in workloads(resources):
        if metadata(r).get("namespace") == ctx.operator_namespace:
            continue
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(host):
                yield Finding(r["urn"], f"{_where(r)} uses {host} outside {ctx.operator_namespace}")
        for c in containers(spec):
            sc = c.get("securityContext") or {}
            if sc.get("privileged"):
                yield Finding(r["urn"], f"{_where(r)} container {c.get('name')} is privileged outside {ctx.operator_namespace}")
            if (sc.get("capabilities") or {}).get("add"):
                yield Finding(r["urn"], f"{_where(r)} container {c.get('name')} adds capabilities {sc['capabilities']['add']}")


@rule("k8s-requests-and-limits", "Every container requests and limits CPU and memory; GPU requests equal GPU limits")
def requests_limits(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r, spec in workloads(resources):
        for c in containers(spec):
            res = c.get("resources") or {}
            requests, limits = res.get("requests") or {}, res.get("limits") or {}
            for resource in ("cpu", "memory"):
                if resource not in requests or resource not in limits:
                    yield Finding(r["urn"], f"{_where(r)} container {c.get('name')} lacks a {resource} request or limit")
            for name in {k for k in (*requests, *limits) if k.startswith(GPU_PREFIX)}:
                if str(requests.get(name)) != str(limits.get(name)):
                    yield Finding(r["urn"], f"{_where(r)} container {c.get('name')}: {name} request {requests.get(name)} differs from limit {limits.get(name)}")


def _uses_gpu(spec: dict[str, Any]) -> bool:
    return any(k.startswith(GPU_PREFIX) for c in containers(spec) for part in ("requests", "limits") for k in ((c.get("resources") or {}).get(part) or {}))


@rule("k8s-gpu-pods-tolerate-gpu-taint", "Pods that request GPUs tolerate the nvidia.com/gpu taint")
def gpu_toleration(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r, spec in workloads(resources):
        if _uses_gpu(spec) and not any(t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations") or []):
            yield Finding(r["urn"], f"{_where(r)} requests GPUs but doesn't tolerate the nvidia.com/gpu taint")


@rule("k8s-probes", "Long-running containers have liveness and readiness probes (node agents in privileged platform namespaces excepted)")
def probes(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r, spec in workloads(resources):
        # Node agents such as device plugins talk to the kubelet over a socket and expose no
        # endpoint to probe; they run only in the privileged platform namespace.
        if kind(r) not in LONG_RUNNING or ctx.platform_namespaces.get(metadata(r).get("namespace")) == "privileged":
            continue
        for c in spec.get("containers") or []:
            missing = [p for p in ("livenessProbe", "readinessProbe") if p not in c]
            if missing:
                yield Finding(r["urn"], f"{_where(r)} container {c.get('name')} has no {' or '.join(missing)}")


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
"""An image reference pinned by a whole digest (a truncated `@sha256:abc` pins nothing)."""


@rule("k8s-images-pinned", "Images are pinned by digest or come from the stack's allowed registries")
def images(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r, spec in workloads(resources):
        for c in containers(spec):
            image = c.get("image", "")
            if DIGEST.search(image):
                continue
            registry = image.split("/", 1)[0] if "/" in image and ("." in image.split("/", 1)[0] or ":" in image.split("/", 1)[0]) else "docker.io"
            if registry not in ctx.allowed_registries:
                yield Finding(r["urn"], f"{_where(r)} image {image!r} is neither pinned by digest nor from an allowed registry ({', '.join(ctx.allowed_registries) or 'none'})")


def _secret_env(container: dict[str, Any]) -> Iterator[str]:
    """What of a container's environment comes from a Secret: `env` entries and `envFrom` sources."""
    for e in container.get("env") or []:
        if "secretKeyRef" in (e.get("valueFrom") or {}):
            yield f"env {e.get('name')}"
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            yield f"envFrom Secret {source['secretRef'].get('name')}"


@rule(
    "k8s-credentials-as-files",
    "Workloads the stack writes as objects read credentials from mounted files, not environment variables from Secrets "
    "(which `kubectl describe`, crash dumps and child processes see, and which a rotated key doesn't reach)",
)
def credentials_as_files(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r, spec in workloads(resources):
        for c in containers(spec):
            for what in _secret_env(c):
                yield Finding(r["urn"], f"{_where(r)} container {c.get('name')} reads a credential from its environment ({what}): mount the Secret as files instead")


@rule("k8s-no-system-namespaces", "Nothing is deployed to, and no namespace object manages, Kubernetes' own namespaces (default, kube-*)")
def no_system_namespaces(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in resources:
        m = metadata(r)
        if kind(r) == "Namespace" and is_system_namespace(m.get("name") or ""):
            yield Finding(r["urn"], f"the stack manages Kubernetes' own namespace {m.get('name')}")
        elif kind(r) and is_system_namespace(m.get("namespace") or "-"):
            yield Finding(r["urn"], f"{kind(r)} {m.get('name')} is in Kubernetes' own namespace {m.get('namespace')}")


@rule("net-allow-lists-narrow", "Network allow-lists (EKS endpoint, NetworkPolicy ipBlocks) open at most a /8's worth of public addresses together, unless the stack gives a reason")
def narrow_allow_lists(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.wide_networks_allowed:
        return
    for r in resources:
        if r["type"] == "aws:eks/cluster:Cluster":
            vpc = r["inputs"].get("vpcConfig") or {}
            lists = [("its public endpoint", vpc.get("publicAccessCidrs") or [])] if vpc.get("endpointPublicAccess") else []
        elif kind(r) == "NetworkPolicy":
            rules = (r["inputs"].get("spec") or {}).get("ingress") or []
            lists = [(f"ingress rule {i}", [p["ipBlock"]["cidr"] for p in item.get("from") or [] if "ipBlock" in p]) for i, item in enumerate(rules)]
        else:
            continue
        for what, entries in lists:
            for why in cidr.check_allow_list(entries)[1]:
                yield Finding(r["urn"], f"{r['name']}: {what} allows {', '.join(entries)}: {why}")


@rule("k8s-no-rbac-wildcards", "RBAC rules name their API groups, resources and verbs: no wildcards")
def rbac_wildcards(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in resources:
        if kind(r) in ("Role", "ClusterRole"):
            for i, item in enumerate(r["inputs"].get("rules") or []):
                for field in ("apiGroups", "resources", "verbs"):
                    if "*" in (item.get(field) or []):
                        yield Finding(r["urn"], f"{kind(r)} {metadata(r).get('name')} rule {i} has a wildcard in {field}")


@rule("k8s-namespaces-have-network-policies", "Every namespace the stack creates has a NetworkPolicy")
def network_policies(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    covered = {(r["target"], metadata(r).get("namespace")) for r in resources if kind(r) == "NetworkPolicy"}
    for r in resources:
        if kind(r) == "Namespace" and (r["target"], metadata(r).get("name")) not in covered:
            yield Finding(r["urn"], f"namespace {metadata(r).get('name')} has no NetworkPolicy")


@rule("k8s-tenant-namespaces-have-quotas", "Every tenant namespace has a ResourceQuota")
def tenant_quotas(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    quotas = {(r["target"], metadata(r).get("namespace")) for r in resources if kind(r) == "ResourceQuota"}
    for r in resources:
        m = metadata(r)
        if kind(r) == "Namespace" and TEAM_LABEL in (m.get("labels") or {}) and (r["target"], m.get("name")) not in quotas:
            yield Finding(r["urn"], f"tenant namespace {m.get('name')} has no ResourceQuota")
