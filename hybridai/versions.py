"""Every version hybrid-ai pins, and where each is used: the map for an upgrade.

Pins live in data (hybridai/data/versions.yaml: charts and images; aws.yaml: the EKS version and
node AMI; the Pod Security version) and in the installed provider SDKs (each registers its resources
with its own plugin version). Where a pin is used is read from plans of the project's stacks, so
the answer is what the program really deploys, not what the code seems to say.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Iterable

from hybridai import catalog
from hybridai.plan.engine import Plan
from hybridai.recorded import release_of

PROVIDER_PACKAGES = {"aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes"}


@dataclass
class Pin:
    kind: str
    """`chart`, `image`, `provider`, `kubernetes` or `aws`."""
    name: str
    version: str
    source: str
    """Where it comes from: a chart repository, an image registry, a package, a data file."""
    where: str
    """The file that pins it (edit it to upgrade)."""
    used_by: set[str] = field(default_factory=set)
    """`stack/target` pairs that deploy it."""


def pins() -> list[Pin]:
    out = [
        Pin("chart", name, pin.version, f"{pin.repository} ({pin.chart})", "hybridai/data/versions.yaml")
        for name, pin in sorted(catalog.versions().charts.items())
    ]
    for name, ref in sorted(catalog.versions().images.items()):
        image, _, tag = ref.rpartition(":")
        out.append(Pin("image", name, tag, image, "hybridai/data/versions.yaml"))
    out.append(Pin("kubernetes", "pod-security", catalog.versions().kubernetes.pod_security_version, "Pod Security Standards labels", "hybridai/data/versions.yaml"))
    out.append(Pin("aws", "eks", catalog.aws().eks.version, "Kubernetes version of new EKS clusters", "hybridai/data/aws.yaml"))
    out.append(Pin("aws", "node-ami", catalog.aws().eks.ami_alias, "EKS-optimized AL2023 release of GPU nodes", "hybridai/data/aws.yaml"))
    for provider, package in PROVIDER_PACKAGES.items():
        out.append(Pin("provider", provider, metadata.version(package.replace("_", "-")), f"Pulumi {provider} provider plugin", "pyproject.toml"))
    return out


def with_usage(plans: Iterable[Plan]) -> list[Pin]:
    """The pins, each with the stacks and targets whose plans deploy it."""
    table = pins()
    charts = {p.name: p for p in table if p.kind == "chart"}
    images = {p.source + ":" + p.version: p for p in table if p.kind == "image"}
    providers = {p.name: p for p in table if p.kind == "provider"}
    pod_security = next(p for p in table if p.name == "pod-security")
    eks = {p.name: p for p in table if p.kind == "aws"}
    for plan in plans:
        for r in plan.resources:
            where = f"{plan.stack}/{r.target}"
            release = release_of(r.type, r.inputs)
            if release is not None and release[0] in charts:
                charts[release[0]].used_by.add(where)
            text = repr(r.inputs)
            for ref, pin in images.items():
                # The whole reference, through a mirror or not, with or without a digest; or as
                # a chart's `image: {repository, tag}` values, or its `{image, tag}` (KServe's runtimes).
                split = f"'repository': '{pin.source}', 'tag': '{pin.version}'"
                flat = f"'image': '{pin.source}', 'tag': '{pin.version}'"
                if re.search(re.escape(ref) + r"(?=['\"@])", text) or split in text or flat in text:
                    pin.used_by.add(where)
            package = r.type.split(":", 1)[0]
            if r.version and package in providers:
                providers[package].used_by.add(where)
            labels = ((r.inputs.get("metadata") or {}) if isinstance(r.inputs.get("metadata"), dict) else {}).get("labels") or {}
            if "pod-security.kubernetes.io/enforce-version" in labels:
                pod_security.used_by.add(where)
            if r.type == "aws:eks/cluster:Cluster" and r.inputs.get("version") == eks["eks"].version:
                eks["eks"].used_by.add(where)
            if r.type == "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass" and {"alias": eks["node-ami"].version} in (r.inputs.get("spec") or {}).get("amiSelectorTerms", []):
                eks["node-ami"].used_by.add(where)
    return table
