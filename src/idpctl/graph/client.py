"""The one Graph client: every read and write idpctl makes goes through `GraphClient`.

It owns the HTTP details and nothing else (no diff logic): the bearer token, the version
root of each request (`/v1.0` or `/beta`, chosen per kind by `apiversions`), paging, retries
that never duplicate a write, Graph's error body turned into one line, the request budget,
and `$batch` (see `batch.py`, across versions `versioned.py`). Bodies, answers and error
lines are `wire.py`'s, the trace and the recorded exchange `trace.py`'s, the hint after a
401/403 `hints.py`'s. Its JSON encoder (`wire.encode`) is the one place that calls
`Secret.reveal()`; every revealed value was registered with `redact` when its Secret was made,
so no error or recorded line carries it back out (Graph echoes a created secret in the 201
body, GRAPH.md 4.1).

Retry rules, the core of it:

    read  (GET)          429/500/502/503/504, connect or read failure -> wait and retry
    write (POST/PATCH/DELETE)
        not executed     429, 503 with Retry-After, connect failure   -> wait and retry
                         (not a 429/503 to a `$batch` holding a create: -> outcome unknown)
        outcome unknown  timeout/drop after sending, 500/502/504,     -> WriteOutcomeUnknown,
                         503 without Retry-After                         never re-sent
    past the budget      429 -> ThrottledError; otherwise the last GraphError
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from idpctl import redact
from idpctl.config.apiversions import AVAILABLE_TYPES, BETA, VERSIONS
from idpctl.errors import GraphError, WriteOutcomeUnknown
from idpctl.graph import trace as tracing
from idpctl.graph import versioned
from idpctl.graph.batch import BatchOutcomeUnknown, BatchRequest, BatchResult
from idpctl.graph.hints import permission_hint
from idpctl.graph.tokens import decode_claims
from idpctl.graph.wire import Reply, encode, error_for, expect_object, parse, read_capped, url_path
from idpctl.net import tls
from idpctl.net.bearer import TokenSource
from idpctl.net.ratelimit import Budget, BudgetSpec, parse_budget
from idpctl.net.retry import Backoff, parse_retry_after

__all__ = [
    "PROVIDERS",
    "BatchOutcomeUnknown",
    "BatchRequest",
    "BatchResult",
    "GraphClient",
    "Reply",
]

log = logging.getLogger(__name__)

PROVIDERS = "/identity/identityProviders"
MAX_PAGES = 1000
GRAPH_HOSTS = frozenset(
    {
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
    }
)
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class GraphClient:
    """Microsoft Graph identity providers through `/v1.0` and `/beta`, over one pooled HTTPS
    client."""

    def __init__(
        self,
        base_url: str,
        *,
        token_provider: TokenSource,
        verify: str | bool | ssl.SSLContext = True,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_wait: float = 120.0,
        backoff_base: float = 0.5,
        rate_limit: float | str | None = None,
        budget: BudgetSpec | None = None,
        trace: bool = False,
        resource: str | None = None,
        transport: httpx.BaseTransport | None = None,
        list_version: str = BETA,
        recorder: tracing.Recorder | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        # relative URLs (user flows, $batch items without a version) resolve against beta
        self.root = f"{self.base_url}/beta"
        self.list_version = list_version  # apiversions.Versions.list_version
        # called with each exchange, secrets redacted, no headers (recording.FixtureRecorder)
        self.recorder = recorder
        # a sovereign cloud's token is for its own Graph; any other host (the emulator, a
        # proxy) stands in for the global one
        host = (parts.hostname or "").lower()
        self.resource = resource or (
            f"https://{host}" if host in GRAPH_HOSTS else "https://graph.microsoft.com"
        )
        self._origin = (parts.scheme, parts.netloc.lower())
        self._tokens = token_provider
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff_base = backoff_base
        # `budget` wins; else `rate_limit` (graph.rateLimit: per-app requests a minute, "off")
        self.budget = Budget(budget or parse_budget(rate_limit=rate_limit))
        self.bucket = self.budget  # the name batching.py pauses through
        self.trace = trace
        self._http = httpx.Client(
            verify=tls.verify(verify),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    # -- the public surface ------------------------------------------------------------------

    def version_root(self, version: str | None) -> str:
        """`<base>/v1.0` or `<base>/beta` (None: beta)."""
        version = version or BETA
        if version not in VERSIONS:
            raise ValueError(f"unknown Graph version {version!r}")
        return f"{self.base_url}/{version}"

    def list_providers(self, version: str | None = None) -> list[dict[str, Any]]:
        """Every provider, following each `@odata.nextLink` unmodified (GRAPH.md 5.4): one
        walk at `version` (default: `list_version`, apiversions)."""
        url: str | None = self.version_root(version or self.list_version) + PROVIDERS
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= MAX_PAGES:
                raise GraphError(f"Graph paging did not end (page {len(seen) + 1}: {url})")
            seen.add(url)
            page = self.request("GET", url).body
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise GraphError("Graph answered the provider list without a 'value' array")
            items.extend(page["value"])
            url = self._next_link(page.get("@odata.nextLink"))
        return items

    def get_provider(self, provider_id: str, version: str | None = None) -> dict[str, Any] | None:
        reply = self.request("GET", self._item(provider_id, version), missing_ok=True)
        if reply.status == 404:
            return None
        return expect_object(reply.body, "provider")

    def create_provider(
        self, body: Mapping[str, Any], version: str | None = None
    ) -> dict[str, Any]:
        reply = self.request("POST", self.version_root(version) + PROVIDERS, body=body)
        return expect_object(reply.body, "created provider")

    def update_provider(
        self, provider_id: str, body: Mapping[str, Any], version: str | None = None
    ) -> None:
        self.request("PATCH", self._item(provider_id, version), body=body)

    def delete_provider(self, provider_id: str, version: str | None = None) -> None:
        self.request("DELETE", self._item(provider_id, version))

    def available_provider_types(self) -> list[str]:
        """api-reference/v1.0/api/identityproviderbase-availableprovidertypes.md (v1.0)."""
        root = self.version_root(AVAILABLE_TYPES)
        body = self.request("GET", f"{root}{PROVIDERS}/availableProviderTypes").body
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise GraphError("Graph answered availableProviderTypes without a list of names")
        return values

    def batch(
        self, requests: Sequence[BatchRequest], *, concurrency: int = 4
    ) -> dict[str, BatchResult]:
        """Run requests through `$batch`, 20 at a time; see `idpctl.graph.batchrun.run`. A request
        whose url starts with `/v1.0/` or `/beta/` goes in a batch of that version (a batch
        holds one version's requests, GRAPH.md 5.1); one without a version is beta."""
        return versioned.run(self, requests, concurrency=concurrency)

    def token_claims(self) -> dict[str, Any]:
        """The claims of the access token this client sends (decoded, not verified): what
        the permission preflight reads `roles` and `scp` from."""
        return decode_claims(self._tokens.token(self.resource))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request, with retries ---------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        cost: int = 1,
        missing_ok: bool = False,
        write: bool | None = None,
        resend: bool = True,
    ) -> Reply:
        """Send one request with the retry rules above. `url` is absolute or relative to
        `/beta`. A 404 returns a Reply when `missing_ok`, else raises like any error.
        `write` overrides the method's kind (a `$batch` POST of GETs is a read); `cost` is
        what the request counts against the budget (a batch's item count). `resend=False`
        (a `$batch` holding a create) makes a 429/503 answer an unknown outcome instead of a
        retry: a proxy or Graph may answer so after the batch ran, and a create sent twice
        makes a twin."""
        method = method.upper()
        write = method in _WRITES if write is None else write
        if not url.startswith(("https://", "http://")):
            url = self.root + url
        content = encode(body) if body is not None else None
        backoff = Backoff(base=self.backoff_base, max_total=self.max_wait)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            ticket = self.budget.acquire(cost)
            try:
                outcome = self._attempt(method, url, content, write=write, missing_ok=missing_ok)
            finally:
                self.budget.answered(ticket)
            if isinstance(outcome, Reply):
                self._count_throttled_items(url, outcome)
                return outcome
            if outcome.status == 429:
                self.budget.throttled(outcome.retry_after, items=cost)
            if write and not resend and outcome.status in (429, 503):
                raise WriteOutcomeUnknown(
                    f"{method} {url_path(url)} got {outcome}; not re-sent, as it holds a create "
                    "(re-read before retrying)",
                    status=outcome.status,
                    code=outcome.code,
                    request_id=outcome.request_id,
                    retry_after=outcome.retry_after,
                )
            wait = None if last else backoff.next_wait(outcome.retry_after)
            if wait is None:
                raise outcome
            if outcome.status == 429:
                self.budget.pause(wait)
            log.debug("retrying %s %s in %.2fs after: %s", method, url, wait, outcome)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _attempt(
        self, method: str, url: str, content: bytes | None, *, write: bool, missing_ok: bool
    ) -> Reply | GraphError:
        """One try: a Reply, a retryable GraphError (returned), or a final error (raised)."""
        headers = {"Authorization": f"Bearer {self._tokens.token(self.resource)}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if self.trace:
            tracing.request_line(method, url, content)
        try:
            with self._http.stream(method, url, content=content, headers=headers) as response:
                raw = read_capped(response)
        except _NOT_SENT as error:
            failure = GraphError(f"cannot reach Graph at {self.base_url}: {redact.shorten(error)}")
            if "CERTIFICATE_VERIFY_FAILED" in str(error) or isinstance(
                error, httpx.UnsupportedProtocol
            ):
                raise GraphError(f"{failure} (check graph.url and graph.caBundle)") from None
            return failure
        except httpx.TransportError as error:
            if write:
                raise WriteOutcomeUnknown(
                    f"{method} {url_path(url)} was sent but no answer came back "
                    f"({type(error).__name__}); re-read before retrying"
                ) from None
            return GraphError(f"Graph read failed: {type(error).__name__}: {redact.shorten(error)}")
        return self._judge(
            method, url, response, raw, write=write, missing_ok=missing_ok, sent=content
        )

    def _judge(
        self,
        method: str,
        url: str,
        response: httpx.Response,
        raw: bytes,
        *,
        write: bool,
        missing_ok: bool,
        sent: bytes | None = None,
    ) -> Reply | GraphError:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            parsed = parse(raw, headers, status)
        except GraphError as error:
            if write:
                raise WriteOutcomeUnknown(
                    f"{method} {url_path(url)}: {error}", status=status, request_id=error.request_id
                ) from None
            raise
        if self.trace:
            tracing.response_line(status, headers, parsed)
        if self.recorder is not None:
            tracing.record(self.recorder, method, url, sent, status, parsed)
        self._ease_off(headers)
        if status < 400 or (status == 404 and missing_ok):
            return Reply(status, headers, parsed)
        failure = error_for(status, headers, parsed, hint=permission_hint(self._tokens))
        if not write:
            if status in (429, 500, 502, 503, 504):
                return failure
            raise failure
        if status == 429 or (status == 503 and failure.retry_after is not None):
            return failure
        if status in (500, 502, 503, 504):
            raise WriteOutcomeUnknown(
                f"{method} {url_path(url)} got {failure}; it may or may not have taken effect",
                status=status,
                code=failure.code,
                request_id=failure.request_id,
            )
        raise failure

    # -- what the answers say of the budget and the next page ------------------------------

    def _ease_off(self, headers: Mapping[str, str]) -> None:
        """Graph sends `x-ms-throttle-limit-percentage` (0.8 .. 1.8) once more than 80% of a
        limit is used (GRAPH.md 5.2): the budget lowers its ceiling if that is more than
        idpctl's own spend explains."""
        try:
            used = float(headers.get("x-ms-throttle-limit-percentage", ""))
        except ValueError:
            return
        if used >= 0.8:
            self.budget.ease(used)

    def _count_throttled_items(self, url: str, reply: Reply) -> None:
        """`$batch` items answered 429 (GRAPH.md 5.1): pause the budget until the longest
        `Retry-After` and lower its ceiling. Which items to send again is batching's call."""
        if not url.endswith("/$batch") or not isinstance(reply.body, dict):
            return
        responses = reply.body.get("responses")
        items = (
            [r for r in responses if isinstance(r, dict) and r.get("status") == 429]
            if isinstance(responses, list)
            else []
        )
        if not items:
            return
        waits = [
            parse_retry_after({str(k).lower(): str(v) for k, v in r["headers"].items()})
            if isinstance(r.get("headers"), dict)
            else None
            for r in items
        ]
        given = [w for w in waits if w is not None]
        self.budget.throttled(max(given) if given else None, items=len(items))

    def _next_link(self, link: Any) -> str | None:
        if link is None:
            return None
        if not isinstance(link, str):
            raise GraphError("Graph answered an @odata.nextLink that is not a string")
        parts = urllib.parse.urlsplit(link)
        if (parts.scheme, parts.netloc.lower()) != self._origin:
            # the bearer token must never travel to another host
            raise GraphError(f"Graph's @odata.nextLink points off {self.base_url}: refused")
        return link

    def _item(self, provider_id: str, version: str | None = None) -> str:
        root = self.version_root(version)
        return f"{root}{PROVIDERS}/{urllib.parse.quote(provider_id, safe='')}"
