"""GitOpsBootstrap's args: the root Application of a GitOps site, on its folder of the repository."""
from __future__ import annotations

from hybridai.modules.gitops_bootstrap import GitOpsBootstrapArgs
from tests.helpers import prepared


def test_the_root_application_follows_the_sites_folder_of_the_repository() -> None:
    # GIVEN manufacturing-prod's GitOps site line-3 (no `gitops.path`, following `main`)
    spec, _ = prepared("manufacturing-prod")
    line3 = next(s for s in spec.sites if s.name == "line-3")
    # WHEN its bootstrap's args are made, and with a folder of its own
    args = GitOpsBootstrapArgs.of(line3)
    moved = GitOpsBootstrapArgs.of(line3.model_copy(update={"gitops": line3.gitops.model_copy(update={"path": "plants/a/line-3"})}))
    # THEN Argo CD syncs `sites/<site>` of the repository at `main`, or the folder the stack names
    assert (args.repo_url, args.revision, args.path) == ("https://git.plant-a.example/platform/edge-sites.git", "main", "sites/line-3")
    assert moved.path == "plants/a/line-3"
