"""Secret sources that need a network: HashiCorp Vault / OpenBao KV v2 and Azure Key Vault.

Each source returns `(value, version)` or raises `idpctl.secrets.SourceError` with a
value-free reason; `idpctl.secrets.Resolver` names the reference and where it is used.
"""

from __future__ import annotations

import ssl

__all__ = ["tls_verify"]


def tls_verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx's `verify=` for True/False, an SSLContext, or a CA bundle path.

    Raises OSError or ssl.SSLError when the bundle cannot be read; sources turn that into a
    one-line reason."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
