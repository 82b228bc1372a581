"""The images a stack's plan runs, and their digests resolved from their registries.

- **Our workloads' images**: every `image` of a container in the recorded Kubernetes objects (pod
  templates, Argo Workflows templates, KServe runtimes): what the program itself writes.
- **Charts' images**: each Helm release's values as Helm would merge them — the pinned chart's
  default values (from its reference data: hybridai/supply/reference.py) overlaid with ours — read
  where charts name images: a map with `repository` (and `registry`, `tag` or `version`, `digest`,
  or the GPU Operator's `repository` + `image` + `version`) or an `image: repo:tag` string.
  Parts a chart disables (`enabled: false`) are left out. An image whose tag the values leave
  empty (most charts then use their `appVersion` in a template) is listed as *not from values*:
  its reference is decided by the chart's templates, which aren't rendered here.

`images.lock` at the project root records each listed reference with the digest its registry
answers for it (HEAD of the manifest through oras-py, the `Docker-Content-Digest`), or
`unresolved` and why when this machine can't get one. One file for every stack: a digest is a
fact of a reference, the same whichever stack runs it, so stacks sharing an image share one entry.
"""
from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oras.container
import requests
import yaml

from hybridai import catalog
from hybridai.recorded import HELM_RELEASE, release_of
from hybridai.supply import transport
from hybridai.supply.transport import SupplyError

LOCK_FILE = "images.lock"
UNRESOLVED = "unresolved"

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""Manifests an image's tag may name: a multi-platform index (whose digest then pins every
platform's image) or one platform's manifest."""

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, order=True)
class ImageUse:
    reference: str
    """`registry/repository:tag` (or `…@sha256:…`), registry written out (`docker.io/…`)."""
    origin: str
    """`workload` (written by the program) or `<chart>@<version>` (a chart's values)."""


@dataclass(frozen=True, order=True)
class UnlistedImage:
    """A chart's image whose reference its values don't settle (the tag comes from a template)."""

    origin: str
    where: str
    """Key path of the image in the chart's values."""
    repository: str


def normalize(reference: str) -> str:
    """A reference with its registry written out as containerd reads it: `docker.io/` before a
    name whose first part isn't a host, `library/` before a bare Docker Hub name."""
    first, _, rest = reference.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        reference = f"docker.io/{reference}"
    host, _, path = reference.partition("/")
    if host == "docker.io" and "/" not in path:
        reference = f"docker.io/library/{path}"
    return reference


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "${" in value)


