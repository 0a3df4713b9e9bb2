"""The URL rules of OIDC providers that a JSON Schema cannot say: an issuer is an https URL
outside Microsoft Entra's sign-in hosts, a discovery URL ends in the well-known path, and the
response types and scope each kind supports (GRAPH.md 2.6).

Messages never quote the URL: a value might be a secret pasted in the wrong place.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from idpctl.config.document import KeyPath
from idpctl.model import Provider

__all__ = ["ENTRA_ISSUER_DOMAINS", "is_entra_host", "oidc_rules"]

# Microsoft Entra sign-in hosts in every cloud (a host or any subdomain of one): an issuer
# there is another Entra tenant, which cannot be an OIDC provider (GRAPH.md 2.6, ed-oidc)
ENTRA_ISSUER_DOMAINS = (
    "microsoftonline.com",
    "microsoftonline.us",
    "microsoftonline.de",
    "microsoftonline.cn",
    "login.chinacloudapi.cn",
    "sts.chinacloudapi.cn",
    "sts.windows.net",
    "login.windows.net",
    "login.microsoft.com",
    "ciamlogin.com",
)
_WELL_KNOWN = ".well-known/openid-configuration"


def oidc_rules(provider: Provider) -> list[tuple[KeyPath, str]]:
    """(field, message) for each URL, response type or scope rule an OIDC provider breaks;
    nothing for other kinds."""
    fields = provider.fields
    found: list[tuple[KeyPath, str]] = []
    if provider.kind == "oidcIdentityProvider":
        found += _issuer_rules(fields.get("issuer"))
        found += _discovery_rules("wellKnownEndpoint", fields.get("wellKnownEndpoint"))
        if fields.get("responseType") in ("id_token", "token"):
            found.append(
                (
                    ("responseType",),
                    "responseType: only code works for "
                    "oidcIdentityProvider (id_token and token are not "
                    "supported)",
                )
            )
    elif provider.kind == "openIdConnectIdentityProvider":
        found += _discovery_rules("metadataUrl", fields.get("metadataUrl"))
        if fields.get("responseType") == "token":
            found.append(
                (
                    ("responseType",),
                    "responseType: token is not supported by B2C (use code or id_token)",
                )
            )
    else:
        return found
    scope = fields.get("scope")
    if isinstance(scope, str) and "openid" not in scope.split():
        found.append(
            (("scope",), "scope must contain openid (space-separated, e.g. 'openid profile email')")
        )
    return found


def _split(url: str) -> urllib.parse.SplitResult | None:
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts


def _issuer_rules(issuer: Any) -> list[tuple[KeyPath, str]]:
    if not isinstance(issuer, str):
        return []
    parts = _split(issuer)
    host = _host(parts) if parts is not None and "\\" not in issuer else None
    if parts is None or not issuer.startswith("https://") or not host:
        return [(("issuer",), "issuer must be an https URL (https://host[:port][/path])")]
    if "?" in issuer or "#" in issuer:
        return [(("issuer",), "issuer must not have a query or fragment")]
    if is_entra_host(host):
        return [
            (
                ("issuer",),
                "issuer on a Microsoft Entra sign-in host is refused: another "
                "Entra tenant cannot be configured as an OIDC provider",
            )
        ]
    return []


def is_entra_host(host: str) -> bool:
    """Whether `host` (normalised by `_host`) is a Microsoft Entra sign-in host."""
    return any(host == d or host.endswith("." + d) for d in ENTRA_ISSUER_DOMAINS)


def _host(parts: urllib.parse.SplitResult) -> str | None:
    """The host as DNS sees it: percent-decoded, IDNA-mapped (which lowercases and folds
    full-width forms), without the trailing dot of a fully qualified name; None when it is
    not a valid host name."""
    raw = urllib.parse.unquote(parts.hostname or "").rstrip(".")
    try:
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = host.split(".")
    if not host or any(not label for label in labels):
        return None
    if any(label.startswith("xn--") and not _punycode_ok(label) for label in labels):
        return None
    return host


def _punycode_ok(label: str) -> bool:
    try:
        label.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def _discovery_rules(name: str, url: Any) -> list[tuple[KeyPath, str]]:
    if not isinstance(url, str):
        return []
    parts = _split(url)
    if parts is None or not url.startswith("https://") or not parts.hostname:
        return [((name,), f"{name} must be an https URL")]
    if parts.fragment or not parts.path.rstrip("/").endswith(_WELL_KNOWN):
        return [((name,), f"{name} must end in {_WELL_KNOWN} (the OIDC discovery document)")]
    return []
