"""One HTTP client for chart repositories and OCI registries: `requests` with urllib3's retries
and a timeout on every request, and oras-py's `Registry` speaking the distribution API over it.

Retries live in one place, the session: a server answering 500/502/503/504, or refusing or
dropping a connection, is asked again a few times with a short backoff. oras-py's own retry
decorator (5 attempts sleeping 3 s to 83 s, on any exception) is bypassed, so an unreachable
registry fails in seconds with the error that says why, not minutes later.
"""
from __future__ import annotations

import hashlib
from typing import Any, BinaryIO

import oras.provider
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT_SECONDS = 30
"""Connect and read timeout of every request: a chart repository or registry that accepts a
connection and then says nothing fails the pull rather than hanging it."""

RETRY = Retry(
    total=3,
    connect=3,
    read=2,
    status=3,
    backoff_factor=0.25,
    status_forcelist=(500, 502, 503, 504),
    allowed_methods=frozenset({"GET", "HEAD"}),
    raise_on_status=False,
)
"""Retries of idempotent requests (GET, HEAD): 3 at most, 0.25 s, 0.5 s, 1 s apart; the last
answer is returned as it is (a final 500 is reported with its status, not as a retry error)."""

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
"""Hosts spoken to over plain HTTP, as Docker and containerd treat localhost registries: a registry
or chart repository on this machine (the tests' and a mirror's first check); every other host only
over HTTPS with its certificate verified."""

DOCKER_HUB = {"docker.io": "registry-1.docker.io"}
"""Registry names whose distribution API lives on another host."""


class SupplyError(Exception):
    """A chart or image that can't be fetched or verified: the message names it and says why."""


class _Session(requests.Session):
    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        return super().request(method, url, **kwargs)


def session() -> requests.Session:
    s = _Session()
    adapter = HTTPAdapter(max_retries=RETRY)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


def is_loopback(host: str) -> bool:
    """Is `host` (`name`, `name:port`, `[v6]:port`) this machine?"""
    name = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    return name in LOOPBACK


class Registry(oras.provider.Registry):
    """oras-py's registry client on our session (retries, timeout), without its retry decorator."""

    def __init__(self, host: str) -> None:
        super().__init__(hostname=DOCKER_HUB.get(host, host), insecure=is_loopback(host))
        self.session = session()
        self.auth.session = self.session

    # oras-py's do_request, less its retry wrapper (the session retries).
    do_request = oras.provider.Registry.do_request.__wrapped__  # type: ignore[attr-defined]


def sha256_of(stream: BinaryIO, out: BinaryIO | None = None) -> str:
    """`sha256:<hex>` of a stream, copying it to `out` on the way when given."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return f"sha256:{digest.hexdigest()}"
