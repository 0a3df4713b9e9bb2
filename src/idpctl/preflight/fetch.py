"""Careful HTTPS GETs of OpenID Connect metadata for the discovery preflight.

The URLs come from provider files, so from whoever wrote the pull request: every fetch is
bounded (docs/security.md, control 6). One `Fetcher` per run: TLS verified against the system
store plus an optional extra CA bundle, a timeout per connect or read, a total deadline per
fetch (a provider's discovery document and JWKS share one) and one for the whole run, a
streamed size limit, at most a few redirects (https only), and each distinct URL fetched once
even when several providers share it (thread-safe).

A deadline holds even against a server that drips one byte a second (which never trips a
per-read timeout): the Fetcher's connection pools use a network backend whose every connect,
TLS handshake, read and write gets at most the time left before the calling thread's deadline.

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

import httpcore
import httpx

from idpctl.net import tls

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BYTES",
    "NOT_JSON",
    "Deadline",
    "Fetched",
    "Fetcher",
    "Limits",
    "ssl_context",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 5.0
DEFAULT_PROVIDER_DEADLINE = 15.0
DEFAULT_RUN_DEADLINE = 60.0
DEFAULT_MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)
NOT_JSON = "the answer is not JSON"


@dataclass(frozen=True)
class Limits:
    """How long and how much the preflight may spend (idpctl.yaml `preflight:`).

    `timeout`: one connect or read; `provider_deadline`: everything fetched for one provider
    (discovery document, JWKS, their redirects); `run_deadline`: the whole preflight.
    """

    timeout: float = DEFAULT_TIMEOUT
    provider_deadline: float = DEFAULT_PROVIDER_DEADLINE
    run_deadline: float = DEFAULT_RUN_DEADLINE
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock, and the setting that put it there (for messages)."""

    at: float
    setting: str  # "preflight.providerDeadline" or "preflight.runDeadline"
    seconds: float

    def left(self) -> float:
        return self.at - time.monotonic()

    def describe(self) -> str:
        return f"stopped at the {self.seconds:g} s deadline ({self.setting})"


@dataclass(frozen=True)
class Fetched:
    """The outcome of one GET. `data` is the parsed JSON when `problem` is None."""

    url: str
    data: Any = None
    problem: str | None = None  # one line: what went wrong
    network: bool = False  # the problem is a network failure (reported as a warning)


def ssl_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The system trust store plus `ca_bundle` (a PEM file) when given: discovery fetches the
    providers' public endpoints, so a bundle adds to the system store (`net.tls`)."""
    return tls.ssl_context(ca_bundle, system=True)


