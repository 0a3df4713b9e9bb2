"""How idpctl authorises its Azure Storage requests (the Blob state backend): Shared Key from a
connection string, a SAS token, or an Entra bearer token, each an `httpx.Auth`. Key, SAS and
token stay inside `Secret` values or callables; a logging filter masks a SAS signature in the
URLs httpx logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Generator
from urllib.parse import parse_qsl

import httpx

from idpctl.errors import ConfigError
from idpctl.model import Secret

__all__ = ["Bearer", "Sas", "SharedKey", "install_redaction", "parse_connection_string"]

_DEV_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the `UseDevelopmentStorage=true` shorthand): not a secret.
_DEV_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


class _RedactSas(logging.Filter):
    """httpx logs each request's URL, where a SAS's signature travels: mask it."""

    _SIG = re.compile(r"(?i)(\bsig=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._masked(str(a)) if self._SIG.search(str(a)) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._masked(record.msg)
        return True

    def _masked(self, text: str) -> str:
        return self._SIG.sub(r"\1(sensitive)", text)


def install_redaction() -> None:
    """Mask SAS signatures in httpx's request log lines (idempotent)."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactSas) for f in httpx_log.filters):
        httpx_log.addFilter(_RedactSas())


class SharedKey(httpx.Auth):
    """Shared Key authorisation (the account key signs each request)."""

    def __init__(self, account: str, key: Secret) -> None:
        self._account = account
        self._key = key

    def __repr__(self) -> str:
        return f"SharedKey(account={self._account!r}, key=(sensitive))"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {k.lower(): v.strip() for k, v in request.headers.items()}
        if headers.get("content-length") == "0":
            headers["content-length"] = ""
        canonical_headers = "".join(
            f"{k}:{headers[k]}\n" for k in sorted(headers) if k.startswith("x-ms-")
        )
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        resource = f"/{self._account}{path}"
        params: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True):
            params.setdefault(name.lower(), []).append(value)
        resource += "".join(f"\n{k}:{','.join(sorted(params[k]))}" for k in sorted(params))
        to_sign = "\n".join([request.method, *(headers.get(h, "") for h in _SIGNED_HEADERS)])
        to_sign += "\n" + canonical_headers + resource
        key = base64.b64decode(self._key.reveal())
        digest = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).digest()
        signature = base64.b64encode(digest).decode("ascii")
        request.headers["Authorization"] = f"SharedKey {self._account}:{signature}"
        yield request


class Sas(httpx.Auth):
    """A shared access signature appended to every request's query."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "Sas(token=(sensitive))"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pairs = parse_qsl(self._token.reveal().lstrip("?"), keep_blank_values=True)
        request.url = request.url.copy_merge_params(dict(pairs))
        yield request


class Bearer(httpx.Auth):
    """An Entra access token for Azure Storage from idpctl's own sign-in."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


def parse_connection_string(text: str) -> tuple[str, httpx.Auth]:
    """(account URL, auth) from an Azure Storage connection string. Never echoes it."""
    if text.strip().rstrip(";") == "UseDevelopmentStorage=true":
        return (
            f"http://127.0.0.1:10000/{_DEV_ACCOUNT}",
            SharedKey(_DEV_ACCOUNT, Secret(_DEV_KEY, source="development storage")),
        )
    parts: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts[name.strip().lower()] = value.strip()
    account = parts.get("accountname")
    url = parts.get("blobendpoint")
    if not url and account:
        protocol = parts.get("defaultendpointsprotocol", "https")
        url = f"{protocol}://{account}.blob.{parts.get('endpointsuffix', 'core.windows.net')}"
    if not url:
        raise ConfigError("state.connectionString names no BlobEndpoint and no AccountName")
    if parts.get("sharedaccesssignature"):
        return url.rstrip("/"), Sas(Secret(parts["sharedaccesssignature"], source="sas"))
    if not (account and parts.get("accountkey")):
        raise ConfigError(
            "state.connectionString needs AccountName and AccountKey, or SharedAccessSignature"
        )
    return url.rstrip("/"), SharedKey(account, Secret(parts["accountkey"], source="key"))
