"""mirror/<site>/: containerd's registry mirror settings per edge site, and how to put them in place."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from hybridai import catalog, registry_mirror
from hybridai.recorded import deployed_charts
from tests.conftest import EXAMPLE_STACKS, planned


def images(value: Any) -> Iterator[str]:
    """Every image reference in recorded inputs: `image` strings, and `{registry?, repository}` maps."""
    if isinstance(value, dict):
        repository = value.get("repository")
        if isinstance(repository, str) and repository:
            registry = value.get("registry")
            yield f"{registry}/{repository}" if isinstance(registry, str) and registry else repository
        for key, item in value.items():
            if key == "image" and isinstance(item, str):
                yield item
            else:
                yield from images(item)
    elif isinstance(value, list):
        for item in value:
            yield from images(item)


def registry_of(image: str) -> str:
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first) else "docker.io"


def mirrored(files: dict[Path, str], site: str) -> set[str]:
    """The registries a site's files send through its mirror, read back from the files."""
    folder = Path(registry_mirror.FOLDER, site)
    if folder / "registries.yaml" in files:
        return set(yaml.safe_load(files[folder / "registries.yaml"])["mirrors"])
    return {p.parts[3] for p in files if p.parts[:3] == (*folder.parts, "certs.d")}


def test_every_image_of_an_edge_site_comes_through_its_mirror() -> None:
    # GIVEN manufacturing-prod (k3s, RKE2 and Jetson sites; a GitOps site) WHEN planned
    plan, files = planned("manufacturing-prod")
    for site in plan.spec.edge_sites():
        # THEN every image the site's recorded objects and chart values name is either at the
        # site's mirror already (its own workloads) or from a registry its settings mirror
        placement = f"edge:{site.name}"
        named = {i for r in plan.resources if r.placement == placement for i in images(r.inputs) if "{{" not in i}
        direct = {i for i in named if not i.startswith(site.registry_mirror + "/")}
        assert {registry_of(i) for i in direct} <= mirrored(files, site.name), site.name
        # AND the settings cover exactly the registries its charts pull from, no more
        charts = deployed_charts([r.record() for r in plan.resources])[placement]
        assert mirrored(files, site.name) == set(registry_mirror.chart_registries(charts))
        assert Path(registry_mirror.FOLDER, site.name, "enable.md") in files


@pytest.mark.parametrize("stack", [s for s in EXAMPLE_STACKS if s != "manufacturing-prod"])
def test_stacks_without_edge_sites_write_no_mirror_settings(stack: str) -> None:
    _, files = planned(stack)
    assert not [p for p in files if p.parts[0] == registry_mirror.FOLDER]


def test_each_distribution_gets_its_own_mechanism() -> None:
    # GIVEN manufacturing-prod's sites WHEN planned
    plan, files = planned("manufacturing-prod")
    by_distribution = {site.distribution: site.name for site in plan.spec.edge_sites()}
    # THEN k3s and RKE2 sites get one registries.yaml, the Jetson site a hosts.toml per registry
    for distribution in ("k3s", "rke2"):
        site = by_distribution[distribution]
        assert Path("mirror", site, "registries.yaml") in files
        page = files[Path("mirror", site, "enable.md")]
        assert catalog.distribution_registries(distribution).path in page and catalog.distribution_registries(distribution).restart in page
    jetson = by_distribution["jetson"]
    assert Path("mirror", jetson, "registries.yaml") not in files
    assert all(p.name == "hosts.toml" for p in files if p.parts[:3] == ("mirror", jetson, "certs.d"))
    assert "/etc/containerd/certs.d/<registry>/hosts.toml" in files[Path("mirror", jetson, "enable.md")]
    # AND on the GitOps site (its charts are Argo CD Applications, Argo CD itself a release) both count:
    # Fluent Bit's registry and Argo CD's are mirrored; the GPU Operator's isn't (Jetson runs none)
    assert plan.spec.edge_sites()[2].gitops is not None and plan.spec.edge_sites()[2].name == jetson
    assert {"cr.fluentbit.io", "quay.io", "ecr-public.aws.com"} <= mirrored(files, jetson) and "nvcr.io" not in mirrored(files, jetson)


def k3s_pull(settings: str, image: str) -> str:
    """Where k3s's containerd pulls `image` from first: its registry's mirror endpoint with the
    rewrite applied to the repository (Go's `$1` is Python's `\\1`)."""
    first, _, rest = image.partition("/")
    registry, repository = (first, rest) if "." in first else ("docker.io", image)
    mirror = yaml.safe_load(settings)["mirrors"][registry]
    (pattern, replacement), = mirror["rewrite"].items()
    return mirror["endpoint"][0] + "/" + re.sub(pattern, re.sub(r"\$(\d)", r"\\\1", replacement), repository)


def test_k3s_rewrites_put_each_registry_under_its_name_at_the_mirror() -> None:
    # GIVEN a mirror serving under a path, and two registries
    settings = registry_mirror.registries_yaml("mirror.line-9.example:5000/proxy", ("cr.fluentbit.io", "docker.io"))
    # WHEN containerd resolves images of both
    # THEN each is asked of the mirror's host under `<path>/<registry>/<repository>`
    assert k3s_pull(settings, "cr.fluentbit.io/fluent/fluent-bit:5.1.1") == "https://mirror.line-9.example:5000/proxy/cr.fluentbit.io/fluent/fluent-bit:5.1.1"
    assert k3s_pull(settings, "velero/velero:v1.18.1") == "https://mirror.line-9.example:5000/proxy/docker.io/velero/velero:v1.18.1"
    assert settings.startswith("# hybrid-ai:")


def test_containerd_hosts_point_at_the_mirror_path_and_fall_back_to_the_registry() -> None:
    # GIVEN a mirror without a path WHEN Docker Hub's and quay.io's hosts.toml are written
    hub = tomllib.loads(registry_mirror.hosts_toml("mirror.line-3.example:5000", "docker.io"))
    quay = tomllib.loads(registry_mirror.hosts_toml("mirror.line-3.example:5000/cache", "quay.io"))
    # THEN the mirror serves each registry under /v2/[<path>/]<registry> (the path used as is), pull only,
    # and the registry's own API stays the fallback
    assert hub == {"server": "https://registry-1.docker.io", "host": {"https://mirror.line-3.example:5000/v2/docker.io": {"capabilities": ["pull", "resolve"], "override_path": True}}}
    assert quay["server"] == "https://quay.io"
    assert list(quay["host"]) == ["https://mirror.line-3.example:5000/v2/cache/quay.io"]
