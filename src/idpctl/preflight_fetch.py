"""Careful HTTPS GETs of OpenID Connect metadata for the discovery preflight.

One `Fetcher` per run: TLS verified against the system store plus an optional extra CA
bundle, short timeouts, a streamed size limit, at most a few redirects (https only), and each
distinct URL fetched once even when several providers share it (thread-safe).

A fetch ends in a `Fetched`: the parsed JSON, or why there is none and whether that is a
network failure (unreachable, timeout, TLS, 5xx: a warning) or a definite answer (404, not
JSON, too large, a redirect loop: an error).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = ["DEFAULT_MAX_BYTES", "NOT_JSON", "Fetched", "Fetcher", "ssl_context"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)
NOT_JSON = "the answer is not JSON"


@dataclass(frozen=True)
class Fetched:
    """The outcome of one GET. `data` is the parsed JSON when `problem` is None."""

    url: str
    data: Any = None
    problem: str | None = None  # one line: what went wrong
    network: bool = False  # the problem is a network failure (reported as a warning)


def ssl_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The system trust store plus `ca_bundle` (a PEM file) when given."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


class Fetcher:
    """GETs JSON documents once per URL. Use as a context manager (closes the client)."""

    def __init__(self, *, ca_bundle: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 max_redirects: int = DEFAULT_MAX_REDIRECTS) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._client = httpx.Client(verify=ssl_context(ca_bundle), timeout=timeout,
                                    follow_redirects=False,
                                    headers={"Accept": "application/json"})
        self._lock = threading.Lock()
        self._seen: dict[str, Future[Fetched]] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def get(self, url: str) -> Fetched:
        """The document at `url`; a second call for the same URL waits for the first."""
        with self._lock:
            future = self._seen.get(url)
            owner = future is None
            if future is None:
                future = self._seen[url] = Future()
        if owner:
            try:
                future.set_result(self._fetch(url))
            except Exception as error:  # never leave waiters hanging
                future.set_result(Fetched(url, problem=f"{type(error).__name__}: {error}",
                                          network=True))
        return future.result()

    def _fetch(self, url: str) -> Fetched:
        current = url
        deadline = time.monotonic() + self.timeout * (self.max_redirects + 2)
        for _ in range(self.max_redirects + 1):
            if urlsplit(current).scheme != "https":
                return Fetched(url, problem=f"{_short(current)} is not an https URL")
            try:
                outcome = self._one(current, deadline)
            except httpx.TimeoutException:
                return Fetched(url, problem=f"timed out after {self.timeout:g} s", network=True)
            except httpx.HTTPError as error:
                return Fetched(url, problem=_describe(error), network=True)
            if isinstance(outcome, Fetched):
                return Fetched(url, outcome.data, outcome.problem, outcome.network)
            current = urljoin(current, outcome)
        return Fetched(url, problem=f"more than {self.max_redirects} redirects "
                                    "(a redirect loop?)")

    def _one(self, url: str, deadline: float) -> Fetched | str:
        """A Fetched, or the Location to follow."""
        with self._client.stream("GET", url) as response:
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                return response.headers["location"]
            if response.status_code != 200:
                network = response.status_code >= 500 or response.status_code == 429
                return Fetched(url, problem=f"answered HTTP {response.status_code}",
                               network=network)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                return Fetched(url, problem=self._too_large())
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    return Fetched(url, problem=self._too_large())
                if time.monotonic() > deadline:
                    return Fetched(url, problem=f"timed out after {self.timeout:g} s",
                                   network=True)
        try:
            return Fetched(url, data=json.loads(body.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return Fetched(url, problem=NOT_JSON)

    def _too_large(self) -> str:
        return f"the answer is larger than {self.max_bytes // 1024} KiB"


def _describe(error: httpx.HTTPError) -> str:
    text = str(error) or type(error).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text or "TLS" in text:
        reason = text.split("] ", 1)[-1].split(" (_ssl")[0]
        return f"TLS failed: {reason} (trust its CA with preflight.caBundle in idpctl.yaml)"
    if isinstance(error, httpx.ConnectError):
        return f"unreachable: {text}"
    return f"{type(error).__name__}: {text}"


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
