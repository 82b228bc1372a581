"""`hybridai charts pull`: every pinned chart, exactly at its pinned version, fetched, verified
against the digest its repository publishes, and its reference data (Chart.yaml, values.yaml,
CRDs) extracted into a local cache in the layout of ../shared/upstream, which the validation
harness reads when that folder is absent (hybridai/supply/reference.py).

- Helm HTTP repositories: the chart's entry in the repository's `index.yaml`, its `.tgz` checked
  against the entry's `digest` (the sha256 Helm's `repo index` writes). An entry without a digest
  is refused: nothing would say the bytes are the published ones.
- `oci://` repositories: the manifest of `<chart>:<version>` through oras-py, checked against the
  `Docker-Content-Digest` the registry answers with, and the chart layer against the digest the
  manifest gives for it.

The cache holds content-addressed archives (`blobs/sha256/<hex>`, each written only once verified)
and the extracted trees; `reference` is a symlink to the tree of the last complete pull, switched
atomically once every chart is fetched and extracted. A pull that fails on any chart leaves the
cache as it was: nothing half-written is ever read.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

import platformdirs
import requests
import yaml

from hybridai.catalog import ChartPin
from hybridai.supply import transport
from hybridai.supply.transport import SupplyError

CACHE_ENV = "HYBRIDAI_CHART_CACHE"
"""Environment variable naming the chart cache (the `--cache` flag wins over it)."""

HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
"""Media type of a Helm chart's layer in an OCI manifest (Helm's registry support)."""

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",)
"""Manifests a Helm chart is pushed as."""

REFERENCE = "reference"
"""The cache's symlink to its last complete tree."""

RECORD = "pulled.json"
"""Each tree's record of what it was pulled from: chart, version, source, digest, files."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def cache_dir(override: Path | None = None) -> Path:
    """The chart cache: the flag's folder, else $HYBRIDAI_CHART_CACHE, else the user's XDG cache
    (`~/.cache/hybridai/charts` on Linux, platformdirs' equivalent elsewhere)."""
    if override is not None:
        return override
    if env := os.environ.get(CACHE_ENV):
        return Path(env)
    return platformdirs.user_cache_path("hybridai") / "charts"


@dataclass(frozen=True)
class Pulled:
    """One chart as pulled: where from, its verified digest, what was extracted."""

    name: str
    """Its key in versions.yaml."""
    chart: str
    version: str
    source: str
    """The URL of the archive (HTTP) or `oci://` reference of the manifest."""
    digest: str
    """`sha256:…` of the chart archive, as the repository published it and as verified."""
    files: tuple[str, ...]
    """Files written into the tree, relative to it."""
    crds_from_templates: tuple[str, ...]
    """Chart templates whose CRDs were read with their template directive lines removed (the
    chart has no crds/ folder for them); docs/design/supply-chain.md says why that holds."""


@dataclass(frozen=True)
class _Archive:
    path: Path
    digest: str
    source: str


def pull(pins: Mapping[str, ChartPin], cache: Path) -> list[Pulled]:
    """Fetch, verify and extract every chart of `pins` into `cache`; SupplyError naming the chart
    when any can't be, the cache then as it was."""
    cache.mkdir(parents=True, exist_ok=True)
    blobs = cache / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    http = transport.session()
    archives = {name: _fetch(name, pin, blobs, http) for name, pin in sorted(pins.items())}
    shared = Counter(pin.upstream for pin in pins.values())
    trees = cache / "trees"
    trees.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=trees))
    try:
        pulled = [_extract(name, pins[name], archive, staging, shared[pins[name].upstream] > 1) for name, archive in archives.items()]
        record = json.dumps([asdict(p) for p in pulled], indent=2, sort_keys=True) + "\n"
        (staging / RECORD).write_text(record)
        tree = trees / hashlib.sha256(record.encode()).hexdigest()[:16]
        if tree.exists():
            shutil.rmtree(staging)
        else:
            staging.rename(tree)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = cache / f".{REFERENCE}-{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(Path("trees") / tree.name)
    os.replace(link, cache / REFERENCE)
    for old in trees.iterdir():
        if old != tree and not old.name.startswith(".staging-"):
            shutil.rmtree(old, ignore_errors=True)
    return pulled


def _get(http: requests.Session, url: str, name: str, what: str, stream: bool = False) -> requests.Response:
    try:
        response = http.get(url, stream=stream)
    except requests.RequestException as err:
        raise SupplyError(f"{name}: can't reach {url} for {what}: {err}") from None
    if response.status_code != 200:
        raise SupplyError(f"{name}: {url} answered {response.status_code} {response.reason} for {what}")
    return response


