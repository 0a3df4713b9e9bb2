"""Secret sources that need a network: HashiCorp Vault / OpenBao KV v2 and Azure Key Vault.

Each source returns `(value, version)` or raises `idpctl.secrets.context.SourceError` with a
value-free reason; `idpctl.secrets.context.Resolver` names the reference and where it is used.
Their reads retry with `idpctl.net.retry.read_with_retries` and trust what
`idpctl.net.tls.verify` builds, like every other HTTP caller.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["json_object"]


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; {} for anything else (an error page, a list, no body)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
