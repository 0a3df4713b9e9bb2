"""The one shape of a bearer-token source, for every caller that sends a token.

`TokenSource.token(resource)` returns an access token for `resource` (the Graph root, a Key
Vault or Storage resource), signing in on first use. The Graph client
(`idpctl.graph.client.GraphClient`) and a `{keyVault:}` secret source
(`idpctl.secrets.context.context_for`) both take one; `idpctl.graph.tokens.TokenProvider`
(msal, the Azure CLI, the device-code flow) is the one idpctl builds. Every token a source
hands out is registered with `idpctl.redact` before it is returned.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["TokenSource"]


class TokenSource(Protocol):
    """A bearer token for a resource (e.g. `https://graph.microsoft.com`)."""

    def token(self, resource: str) -> str: ...
