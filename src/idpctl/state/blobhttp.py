"""The Blob REST transport of the Azure Blob state store: one blob's requests, with the
`x-ms-version` and `x-ms-date` headers, tried again on a transient failure (a dropped or
timed-out connection, 408, 429, 500, 502, 503 with ServerBusy, 504) with idpctl's one
backoff policy (`net.retry.Backoff`, honouring Retry-After). What a retry means for each
write is `state.azureblob`'s concern: an answer says whether an earlier try may have run
(`retried`). Internal: no stable Python API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from urllib.parse import unquote

import httpx

from idpctl.errors import StateError
from idpctl.net import tls
from idpctl.net.retry import Backoff, parse_retry_after

__all__ = ["API_VERSION", "BlobHttp", "metadata", "retried"]

log = logging.getLogger(__name__)

API_VERSION = "2021-12-02"
# answers worth another try: the request may not have run, or storage is busy (ServerBusy)
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_RETRIED = "idpctl_retried"  # response.extensions key: True when an earlier try was lost


class BlobHttp:
    """Requests about the blob at `url` (named in every error), through one httpx client.
    `max_retries`, `backoff_base` and `max_wait` shape the retries and may be changed."""

    def __init__(
        self,
        url: str,
        *,
        auth: httpx.Auth,
        verify: str | bool = True,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self._client = httpx.Client(
            auth=auth, verify=tls.verify(verify), timeout=timeout, transport=transport
        )
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        ok: tuple[int, ...],
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request, tried again on a transient failure (see the module docstring); the
        answer's `retried(...)` says whether an earlier try may have run."""
        backoff = Backoff(base=self.backoff_base, cap=8.0, max_total=self.max_wait)
        for attempt in range(self.max_retries + 1):
            outcome = self._try(method, url, params=params, headers=headers, content=content)
            if isinstance(outcome, httpx.Response) and (
                outcome.status_code in ok or outcome.status_code not in _TRANSIENT
            ):
                outcome.extensions[_RETRIED] = attempt > 0
                if outcome.status_code not in ok:
                    raise _refused(self.url, method, outcome)
                return outcome
            after = (
                parse_retry_after(outcome.headers) if isinstance(outcome, httpx.Response) else None
            )
            wait = backoff.next_wait(after) if attempt < self.max_retries else None
            if wait is None:
                if isinstance(outcome, httpx.Response):
                    raise _refused(self.url, method, outcome)
                raise StateError(
                    f"cannot reach state blob {self.url}: {type(outcome).__name__}"
                ) from None
            log.debug(
                "state blob %s: %s answered %s; trying again in %.2fs",
                self.url,
                method,
                _what(outcome),
                wait,
            )
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _try(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        content: bytes | None,
    ) -> httpx.Response | httpx.TransportError:
        sent = {
            "x-ms-version": API_VERSION,
            "x-ms-date": formatdate(usegmt=True),
            **(headers or {}),
        }
        try:
            return self._client.request(method, url, params=params, headers=sent, content=content)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise StateError(
                f"cannot reach state blob {self.url}: {type(error).__name__}"
            ) from None
        except httpx.ConnectError as error:
            if "CERTIFICATE_VERIFY_FAILED" in str(error):
                raise StateError(
                    f"cannot reach state blob {self.url}: ConnectError "
                    "(TLS certificate not trusted; check graph.caBundle)"
                ) from None
            return error
        except httpx.TransportError as error:
            return error
        except httpx.HTTPError as error:
            raise StateError(
                f"cannot reach state blob {self.url}: {type(error).__name__}"
            ) from None


def retried(response: httpx.Response) -> bool:
    """Whether an earlier try of this request may have run (its answer was lost)."""
    return bool(response.extensions.get(_RETRIED))


def metadata(headers: httpx.Headers) -> dict[str, str]:
    """The blob's metadata from `x-ms-meta-*` headers: names lower-cased, values unquoted."""
    return {
        k[len("x-ms-meta-") :].lower(): unquote(v)
        for k, v in headers.items()
        if k.lower().startswith("x-ms-meta-")
    }


def _what(outcome: httpx.Response | httpx.TransportError) -> str:
    if isinstance(outcome, httpx.Response):
        return f"{outcome.status_code} {outcome.headers.get('x-ms-error-code', '')}".rstrip()
    return type(outcome).__name__


def _refused(url: str, method: str, response: httpx.Response) -> StateError:
    code = response.headers.get("x-ms-error-code", "")
    hint = " (check the key, SAS or sign-in)" if response.status_code in (401, 403) else ""
    return StateError(
        f"state blob {url}: {method} answered {response.status_code} {code}{hint}".rstrip()
    )