def _fetch(name: str, pin: ChartPin, blobs: Path, http: requests.Session) -> _Archive:
    if pin.repository.startswith("oci://"):
        return _fetch_oci(name, pin, blobs)
    index_url = pin.repository.rstrip("/") + "/index.yaml"
    try:
        index = yaml.load(_get(http, index_url, name, "the repository's index").content, Loader=_LOADER) or {}
    except yaml.YAMLError as err:
        raise SupplyError(f"{name}: {index_url} is not a Helm repository index: {err}") from None
    entries = (index.get("entries") or {}).get(pin.chart) or []
    entry = next((e for e in entries if str(e.get("version")) == pin.version), None)
    if entry is None:
        listed = ", ".join(str(e.get("version")) for e in entries[:5]) or "none"
        raise SupplyError(f"{name}: {pin.chart} {pin.version} is not in {index_url} (versions listed first there: {listed}); check `version` in hybridai/data/versions.yaml")
    if not entry.get("digest"):
        raise SupplyError(f"{name}: {index_url} publishes no digest for {pin.chart} {pin.version}, so its archive can't be verified; refusing it")
    if not entry.get("urls"):
        raise SupplyError(f"{name}: {index_url} lists {pin.chart} {pin.version} without a download URL")
    url = urljoin(index_url, entry["urls"][0])
    expected = f"sha256:{entry['digest']}"
    return _Archive(_stored(blobs, expected, name, url, lambda: _get(http, url, name, "the chart archive", stream=True)), expected, url)


def _fetch_oci(name: str, pin: ChartPin, blobs: Path) -> _Archive:
    host, _, path = pin.repository.removeprefix("oci://").partition("/")
    registry = transport.Registry(host)
    container = registry.get_container(f"{path}/{pin.chart}:{pin.version.replace('+', '_')}")
    source = f"{pin.repository}/{pin.chart}:{pin.version}"
    url = f"{registry.prefix}://{container.manifest_url()}"
    try:
        response = registry.do_request(url, "GET", headers={"Accept": ", ".join(MANIFEST_TYPES)})
    except (requests.RequestException, ValueError) as err:
        raise SupplyError(f"{name}: can't reach {source}: {err}") from None
    if response.status_code == 404:
        raise SupplyError(f"{name}: {source} is not in the registry (no such tag); check `version` in hybridai/data/versions.yaml")
    if response.status_code != 200:
        raise SupplyError(f"{name}: {source}: the registry answered {response.status_code} {response.reason} for its manifest")
    manifest_digest = f"sha256:{hashlib.sha256(response.content).hexdigest()}"
    published = response.headers.get("Docker-Content-Digest")
    if published and published != manifest_digest:
        raise SupplyError(f"{name}: {source}: the manifest's bytes hash to {manifest_digest}, the registry says {published}; refusing it")
    layers = [layer for layer in response.json().get("layers", []) if layer.get("mediaType") == HELM_CHART_LAYER]
    if len(layers) != 1:
        raise SupplyError(f"{name}: {source} is not a Helm chart (its manifest has {len(layers)} layers of type {HELM_CHART_LAYER})")
    expected = layers[0]["digest"]

    def download() -> requests.Response:
        try:
            blob = registry.get_blob(container, expected, stream=True)
        except (requests.RequestException, ValueError) as err:
            raise SupplyError(f"{name}: can't reach {source}'s chart layer: {err}") from None
        if blob.status_code != 200:
            raise SupplyError(f"{name}: {source}: the registry answered {blob.status_code} {blob.reason} for the chart layer {expected}")
        return blob

    return _Archive(_stored(blobs, expected, name, source, download), expected, source)


def _stored(blobs: Path, expected: str, name: str, source: str, download) -> Path:  # noqa: ANN001 - () -> Response
    """The archive with digest `expected` in the cache's blobs, downloaded when it isn't there (or
    no longer hashes to its name) and moved in only once it hashes to `expected`."""
    algorithm, _, hexdigest = expected.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64:
        raise SupplyError(f"{name}: {source}: digest {expected!r} is not a sha256 digest")
    path = blobs / hexdigest
    if path.exists():
        with path.open("rb") as f:
            if transport.sha256_of(f) == expected:
                return path
    response = download()
    with tempfile.NamedTemporaryFile(dir=blobs, prefix=".part-", delete=False) as part:
        try:
            actual = transport.sha256_of(_Chunks(response), part)
        except requests.RequestException as err:
            Path(part.name).unlink(missing_ok=True)
            raise SupplyError(f"{name}: {source}: the download broke off: {err}") from None
    if actual != expected:
        Path(part.name).unlink(missing_ok=True)
        raise SupplyError(f"{name}: {source} hashes to {actual}, but its repository publishes {expected}; refusing it (a changed or corrupted chart)")
    os.replace(part.name, path)
    return path


