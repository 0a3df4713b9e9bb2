"""What to grant after a 401 or 403 from Graph: the one wording of the permission hint.

An app signs in with an application permission; a person (auth.mode azureCli or deviceCode)
needs a delegated scope AND a directory role (GRAPH.md, from api-reference/v1.0/api/
identitycontainer-list-identityproviders.md and identitycontainer-post-identityproviders.md:
in delegated calls the signed-in user needs a supported Entra role, External Identity Provider
Administrator the least privileged; the role names are the ones `cli/whoami.py` checks in
`wids`).
"""

from __future__ import annotations

__all__ = ["DELEGATED_PERMISSION_HINT", "PERMISSION_HINT", "PERSON_MODES", "permission_hint"]

PERMISSION_HINT = (
    "the app needs the IdentityProvider.ReadWrite.All application permission "
    "with admin consent (IdentityProvider.Read.All is enough for plan)"
)
DELEGATED_PERMISSION_HINT = (
    "the signed-in account needs the External Identity Provider Administrator directory "
    "role (or Global Administrator) in this tenant, and the sign-in the delegated scope "
    "IdentityProvider.ReadWrite.All (IdentityProvider.Read.All is enough for plan) with "
    "consent; an application permission does not apply to a person's sign-in"
)
PERSON_MODES = frozenset({"azureCli", "deviceCode"})  # auth.mode values where a person signs in


def permission_hint(tokens: object) -> str:
    """Delegated wording when a person signed in (a token source whose `mode` is azureCli or
    deviceCode, as `tokens.TokenProvider` has), else the application permission."""
    return (
        DELEGATED_PERMISSION_HINT
        if getattr(tokens, "mode", None) in PERSON_MODES
        else PERMISSION_HINT
    )
