"""Registry mirror settings per edge site: `mirror/<site>/`.

A site's own workloads (Triton, the model sync, the Jetson device plugin) name their images at the
site's `registryMirror` already, by digest. The platform charts a site runs (the GPU Operator, Fluent
Bit, the Prometheus agent, Velero, external-secrets, Argo CD on GitOps sites) name their images at
their upstream registries. So that those too come from the site — a node restarted while the uplink
is down still finds them — containerd on every node of the site is told to pull each of those
registries through the mirror, which keeps each upstream registry under its host name
(`<registryMirror>/<registry>/<repository>`); the upstream registry stays containerd's last resort.

Which registries: those of the charts the plan deploys at the site (the recorded releases, read
through hybridai/recorded.py), as versions.yaml lists them per chart (`registries`, checked against
each chart's default values by the test harness). How: the site's distribution's mechanism
(hybridai/data/distributions.yaml `registries`):

- k3s, RKE2: `registries.yaml`, a mirror per registry with a rewrite adding the registry's name;
- Jetson (kubeadm, containerd's own config): `certs.d/<registry>/hosts.toml`, the mirror as a host
  serving that registry under its path (`override_path`);

and `enable.md`: where the files go, how the nodes pick them up, how to check. Pure functions of
the spec and the recorded resources; the plan writes what `render` returns (docs/blueprints/manufacturing-edge.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from hybridai import catalog
from hybridai.recorded import deployed_charts

FOLDER = "mirror"
ENABLE = "enable.md"
REGISTRIES_YAML = "registries.yaml"
HOSTS_TOML = "hosts.toml"
UPSTREAM_SERVERS = {"docker.io": "https://registry-1.docker.io"}
"""Where a registry's API is when it isn't `https://<name>` (containerd's `server` in hosts.toml)."""


def chart_registries(charts: Iterable[str]) -> tuple[str, ...]:
    """The registries the pinned charts named pull from, sorted."""
    pins = {pin.chart: pin for pin in catalog.versions().charts.values()}
    return tuple(sorted({registry for chart in charts if chart in pins for registry in pins[chart].registries}))


def _split(mirror: str) -> tuple[str, str]:
    """(host[:port], path prefix without slashes) of a `registryMirror`."""
    host, _, prefix = mirror.partition("/")
    return host, prefix.strip("/")


def registries_yaml(mirror: str, registries: tuple[str, ...]) -> str:
    """k3s/RKE2 registries.yaml: each registry through the mirror, its repositories rewritten under
    the registry's name (`cr.fluentbit.io/fluent/fluent-bit` → `<mirror>/cr.fluentbit.io/fluent/fluent-bit`)."""
    host, prefix = _split(mirror)
    under = f"{prefix}/" if prefix else ""
    mirrors = {registry: {"endpoint": [f"https://{host}"], "rewrite": {"^(.*)$": f"{under}{registry}/$1"}} for registry in registries}
    header = "# hybrid-ai: the registries this site's platform charts pull from, through the site's mirror.\n"
    return header + yaml.safe_dump({"mirrors": mirrors}, sort_keys=False, default_flow_style=False, width=100)


def hosts_toml(mirror: str, registry: str) -> str:
    """containerd's certs.d/<registry>/hosts.toml: the mirror first (serving the registry under
    `/v2/<prefix>/<registry>`), the registry itself as the fallback `server`."""
    host, prefix = _split(mirror)
    path = "/".join(p for p in ("v2", prefix, registry) if p)
    server = UPSTREAM_SERVERS.get(registry, f"https://{registry}")
    return (
        "# hybrid-ai: pull through the site's mirror, the registry itself only as the last resort.\n"
        f'server = "{server}"\n\n'
        f'[host."https://{host}/{path}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        "  override_path = true\n"
    )


def enable(site: Any, registries: tuple[str, ...]) -> str:
    """How to put a site's mirror settings in place (enable.md)."""
    settings = catalog.distribution_registries(site.distribution)
    lines = [
        f"# Registry mirror for edge site `{site.name}` ({site.distribution})",
        "",
        f"The platform charts this site runs pull from {len(registries)} registries. Through these settings containerd on every node "
        f"pulls them from the site's mirror `{site.registry_mirror}`, which must proxy each one under its host name "
        f"(`{site.registry_mirror}/<registry>/<repository>`, as it does for the site's own images); the registry itself is the last resort.",
        "",
        "| registry | through |",
        "|---|---|",
        *(f"| `{registry}` | `{site.registry_mirror}/{registry}/…` |" for registry in registries),
        "",
        "## Put in place, on every node (control plane and workers alike)",
        "",
    ]
    if settings.format == "registries.yaml":
        lines += [
            f"Copy `{REGISTRIES_YAML}` to `{settings.path}` (root-owned), then: {settings.restart}.",
            f"A `{settings.path}` that already exists: merge the `mirrors` entries into it.",
        ]
    else:
        lines += [
            f"Copy each `certs.d/<registry>/{HOSTS_TOML}` to `{settings.path}/<registry>/{HOSTS_TOML}`. Restart: {settings.restart}.",
        ]
    lines += [
        "",
        "## Check",
        "",
        "With the uplink cut, on a node: `crictl pull <an image of one of the charts>` succeeds (through the mirror), and",
        "`crictl images` lists it under its upstream name.",
        "",
    ]
    return "\n".join(lines)


def render(spec: Any, records: list[dict[str, Any]]) -> dict[Path, str]:
    """Every edge site's mirror settings and enable.md, path → content."""
    files: dict[Path, str] = {}
    deployed = deployed_charts(records)
    for site in spec.edge_sites():
        registries = chart_registries(deployed.get(site.placement, ()))
        if not registries:
            continue
        folder = Path(FOLDER) / site.name
        if catalog.distribution_registries(site.distribution).format == "registries.yaml":
            files[folder / REGISTRIES_YAML] = registries_yaml(site.registry_mirror, registries)
        else:
            for registry in registries:
                files[folder / "certs.d" / registry / HOSTS_TOML] = hosts_toml(site.registry_mirror, registry)
        files[folder / ENABLE] = enable(site, registries)
    return files