class Fetcher:
    """GETs JSON documents once per URL. Use as a context manager (closes the client).

    The run deadline starts when the Fetcher is made.
    """

    def __init__(self, *, ca_bundle: Path | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.timeout = limits.timeout
        self.max_bytes = limits.max_bytes
        self.max_redirects = limits.max_redirects
        self.run_deadline = Deadline(
            time.monotonic() + limits.run_deadline, "preflight.runDeadline", limits.run_deadline
        )
        self._client = httpx.Client(
            verify=ssl_context(ca_bundle),
            timeout=limits.timeout,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )
        _bound_by_deadlines(self._client)
        self._lock = threading.Lock()
        self._seen: dict[str, Future[Fetched]] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def deadline(self) -> Deadline:
        """The deadline for one provider's fetches starting now (never past the run's)."""
        seconds = self.limits.provider_deadline
        mine = Deadline(time.monotonic() + seconds, "preflight.providerDeadline", seconds)
        return mine if mine.at < self.run_deadline.at else self.run_deadline

    def get(self, url: str, *, deadline: Deadline | None = None) -> Fetched:
        """The document at `url`, fetched by `deadline` (default: a provider's deadline from
        now); a second call for the same URL waits for the first, by its own deadline."""
        deadline = deadline or self.deadline()
        if deadline.left() <= 0:
            return Fetched(url, problem=f"not fetched: {deadline.describe()}", network=True)
        with self._lock:
            future = self._seen.get(url)
            owner = future is None
            if future is None:
                future = self._seen[url] = Future()
        if owner:
            try:
                future.set_result(self._fetch(url, deadline))
            except Exception as error:  # never leave waiters hanging
                future.set_result(
                    Fetched(url, problem=f"{type(error).__name__}: {error}", network=True)
                )
        try:
            return future.result(timeout=max(0.0, deadline.left()))
        except TimeoutError:
            return Fetched(url, problem=deadline.describe(), network=True)

    def _fetch(self, url: str, deadline: Deadline) -> Fetched:
        current = url
        _CURRENT.deadline = deadline
        try:
            for _ in range(self.max_redirects + 1):
                if urlsplit(current).scheme != "https":
                    return Fetched(url, problem=f"{_short(current)} is not an https URL")
                outcome = self._attempt(current, deadline)
                if isinstance(outcome, Fetched):
                    return Fetched(url, outcome.data, outcome.problem, outcome.network)
                current = urljoin(current, outcome)
        finally:
            _CURRENT.deadline = None
        return Fetched(url, problem=f"more than {self.max_redirects} redirects (a redirect loop?)")

    def _attempt(self, url: str, deadline: Deadline) -> Fetched | str:
        try:
            return self._one(url, deadline)
        except httpx.TimeoutException:
            if deadline.left() <= 0:
                return Fetched(url, problem=deadline.describe(), network=True)
            return Fetched(url, problem=f"timed out after {self.timeout:g} s", network=True)
        except httpx.HTTPError as error:
            return Fetched(url, problem=_describe(error), network=True)

    def _one(self, url: str, deadline: Deadline) -> Fetched | str:
        """A Fetched, or the Location to follow."""
        with self._client.stream("GET", url) as response:
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                return response.headers["location"]
            if response.status_code != 200:
                network = response.status_code >= 500 or response.status_code == 429
                return Fetched(
                    url, problem=f"answered HTTP {response.status_code}", network=network
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                return Fetched(url, problem=self._too_large())
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    return Fetched(url, problem=self._too_large())
                if deadline.left() <= 0:
                    return Fetched(url, problem=deadline.describe(), network=True)
        try:
            return Fetched(url, data=json.loads(body.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return Fetched(url, problem=NOT_JSON)

    def _too_large(self) -> str:
        return f"the answer is larger than {self.max_bytes // 1024} KiB"


# -- the deadline at the socket -----------------------------------------------------------------

_CURRENT = threading.local()  # .deadline: the Deadline of the fetch running on this thread


def _clamp(timeout: float | None, timed_out: type[Exception]) -> float | None:
    """`timeout`, cut to the time left before this thread's deadline (raise when none is)."""
    deadline: Deadline | None = getattr(_CURRENT, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline.left()
    if left <= 0:
        raise timed_out(deadline.describe())
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the calling thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
        )
        return _BoundedStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every connection a `_BoundedStream`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _BoundedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _BoundedStream(
            self._inner.connect_unix_socket(
                path, _clamp(timeout, httpcore.ConnectTimeout), socket_options
            )
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_by_deadlines(client: httpx.Client) -> None:
    """Put `_BoundedBackend` under every connection pool of `client` (direct and proxied).

    httpx does not expose the network backend, so this sets httpcore's pool attribute; if a
    new httpx or httpcore moves it, this raises instead of fetching without a deadline.
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in filter(None, transports):
        pool: Any = getattr(transport, "_pool", None)  # httpcore's pool: untyped internals
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError(
                "the preflight cannot bound its fetches with this httpx/httpcore"
                f" ({httpx.__version__}/{httpcore.__version__})"
            )
        if not isinstance(backend, _BoundedBackend):
            pool._network_backend = _BoundedBackend(backend)


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