def workload_images(records: Iterable[Mapping[str, Any]]) -> list[ImageUse]:
    """Every container image in the recorded Kubernetes objects (Helm releases aside)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            image = node.get("image")
            if isinstance(image, str) and image and not _templated(image) and " " not in image:
                found.add(normalize(image))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for r in records:
        if r["type"].startswith("kubernetes:") and release_of(r["type"], r["inputs"]) is None:
            walk(r["inputs"])
    return [ImageUse(ref, "workload") for ref in sorted(found)]


def merged(defaults: Any, values: Any) -> Any:
    """Helm's merge of a release's values over the chart's defaults: maps merge key by key, any
    other value replaces the default (a null deletes it)."""
    if isinstance(defaults, dict) and isinstance(values, dict):
        out = copy.deepcopy(defaults)
        for key, value in values.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merged(out.get(key), value)
        return out
    return copy.deepcopy(values)


def values_images(values: Any, origin: str) -> tuple[list[ImageUse], list[UnlistedImage]]:
    """The images a chart's (merged) values name, and those whose tag they leave to templates."""
    listed: set[ImageUse] = set()
    unlisted: set[UnlistedImage] = set()

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("enabled") is False:
                return
            repository = node.get("repository")
            if isinstance(repository, str) and repository and not _templated(repository):
                registry = node.get("registry")
                name = node.get("image") if isinstance(node.get("image"), str) else None
                base = f"{registry.rstrip('/')}/{repository}" if isinstance(registry, str) and registry and not _templated(registry) else repository
                base = f"{base}/{name}" if name else base
                tag = node.get("tag") if node.get("tag") not in (None, "") else node.get("version")
                digest = node.get("digest") or node.get("sha")
                if isinstance(digest, str) and DIGEST.match(digest):
                    listed.add(ImageUse(normalize(f"{base}@{digest}"), origin))
                elif tag not in (None, "") and not _templated(str(tag)):
                    listed.add(ImageUse(normalize(f"{base}:{tag}"), origin))
                else:
                    unlisted.add(UnlistedImage(origin, where or "<root>", normalize(base)))
            for key, value in node.items():
                if key == "image" and isinstance(value, str) and "repository" not in node:
                    if not value or _templated(value):
                        continue
                    tag = node.get("tag")
                    if ":" in value.rsplit("/", 1)[-1] or "@" in value:
                        listed.add(ImageUse(normalize(value), origin))
                    elif isinstance(tag, str) and tag and not _templated(tag):
                        # KServe's way: `image: kserve/agent` beside `tag: v0.20.0`
                        listed.add(ImageUse(normalize(f"{value}:{tag}"), origin))
                    else:
                        unlisted.add(UnlistedImage(origin, f"{where}.image" if where else "image", normalize(value)))
                elif key != "image" or not isinstance(value, str):
                    walk(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(values, "")
    return sorted(listed), sorted(unlisted)


@dataclass(frozen=True)
class StackImages:
    images: list[ImageUse]
    unlisted: list[UnlistedImage]
    charts_without_reference: list[str]
    """Charts of the plan whose default values aren't in the reference data (CRD-only charts
    have none); only the values hybrid-ai sets are read for them."""
    charts: tuple[str, ...] = ()
    """Every `<chart>@<version>` release of the plan."""
    charts_without_images: tuple[str, ...] = ()
    """Releases whose values name no image this reader recognizes: CRD-only charts, and charts
    whose templates compose image names (cert-manager's `imageRegistry`/`imageNamespace`/`name`)."""


def stack_images(records: Iterable[Mapping[str, Any]], reference_root: Path | None) -> StackImages:
    """Every image a plan's records run: our workloads' and the charts' (see the module's doc)."""
    records = list(records)
    pins = {(pin.chart, pin.version): pin for pin in catalog.versions().charts.values()}
    images = set(workload_images(records))
    unlisted: set[UnlistedImage] = set()
    without: set[str] = set()
    no_images: set[str] = set()
    for r in records:
        if r["type"] != HELM_RELEASE:
            continue
        chart, values = release_of(r["type"], r["inputs"])
        version = str(r["inputs"].get("version", ""))
        origin = f"{chart}@{version}"
        pin = pins.get((chart, version))
        defaults = _chart_defaults(reference_root, pin) if pin is not None else None
        if defaults is None:
            without.add(origin)
            defaults = {}
        found, lacking = values_images(merged(defaults, values), origin)
        images |= set(found)
        unlisted |= set(lacking)
        if not found and not lacking:
            no_images.add(origin)
    charts = sorted({f"{release_of(r['type'], r['inputs'])[0]}@{r['inputs'].get('version', '')}" for r in records if r["type"] == HELM_RELEASE})
    return StackImages(sorted(images), sorted(unlisted), sorted(without), tuple(charts), tuple(sorted(no_images)))


def _chart_defaults(root: Path | None, pin: catalog.ChartPin) -> dict | None:
    """The chart's default values in the reference data (named as hybridai/supply/charts.py
    writes them and ../shared/upstream has them), or None."""
    if root is None:
        return None
    folder = root / pin.upstream
    for path in (folder / f"{pin.chart}-values.yaml", folder / "values.yaml"):
        if path.is_file():
            if path.name == "values.yaml":
                manifest = folder / "Chart.yaml"
                if not manifest.is_file() or (yaml.safe_load(manifest.read_text()) or {}).get("name") != pin.chart:
                    continue
            return yaml.safe_load(path.read_text()) or {}
    return None


def resolve(reference: str) -> str:
    """The digest the image's registry gives for `reference` (a HEAD of its manifest; a GET when
    the registry answers HEAD without `Docker-Content-Digest`). SupplyError saying why not."""
    reference = normalize(reference)
    host, _, rest = reference.partition("/")
    registry = transport.Registry(host)
    container = oras.container.Container(rest, registry=registry.hostname)
    url = f"{registry.prefix}://{container.manifest_url()}"
    headers = {"Accept": ", ".join(MANIFEST_ACCEPT)}
    try:
        response = registry.do_request(url, "HEAD", headers=dict(headers))
        if response.status_code == 200 and not response.headers.get("Docker-Content-Digest"):
            response = registry.do_request(url, "GET", headers=dict(headers))
            if response.status_code == 200:
                return f"sha256:{hashlib.sha256(response.content).hexdigest()}"
    except (requests.RequestException, ValueError) as err:
        raise SupplyError(f"{reference}: can't reach {host}: {_short(err)}") from None
    if response.status_code == 404:
        raise SupplyError(f"{reference}: the registry has no such tag")
    if response.status_code != 200:
        raise SupplyError(f"{reference}: {host} answered {response.status_code} {response.reason}")
    digest = response.headers["Docker-Content-Digest"]
    if not DIGEST.match(digest):
        raise SupplyError(f"{reference}: {host} answered the digest {digest!r}, not a sha256 digest")
    return digest


def _short(err: Exception) -> str:
    """The reason of a connection error without urllib3's retry wrapping."""
    text = str(err)
    match = re.search(r"\(Caused by (\w+)\(", text)
    return match.group(1) if match else text.splitlines()[0][:200]


@dataclass(frozen=True)
class LockEntry:
    digest: str
    """`sha256:…` as the registry answered, or `unresolved`."""
    origins: tuple[str, ...]
    """`workload` and/or `<chart>@<version>`: what runs it."""
    reason: str | None = None
    """Why it is unresolved."""


@dataclass(frozen=True)
class ImageLock:
    images: dict[str, LockEntry]
    charts: tuple[str, ...]
    """The `<chart>@<version>` releases the lock was made for (CRD-only charts with no images
    among them): a release the plan deploys at a version not listed makes the lock stale."""


    @classmethod
    def of(cls, document: Mapping[str, Any]) -> ImageLock:
        """The lock from its document (images.lock's YAML, or the policy context's copy of it)."""
        entries = {ref: LockEntry(e["digest"], tuple(e.get("origins") or ()), e.get("reason")) for ref, e in (document.get("images") or {}).items()}
        return cls(entries, tuple(document.get("charts") or ()))

    def document(self) -> dict[str, Any]:
        return {
            "charts": sorted(self.charts),
            "images": {
                ref: {k: v for k, v in {"digest": e.digest, "origins": list(e.origins), "reason": e.reason}.items() if v is not None}
                for ref, e in sorted(self.images.items())
            },
        }


def read_lock(project: Path) -> ImageLock | None:
    """images.lock of the project, or None when it has none."""
    path = project / LOCK_FILE
    return ImageLock.of(yaml.safe_load(path.read_text()) or {}) if path.is_file() else None


def write_lock(project: Path, lock_: ImageLock) -> None:
    document = lock_.document()
    header = (
        "# Written by `hybridai images STACK --lock`: each image a stack's plan runs, with the digest its\n"
        "# registry answered (HEAD of the manifest), or `unresolved` and why. Never edit digests by hand.\n"
    )
    (project / LOCK_FILE).write_text(header + yaml.safe_dump(document, sort_keys=False, width=200))


def lock(project: Path, found: StackImages, resolver=resolve) -> ImageLock:  # noqa: ANN001 - (ref) -> digest
    """images.lock with every image of `found` that runs by tag resolved afresh (entries of other
    stacks kept). An image whose reference already carries a digest is pinned by it as written
    (by the chart's publisher or the stack file) and not entered: the lock holds only digests a
    registry answered."""
    before = read_lock(project) or ImageLock({}, ())
    entries = dict(before.images)
    origins: dict[str, set[str]] = {}
    for use in found.images:
        if "@" not in use.reference:
            origins.setdefault(use.reference, set()).add(use.origin)
    for ref, here in sorted(origins.items()):
        old = entries.get(ref)
        all_origins = tuple(sorted(here | set(old.origins if old else ())))
        try:
            entries[ref] = LockEntry(resolver(ref), all_origins)
        except SupplyError as err:
            entries[ref] = LockEntry(UNRESOLVED, all_origins, str(err).removeprefix(f"{ref}: "))
    result = ImageLock(entries, tuple(sorted(set(before.charts) | set(found.charts))))
    write_lock(project, result)
    return result


@dataclass(frozen=True, order=True)
class LockProblem:
    """An image of the plan that images.lock doesn't pin: unresolved there, or the lock is stale."""

    kind: str
    """`unresolved`, `not locked` (an image the lock lacks) or `stale` (a chart release the lock
    wasn't made for)."""
    image: str
    """The image reference, or `<chart>@<version>` for a stale chart."""
    urn: str
    """The resource running it."""
    detail: str


def lock_problems(records: Iterable[Mapping[str, Any]], lock_: ImageLock | None) -> list[LockProblem]:
    """What images.lock doesn't settle for the plan's records: our workloads' images not pinned by
    digest that it lacks or left unresolved, chart releases it wasn't made for, and the charts'
    images it left unresolved. Read from the recorded resources and the lock alone (no chart
    reference data needed), so a plan says it anywhere."""
    lock_ = lock_ or ImageLock({}, ())
    problems: set[LockProblem] = set()
    for r in records:
        if not r["type"].startswith("kubernetes:"):
            continue
        if r["type"] == HELM_RELEASE:
            chart, _ = release_of(r["type"], r["inputs"])
            origin = f"{chart}@{r['inputs'].get('version', '')}"
            if origin not in lock_.charts:
                problems.add(LockProblem("stale", origin, r["urn"], "images.lock wasn't made for this chart version: run `hybridai images STACK --lock`"))
                continue
            for ref, entry in lock_.images.items():
                if origin in entry.origins and entry.digest == UNRESOLVED:
                    problems.add(LockProblem(UNRESOLVED, ref, r["urn"], entry.reason or ""))
        elif release_of(r["type"], r["inputs"]) is None:
            for use in workload_images([r]):
                if "@" in use.reference:
                    continue
                entry = lock_.images.get(use.reference)
                if entry is None:
                    problems.add(LockProblem("not locked", use.reference, r["urn"], "not in images.lock: run `hybridai images STACK --lock`"))
                elif entry.digest == UNRESOLVED:
                    problems.add(LockProblem(UNRESOLVED, use.reference, r["urn"], entry.reason or ""))
                else:
                    problems.add(LockProblem("by tag", use.reference, r["urn"], f"runs by tag; images.lock resolved it to {entry.digest}"))
    return sorted(problems)


@dataclass(frozen=True)
class LockGroup:
    """Lock problems of one state and one reason: the images, and how many resources run them."""

    kind: str
    detail: str
    images: tuple[str, ...]
    resources: int


def grouped(problems: Iterable[LockProblem]) -> list[LockGroup]:
    """Problems by (state, reason): an unreachable registry is one line, not one per image."""
    groups: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for p in problems:
        images_, urns = groups.setdefault((p.kind, p.detail), (set(), set()))
        images_.add(p.image)
        urns.add(p.urn)
    return [LockGroup(kind, detail, tuple(sorted(i)), len(u)) for (kind, detail), (i, u) in sorted(groups.items())]
