"""GitOpsBootstrap: Argo CD and the root Application of a site that pulls its manifests."""
from __future__ import annotations

import pulumi

from hybridai.config.edge import EdgeSite
from hybridai.recorded import component_type
from hybridai.modules.base import ARGOCD_NAMESPACE, Args, Module, argo_application, child, pinned_release, placed, platform_namespace, pod_security
from hybridai.modules.target import Target


class GitOpsBootstrapArgs(Args):
    repo_url: str
    """Git repository the site's Argo CD pulls (its credentials in Argo CD's repository Secret)."""
    revision: str
    """Branch or tag it follows."""
    path: str
    """The site's folder in the repository: the root Application syncs it."""

    @classmethod
    def of(cls, site: EdgeSite) -> GitOpsBootstrapArgs:
        """The root Application of a GitOps site, on its folder (default: `sites/<site>`)."""
        return cls(repo_url=site.gitops.repo_url, revision=site.gitops.revision, path=site.gitops_path)


class GitOpsBootstrap(Module):
    """One push, while the site is reachable: Argo CD (pinned chart) and the root Application that
    from then on keeps the site in sync with its folder of the GitOps repository. Everything here is
    retained on delete, so turning the bootstrap off leaves the site's engine running."""

    def __init__(self, target: Target, args: GitOpsBootstrapArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-gitops"
        super().__init__(component_type("edge_site", "GitOpsBootstrap"), name, None, placed(target, opts))
        provider = target.provider
        keep = {"retain_on_delete": True}
        namespace = platform_namespace(f"{name}-ns", ARGOCD_NAMESPACE, pod_security("baseline", "restricted"), [], self, provider, **keep)
        engine = pinned_release(f"{name}-argo-cd", "argo-cd", ARGOCD_NAMESPACE, {"crds": {"install": True, "keep": True}, "dex": {"enabled": False}}, child(self, provider, depends_on=[namespace], **keep))
        argo_application(
            f"{name}-root",
            "site",
            "default",
            {"repoURL": args.repo_url, "targetRevision": args.revision, "path": args.path, "directory": {"recurse": True}},
            child(self, provider, depends_on=[engine], **keep),
        )
        self.register_outputs({})