class _Chunks:
    """A response's body as a stream read in chunks (decoded as requests decodes it)."""

    def __init__(self, response: requests.Response) -> None:
        self._chunks = response.iter_content(1 << 16)

    def read(self, _size: int = -1) -> bytes:
        return next(self._chunks, b"")


def _extract(name: str, pin: ChartPin, archive: _Archive, tree: Path, shared_folder: bool) -> Pulled:
    """Chart.yaml, values.yaml and CRDs of the archive into `tree/<pin.upstream>/`, named as in
    ../shared/upstream: `<chart>-Chart.yaml` and `<chart>-values.yaml` where several pinned charts
    share the folder (KServe's), else Chart.yaml and values.yaml; CRDs as `crds/<chart>-<file>`."""
    with tempfile.TemporaryDirectory(dir=tree) as tmp:
        unpacked = Path(tmp)
        _unpack(name, pin, archive, unpacked)
        root = unpacked / pin.chart
        manifest = yaml.safe_load((root / "Chart.yaml").read_text()) if (root / "Chart.yaml").is_file() else None
        if not isinstance(manifest, dict) or manifest.get("name") != pin.chart or str(manifest.get("version")) != pin.version:
            seen = (manifest.get("name"), manifest.get("version")) if isinstance(manifest, dict) else None
            raise SupplyError(f"{name}: {archive.source}'s Chart.yaml says (name, version) {seen}, not ({pin.chart!r}, {pin.version!r}); refusing it")
        folder = tree / pin.upstream
        (folder / "crds").mkdir(parents=True, exist_ok=True)
        written = []

        def put(source: Path, target: str) -> None:
            shutil.copyfile(source, folder / target)
            written.append(f"{pin.upstream}/{target}")

        prefix = f"{pin.chart}-" if shared_folder else ""
        put(root / "Chart.yaml", f"{prefix}Chart.yaml")
        if (root / "values.yaml").is_file():
            put(root / "values.yaml", f"{prefix}values.yaml")
        for crd in sorted(p for p in (root / "crds").rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()) if (root / "crds").is_dir() else []:
            put(crd, f"crds/{pin.chart}-{'-'.join(crd.relative_to(root / 'crds').parts)}")
        from_templates = []
        for template in sorted(p for p in (root / "templates").rglob("*.yaml") if p.is_file()) if (root / "templates").is_dir() else []:
            docs = template_crds(template.read_text())
            if docs:
                target = f"crds/{pin.chart}-templates-{'-'.join(template.relative_to(root / 'templates').parts)}"
                (folder / target).write_text(yaml.safe_dump_all(docs, sort_keys=False))
                written.append(f"{pin.upstream}/{target}")
                from_templates.append(str(PurePosixPath("templates", *template.relative_to(root / "templates").parts)))
    return Pulled(name, pin.chart, pin.version, archive.source, archive.digest, tuple(written), tuple(from_templates))


def _unpack(name: str, pin: ChartPin, archive: _Archive, into: Path) -> None:
    """The archive into `into`, refusing one that isn't a chart's: members outside one root folder
    named after the chart, or anything tarfile's `data` filter refuses (absolute paths, `..` out of
    the folder, links pointing out of it, devices)."""
    try:
        with tarfile.open(archive.path, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                parts = PurePosixPath(os.path.normpath(member.name)).parts
                if not parts or parts[0] != pin.chart or ".." in parts:
                    raise SupplyError(f"{name}: {archive.source} holds {member.name!r}, outside its chart folder {pin.chart}/; refusing the archive")
            tar.extractall(into, members=members, filter="data")
    except tarfile.FilterError as err:
        raise SupplyError(f"{name}: {archive.source} holds {err.tarinfo.name!r}, which extracting would refuse ({err}); refusing the archive") from None
    except (tarfile.TarError, OSError) as err:
        raise SupplyError(f"{name}: {archive.source} is not a readable chart archive: {err}") from None


def template_crds(text: str) -> list[dict]:
    """The CustomResourceDefinitions of a chart template, read with every line holding a template
    directive (`{{ … }}`) removed — as ../shared/upstream's README says its Argo CD and Flux CRDs
    were: the directives sit in metadata and around documents, never in a schema. Documents that
    don't parse that way, or aren't CRDs with versions, are left out."""
    if "CustomResourceDefinition" not in text:
        return []
    plain = "\n".join(line for line in text.splitlines() if "{{" not in line and "}}" not in line)
    docs = []
    for chunk in plain.split("\n---"):
        try:
            doc = yaml.load(chunk, Loader=_LOADER)
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition" and isinstance((doc.get("spec") or {}).get("versions"), list):
            docs.append(doc)
    return docs


def reference_tree(cache: Path) -> Path | None:
    """The cache's last complete tree, if a pull ever completed."""
    link = cache / REFERENCE
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None
