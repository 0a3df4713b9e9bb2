"""The one CA-bundle -> SSL context builder for every HTTPS caller.

A configured CA bundle (`graph.caBundle`, `vault.caBundle`) REPLACES the system trust store
for Graph, sign-in, Key Vault, Vault, Blob state and the OIDC token fetch: a proxy or a test
emulator with its own CA is trusted, and nothing else. Preflight discovery fetches the
providers' own public endpoints, so there a bundle (`preflight.caBundle`) is ADDED to the
system store (`system=True`). Certificate and host-name checks are never turned off here:
`verify=False` passes through only where a user asked for it in so many words.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["bundle_verify", "ssl_context", "verify"]


def ssl_context(ca_bundle: str | Path | None = None, *, system: bool = False) -> ssl.SSLContext:
    """A verifying client context: the system store when `ca_bundle` is None; else only the
    bundle, or (`system=True`) the system store plus the bundle. OSError or ssl.SSLError when
    the bundle cannot be read; callers turn that into a one-line reason."""
    if ca_bundle is None:
        return ssl.create_default_context()
    if not system:
        return ssl.create_default_context(cafile=str(ca_bundle))
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(ca_bundle))
    return context


def verify(value: bool | str | Path | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx's `verify=` for True/False, an SSLContext, or a CA bundle path (which then is the
    only trust)."""
    if isinstance(value, str | Path):
        return ssl_context(value)
    return value


def bundle_verify(ca_bundle: str | Path | None) -> str | bool:
    """The `verify` setting for a configured `caBundle`: its path, or True (system store)."""
    return str(ca_bundle) if ca_bundle else True
