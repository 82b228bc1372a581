"""Target: one place a stack deploys to — a cluster or a cloud account — with its provider and placement."""
from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import ConfigDict, field_validator

from hybridai.config.cloud import CloudPool
from hybridai.config.components import OnpremCluster
from hybridai.config.edge import EdgeSite
from hybridai.modules.base import Args, Module, options
from hybridai.recorded import COST_CENTER_LABEL, ENVIRONMENT_LABEL, TEAM_LABEL

PLACEMENT = re.compile(r"^(cloud|onprem|edge:[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")
TYPE = "hybrid-ai:target:Target"


class _Placed(Args):
    placement: str
    """Where it runs: `cloud`, `onprem` or `edge:<site>` — what the plan, cost and policy group
    every resource under the target by."""

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
    """kubeconfig file path or contents (a string or an Output of one); default: `$KUBECONFIG` or
    `~/.kube/config`, as kubectl reads it."""
    render_to: str | None = None
    """GitOps delivery: the provider writes manifests to this folder instead of applying them, and
    Helm charts become Argo CD Applications (a cluster CI can't reach pulls them itself). Default:
    None, push delivery."""
    renamed_from: str | None = None
    """The target's previous name: everything under it keeps its identity through a Pulumi alias
    (children named `<target>-…` follow by the engine's inherited aliases). Default: None, never renamed."""

    @field_validator("context")
    @classmethod
    def _context(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("context must not be empty")
        return value

    @classmethod
    def of(cls, cluster: OnpremCluster) -> TargetArgs:
        """A data-center cluster, reached through its kubeconfig context."""
        return cls(placement="onprem", context=cluster.context, kubeconfig=cluster.kubeconfig, renamed_from=cluster.renamed_from)

    @classmethod
    def of_site(cls, site: EdgeSite, bootstrap: bool = False) -> TargetArgs:
        """An edge site, pushed to or (GitOps delivery) rendered into `gitops/<site>`; `bootstrap`:
        the one push that installs a GitOps site's Argo CD, a target of its own beside the rendered one."""
        renamed_from = f"{site.renamed_from}-bootstrap" if bootstrap and site.renamed_from else site.renamed_from
        render_to = f"gitops/{site.name}" if site.delivery == "gitops" and not bootstrap else None
        return cls(placement=site.placement, context=site.context, render_to=render_to, renamed_from=renamed_from)


class AwsScope(_Placed):
    """An AWS account and region with the stack's burst pool in it: the scope every AWS module of a
    stack works in. Made once per stack; its target's provider is for it, and every AWS module's
    args carry it, so names, ARNs and tags agree across them."""

    placement: str = "cloud"
    """Always `cloud`: the account is where the burst pool runs."""
    prefix: str
    """Stack prefix: every physical AWS name starts with it, so two stacks in one account never collide."""
    cluster: str
    """Target name of the stack's EKS cluster: the pool's AWS names are `<prefix>-<cluster>-…`."""
    region: str
    """The pool's region: the provider's, and the one in every regional ARN the modules write."""
    account_id: str
    """The only account the provider may touch (`allowedAccountIds`): wrong credentials fail fast."""
    tags: dict[str, str] = {}
    """Tags on every resource (cost allocation, ownership), through the provider's default tags.
    Default: none (a test's scope); `of()` gives the stack's."""

    @property
    def cluster_name(self) -> str:
        """`<prefix>-<cluster>`: the EKS cluster's name in AWS, and the stem of every AWS name of the pool."""
        return f"{self.prefix}-{self.cluster}"

    @classmethod
    def of(cls, cloud: CloudPool, prefix: str, environment: str, cost_center: str) -> AwsScope:
        """The stack's pool account, tagged for cost allocation (stack, environment, cost center)
        and ownership (the platform team, hybrid-ai)."""
        tags = {
            "hybrid-ai.io/stack": prefix,
            ENVIRONMENT_LABEL: environment,
            COST_CENTER_LABEL: cost_center,
            TEAM_LABEL: "platform",
            "hybrid-ai.io/managed-by": "hybrid-ai",
        }
        return cls(prefix=prefix, cluster=cloud.cluster.name, region=cloud.region, account_id=cloud.account_id, tags=tags)


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
    scope: AwsScope | None
    """An AWS target's account and region, which the AWS modules under it are given; None for a cluster."""

    def __init__(self, prefix: str, name: str, args: TargetArgs | AwsScope, opts: pulumi.ResourceOptions | None = None):
        gitops = isinstance(args, TargetArgs) and args.render_to is not None
        if isinstance(args, AwsScope):
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
        self.scope = args if isinstance(args, AwsScope) else None
        child = options(self)
        if isinstance(args, AwsScope):
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
