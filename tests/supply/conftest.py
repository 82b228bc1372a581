"""Real servers on loopback for the supply chain's tests: a Helm HTTP chart repository (Python's
http.server over a folder of an `index.yaml` and `.tgz` files the tests build) and an OCI
registry (Debian's `docker-registry`, the CNCF distribution registry, on 127.0.0.1 only).

`.ci/run` starts one registry and names it in $HYBRIDAI_TEST_REGISTRY (host:port); elsewhere the
session starts its own on a free port when `docker-registry` is installed, else the tests needing
it skip (in CI they fail). Each test pushes to repositories named after itself, so tests sharing a
registry never see each other's artifacts.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import oras.client
import pytest
import requests
import yaml

from hybridai.catalog import ChartPin
from hybridai.supply.charts import HELM_CHART_LAYER

REGISTRY_ENV = "HYBRIDAI_TEST_REGISTRY"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.io"},
    "spec": {
        "group": "example.io",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}],
    },
}

TEMPLATED_CRD = """{{- if .Values.crds.enabled }}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.io
  labels:
    {{- include "demo.labels" . | nindent 4 }}
spec:
  group: example.io
  names:
    kind: Gadget
    plural: gadgets
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
{{- end }}
"""


def chart_archive(name: str, version: str, values: dict | None = None, extra: dict[str, bytes] | None = None, root: str | None = None) -> bytes:
    """A chart's .tgz as `helm package` makes it: one folder named after the chart holding
    Chart.yaml, values.yaml, a CRD in crds/ and one in a template; `extra` adds members as named
    (hostile ones included)."""
    members = {
        "Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version, "appVersion": version}).encode(),
        "values.yaml": yaml.safe_dump(values if values is not None else {"image": {"repository": "example.io/demo", "tag": version}}).encode(),
        "crds/widgets.yaml": yaml.safe_dump(CRD).encode(),
        "templates/gadgets-crd.yaml": TEMPLATED_CRD.encode(),
        "templates/deployment.yaml": b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in [*((f"{root or name}/{p}", d) for p, d in members.items()), *(extra or {}).items()]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1765000000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ChartRepository:
    """A Helm HTTP repository on loopback serving `folder`: `add` writes a chart's archive and
    its index entry; `fail_next[path]` makes the next n requests for that path answer 500."""

    folder: Path
    url: str
    entries: dict[str, list[dict]] = field(default_factory=dict)
    fail_next: Counter = field(default_factory=Counter)
    served: Counter = field(default_factory=Counter)

    def add(self, name: str, version: str, archive: bytes, digest: str | None = "computed") -> ChartPin:
        (self.folder / f"{name}-{version}.tgz").write_bytes(archive)
        entry = {"name": name, "version": version, "urls": [f"{name}-{version}.tgz"], "apiVersion": "v2"}
        if digest is not None:
            entry["digest"] = sha256(archive) if digest == "computed" else digest
        self.entries.setdefault(name, []).append(entry)
        (self.folder / "index.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "entries": self.entries}))
        return ChartPin(chart=name, repository=self.url, version=version, upstream=f"{name}/{version}")


@pytest.fixture
def chart_repository(tmp_path: Path) -> Iterator[ChartRepository]:
    folder = tmp_path / "repository"
    folder.mkdir()
    repository = ChartRepository(folder, "")

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.lstrip("/")
            repository.served[path] += 1
            if repository.fail_next[path] > 0:
                repository.fail_next[path] -= 1
                self.send_error(500, "test: failing on purpose")
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    repository.url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    # The repository lives under /charts/: serve the folder there.
    (folder / "charts").symlink_to(folder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield repository
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"the test registry at {url} didn't answer within {seconds} s")


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real OCI registry on loopback."""
    if os.environ.get(REGISTRY_ENV):
        yield os.environ[REGISTRY_ENV]
        return
    binary = shutil.which("docker-registry")
    if binary is None:
        reason = f"no OCI registry: set {REGISTRY_ENV} or install Debian's docker-registry (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{_free_port()}"
    config = folder / "config.yml"
    config.write_text(yaml.safe_dump({"version": 0.1, "log": {"level": "error"}, "storage": {"filesystem": {"rootdirectory": str(folder / "data")}}, "http": {"addr": address}}))
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://{address}/v2/")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def push_chart(registry: str, repository: str, name: str, version: str, archive: bytes, folder: Path) -> str:
    """Push a chart to `oci://<registry>/<repository>/<name>:<version>` as `helm push` does (a
    Helm config and one chart layer) with oras-py; the manifest's digest the registry answers."""
    folder.mkdir(parents=True, exist_ok=True)
    tgz = folder / f"{name}-{version}.tgz"
    tgz.write_bytes(archive)
    config = folder / "config.json"
    config.write_text(json.dumps({"name": name, "version": version, "apiVersion": "v2"}))
    client = oras.client.OrasClient(hostname=registry, insecure=True)
    response = client.push(
        target=f"{registry}/{repository}/{name}:{version}",
        files=[f"{tgz}:{HELM_CHART_LAYER}"],
        manifest_config=f"{config}:{HELM_CONFIG}",
        disable_path_validation=True,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]
