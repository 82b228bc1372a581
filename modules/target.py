"""Target: one place a stack deploys to — a cluster or a cloud account — with its provider and placement."""
from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import ConfigDict, field_validator

from hybridai.modules.base import Args, Module, options

PLACEMENT = re.compile(r"^(cloud|onprem|edge:[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")
TYPE = "hybrid-ai:target:Target"


class _Placed(Args):
    placement: str
    """Where it runs: `cloud`, `onprem` or `edge:<site>`."""

    @field_validator("placement")
    @classmethod
    def _placement(cls, value: str) -> str:
        if not PLACEMENT.match(value):
            raise ValueError(f"placement must be cloud, onprem or edge:<site>, not {value!r}")
        return value


class TargetArgs(_Placed):
    """A Kubernetes cluster."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    context: str | None = None
    """kubeconfig context of the cluster. Required unless `kubeconfig` is generated for this one
    cluster: a stack never deploys to whatever context is current."""
    kubeconfig: Any = None
    """kubeconfig file path or contents (a string or an Output of one); default: `$KUBECONFIG` or `~/.kube/config`."""
    render_to: str | None = None
    """GitOps delivery: the provider writes manifests to this folder instead of applying them, and
    Helm charts become Argo CD Applications (a cluster CI can't reach pulls them itself)."""
    renamed_from: str | None = None
    """The target's previous name: everything under it keeps its identity through a Pulumi alias
    (children named `<target>-…` follow by the engine's inherited aliases)."""

    @field_validator("context")
    @classmethod
    def _context(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("context must not be empty")
        return value


class AwsTargetArgs(_Placed):
    """An AWS account and region."""

    placement: str = "cloud"
    region: str
    account_id: str
    """The only account the provider may touch (`allowedAccountIds`): wrong credentials fail fast."""
    tags: dict[str, str] = {}
    """Tags on every resource (cost allocation, ownership)."""


def replace_first(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """Every AWS resource hybrid-ai makes has a name fixed by the stack prefix or an identity AWS
    keeps unique (a role's name, one Pod Identity association per service account, a subnet's
    CIDR): Pulumi's default create-then-delete replacement would fail with "already exists", so a
    replacement deletes the old one first. Protected resources are left alone: replacing what
    holds data must fail loudly, not delete it."""
    if not args.type_.startswith("aws:") or args.opts.protect:
        return None
    return pulumi.ResourceTransformationResult(args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(delete_before_replace=True)))


class Target(Module):
    """A place resources are deployed to and the provider that reaches it. Modules for it are
    parented to it and use `provider`.

    The placement and target name are the component's inputs, so anything that reads the resource
    graph (the offline plan, policy rules) can tell where each resource lands without knowing the
    blueprint that built it.
    """

    provider: pulumi.ProviderResource

    def __init__(self, prefix: str, name: str, args: TargetArgs | AwsTargetArgs, opts: pulumi.ResourceOptions | None = None):
        gitops = isinstance(args, TargetArgs) and args.render_to is not None
        if isinstance(args, AwsTargetArgs):
            # Reaches every resource under this target (transformations pass down to children).
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=[replace_first]))
        renamed_from = args.renamed_from if isinstance(args, TargetArgs) else None
        if renamed_from:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{prefix}-{renamed_from}")]))
        super().__init__(TYPE, f"{prefix}-{name}", {"target": name, "placement": args.placement, "delivery": "gitops" if gitops else "push"}, opts)
        self.target = name
        self.placement = args.placement
        self.gitops = gitops
        self.prefix = f"{prefix}-{name}"
        child = options(self)
        if isinstance(args, AwsTargetArgs):
            self.provider = aws.Provider(
                f"{self.prefix}-aws",
                region=args.region,
                allowed_account_ids=[args.account_id],
                default_tags={"tags": args.tags},
                opts=child,
            )
        else:
            if args.context is None and args.kubeconfig is None and not gitops:
                raise pulumi.RunError(f"{self.prefix}: target {name}: name a kubeconfig context (or pass a kubeconfig for this cluster alone)")
            self.provider = k8s.Provider(
                f"{self.prefix}-k8s",
                context=None if gitops else args.context,
                kubeconfig=None if gitops else args.kubeconfig,
                render_yaml_to_directory=args.render_to,
                # Server-side apply: the API server merges fields and reports conflicts with other
                # managers (operators, kubectl) instead of Pulumi silently overwriting them.
                enable_server_side_apply=True,
                opts=child,
            )
        self.register_outputs({"target": name, "placement": args.placement})
