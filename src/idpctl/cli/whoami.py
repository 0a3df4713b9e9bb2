"""`idpctl whoami`: sign in as a run would, and say who that is and what it may do.

Prints the tenant, client id, sign-in mode and the roles in the Graph token; exit 1 with the
steps to fix it when `IdentityProvider.ReadWrite.All` is not granted.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

__all__ = ["EXAMPLES", "HELP", "WRITE_PERMISSION", "add_arguments", "describe", "run"]

HELP = "sign in and show the tenant, client, auth mode and granted roles"
EXAMPLES = (
    "idpctl whoami",
    "idpctl whoami --env prod",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No flags of its own: the global ones say which tenant and credentials."""


WRITE_PERMISSION = "IdentityProvider.ReadWrite.All"
READ_PERMISSION = "IdentityProvider.Read.All"
# a person's token (azureCli): the scope alone is not enough, the account needs a directory
# role that manages identity providers (api-reference/v1.0/api/identitycontainer-list-
# identityproviders.md: "External Identity Provider Administrator is the least privileged
# role"); role template ids as the token's `wids` claim lists them
MANAGING_ROLES = {
    "be2f45a1-457d-42af-a067-6ec1fa63bc45": "External Identity Provider Administrator",
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
}
# Directory.AccessAsUser.All: the account's own rights, as the Azure CLI's Graph token has
WRITE_SCOPES = {WRITE_PERMISSION, "Directory.AccessAsUser.All"}


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import pipeline
    from idpctl.graph.client import GraphClient
    from idpctl.net import tls

    settings = pipeline.load_settings(args)
    tokens = pipeline.token_provider(settings)
    client = GraphClient(
        settings.graph_url, token_provider=tokens, verify=tls.bundle_verify(settings.ca_bundle)
    )
    try:
        claims = tokens.claims(tokens.token(client.resource))
    finally:
        client.close()
    lines, ok = describe(
        claims,
        tenant=settings.tenant,
        mode=tokens.mode,
        detail=tokens.detail,
        client_id=tokens.client_id,
        authority=settings.authority,
        graph_url=settings.graph_url,
    )
    print("\n".join(lines))
    return 0 if ok else 1


def describe(
    claims: Mapping[str, Any],
    *,
    tenant: str,
    mode: str,
    detail: str,
    client_id: str | None,
    authority: str,
    graph_url: str,
) -> tuple[list[str], bool]:
    """The report's lines and whether the identity may write identity providers."""
    roles = sorted(str(r) for r in claims.get("roles") or [] if isinstance(r, str))
    scopes = sorted(str(claims.get("scp") or "").split())
    granted = set(roles) | set(scopes)
    app = claims.get("appid") or claims.get("azp") or client_id or "(unknown)"
    lines = [
        f"tenant:     {tenant} (token tenant {claims.get('tid', 'unknown')})",
        f"client id:  {app}",
        f"auth mode:  {mode} ({detail})",
        f"authority:  {authority.rstrip('/')}/{tenant}",
        f"graph:      {graph_url}",
        f"roles:      {', '.join(roles) if roles else '(none)'}",
    ]
    if scopes:
        lines.append(f"scopes:     {', '.join(scopes)}")
    person = claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username")
    if person or (scopes and not roles):
        return _person(lines, claims, str(person or claims.get("oid") or "(unknown)"), set(scopes))
    if WRITE_PERMISSION in granted:
        lines.append(f"ok:         {WRITE_PERMISSION} is granted: plan and apply can run")
        return lines, True
    can_read = READ_PERMISSION in granted
    lines.append(
        f"missing:    {WRITE_PERMISSION} is not granted to {app}, so apply will fail"
        + (
            f" (plan works: {READ_PERMISSION} is granted)."
            if can_read
            else f" and plan will too ({READ_PERMISSION} is not granted either)."
        )
    )
    lines.append(
        "fix:        Entra admin center > App registrations > this app > API permissions > "
        f"Add a permission > Microsoft Graph > Application permissions > {WRITE_PERMISSION}, "
        "then 'Grant admin consent' (for a managed identity, assign the app role with "
        "New-MgServicePrincipalAppRoleAssignment)"
    )
    return lines, False


def _person(
    lines: list[str], claims: Mapping[str, Any], person: str, scopes: set[str]
) -> tuple[list[str], bool]:
    """A signed-in person: the scopes and the account's directory roles together decide."""
    held = [MANAGING_ROLES[w] for w in claims.get("wids") or [] if w in MANAGING_ROLES]
    can_write = bool(scopes & WRITE_SCOPES) and bool(held)
    can_read = bool(scopes & (WRITE_SCOPES | {READ_PERMISSION})) and bool(held)
    lines[1:1] = [f"signed in:  {person}"]
    none = "(none that manage identity providers)"
    lines.append(f"dir. roles: {', '.join(held) if held else none}")
    lines.append(f"plan:       {'allowed' if can_read else 'not allowed'}")
    lines.append(f"apply:      {'allowed' if can_write else 'not allowed'}")
    if not held:
        lines.append(
            "fix:        ask an administrator for the External Identity Provider "
            "Administrator role (Entra admin center > Roles and administrators), "
            "then sign in again (`az login`)"
        )
    return lines, can_write
