"""Target: one cluster a stack deploys to, its Kubernetes provider and its placement."""
from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes as k8s
from pydantic import field_validator

from modules.base import Args

PLACEMENT = re.compile(r"^(cloud|onprem|edge:[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")


class TargetArgs(Args):
    placement: str
    """Where the cluster runs: `cloud`, `onprem` or `edge:<site>`."""
    context: str
    """kubeconfig context of the cluster; explicit, so a stack never deploys to the current context."""
    kubeconfig: str | None = None
    """kubeconfig file path or contents; default: `$KUBECONFIG` or `~/.kube/config`."""

    @field_validator("placement")
    @classmethod
    def _placement(cls, value: str) -> str:
        if not PLACEMENT.match(value):
            raise ValueError(f"placement must be cloud, onprem or edge:<site>, not {value!r}")
        return value


class Target(pulumi.ComponentResource):
    """A cluster and how to reach it. Modules for the cluster are parented to it and use `provider`.

    The placement and target name are the component's inputs, so anything that reads the resource
    graph (the offline plan, policy rules) can tell where each resource lands without knowing the
    blueprint that built it.
    """

    provider: k8s.Provider

    def __init__(self, prefix: str, name: str, args: TargetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-ai:target:Target", f"{prefix}-{name}", {"target": name, "placement": args.placement}, opts)
        self.target = name
        self.placement = args.placement
        self.prefix = f"{prefix}-{name}"
        self.provider = k8s.Provider(
            f"{self.prefix}-k8s",
            context=args.context,
            kubeconfig=args.kubeconfig,
            # Server-side apply: the API server merges fields and reports conflicts with other
            # managers (operators, kubectl) instead of Pulumi silently overwriting them.
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"target": name, "placement": args.placement})
