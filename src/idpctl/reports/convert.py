"""Convert B2C provider files into External ID ones. Pure: parsed YAML in, documents and a
report out (the issuer lookup is passed in; `cli/convert.py` does the I/O).

    result = convert_document(data, kinds=kinds, issuer_for=lookup, label="social.yaml")
    result.document      # the converted file's data, or None when nothing is left in it
    result.notes         # every field or provider that could not be carried, and why

Rules (docs/migration.md):

- `openIdConnectIdentityProvider` (and the legacy `openIdConnectProvider`, first read as one)
  becomes `oidcIdentityProvider`: `metadataUrl` -> `wellKnownEndpoint`; `issuer` from
  `issuer_for(displayName, metadataUrl)` (the discovery document, or an option), else a
  placeholder that `idpctl validate` refuses; `claimsMapping` -> `inboundClaimMapping`
  (userId -> sub, displayName -> name, givenName -> given_name, surname -> family_name,
  email -> email); `responseType: code`; `clientAuthentication: {method: client_secret_post,
  clientSecret: <the same reference>}`. `responseMode` and `domainHint` have no External ID
  field and are reported.
- `socialIdentityProvider` of a type External ID offers (Google, Facebook) and
  `appleManagedIdentityProvider` are kept; other social types are left out and listed with
  what to do instead.
- `userFlows` names B2C user flows, which do not exist in the new tenant, and `moved` names a
  B2C address: both are left out and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from idpctl.kinds import Kinds, migrate_legacy

__all__ = ["CLAIMS", "ISSUER_PLACEHOLDER", "Converted", "Note", "convert_document"]

CLAIMS = {
    "userId": "sub",
    "displayName": "name",
    "givenName": "given_name",
    "surname": "family_name",
    "email": "email",
}
ISSUER_PLACEHOLDER = "REPLACE-ME: the issuer of {url}"
B2C_OIDC = "openIdConnectIdentityProvider"
OIDC = "oidcIdentityProvider"
INSTEAD = {
    "Microsoft": "add Microsoft accounts as a custom OIDC provider (oidcIdentityProvider) "
    "with issuer https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-"
    "36a304b66dad/v2.0, or leave them to workforce federation",
}
INSTEAD_DEFAULT = (
    "External ID has no {type} social provider: if {type} offers OpenID "
    "Connect, declare it as an oidcIdentityProvider; otherwise it cannot sign "
    "users in to the new tenant"
)


@dataclass(frozen=True)
class Note:
    """One thing that could not be carried over: `where` names the file and provider."""

    where: str
    field: str  # the field, or "(provider)" for a provider left out
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class Converted:
    document: Any  # the converted file's data; None when no provider is left
    notes: tuple[Note, ...]
    providers: int  # providers written


IssuerFor = Callable[[str, str | None], str | None]


def convert_document(data: Any, *, kinds: Kinds, issuer_for: IssuerFor, label: str) -> Converted:
    """One provider file's data (one provider, or `providers: [...]`) converted."""
    notes: list[Note] = []
    if isinstance(data, Mapping) and "providers" in data and "kind" not in data:
        items = [
            _item(i, kinds=kinds, issuer_for=issuer_for, label=label, notes=notes)
            for i in data.get("providers") or []
        ]
        kept = [i for i in items if i is not None]
        document = {"providers": kept} if kept else None
        return Converted(document, tuple(notes), len(kept))
    item = _item(data, kinds=kinds, issuer_for=issuer_for, label=label, notes=notes)
    return Converted(item, tuple(notes), 0 if item is None else 1)


def _item(
    item: Any, *, kinds: Kinds, issuer_for: IssuerFor, label: str, notes: list[Note]
) -> dict[str, Any] | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("kind"), str):
        notes.append(Note(label, "(provider)", "not a provider mapping with a kind: left out"))
        return None
    kind = item["kind"]
    if kind in kinds.legacy:
        item, _ = migrate_legacy(item, kinds)
        kind = item["kind"]
    name = item.get("displayName") or item.get("identityProviderType") or kind
    where = (
        f"{label} {kind}/{name}" if kind != "appleManagedIdentityProvider" else f"{label} {kind}"
    )
    out = _common(item, where, notes)
    if kind == B2C_OIDC:
        return {**out, **_oidc(item, where, issuer_for, notes)} | _meta_after(item)
    if kind == "socialIdentityProvider":
        allowed = _social_types(kinds)
        kind_of = item.get("identityProviderType")
        if kind_of not in allowed:
            reason = INSTEAD.get(str(kind_of), INSTEAD_DEFAULT.format(type=kind_of))
            notes.append(Note(where, "(provider)", f"left out: {reason}"))
            return None
    if kind in ("socialIdentityProvider", "appleManagedIdentityProvider"):
        return {
            **out,
            **{k: v for k, v in item.items() if k not in _META and k != "kind"},
        } | _meta_after(item)
    notes.append(Note(where, "(provider)", f"{kind} has no External ID equivalent: left out"))
    return None


_META = ("kind", "protected", "ensure", "userFlows", "secretPolicy", "moved")


def _common(item: Mapping[str, Any], where: str, notes: list[Note]) -> dict[str, Any]:
    kind = OIDC if item["kind"] == B2C_OIDC else item["kind"]
    out: dict[str, Any] = {"kind": kind}
    if "userFlows" in item:
        notes.append(
            Note(
                where,
                "userFlows",
                "names B2C user flows, which the External ID "
                "tenant does not have: left out; link the "
                "provider to the new tenant's flows",
            )
        )
    if "moved" in item:
        notes.append(Note(where, "moved", "names a B2C address: left out"))
    return out


def _meta_after(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("protected", "ensure", "secretPolicy") if k in item}


def _oidc(
    item: Mapping[str, Any], where: str, issuer_for: IssuerFor, notes: list[Note]
) -> dict[str, Any]:
    out: dict[str, Any] = {"displayName": item.get("displayName")}
    if item.get("ensure") == "absent":
        return out
    url = item.get("metadataUrl")
    out["clientId"] = item.get("clientId")
    issuer = issuer_for(str(out["displayName"]), url if isinstance(url, str) else None)
    if issuer is None:
        issuer = ISSUER_PLACEHOLDER.format(url=url)
        notes.append(
            Note(
                where,
                "issuer",
                "not known offline: replace the placeholder with "
                "the discovery document's issuer (or give "
                "--issuer 'NAME=URL'); validate refuses it",
            )
        )
    out["issuer"] = issuer
    out["wellKnownEndpoint"] = url
    if item.get("responseType", "code") != "code":
        notes.append(
            Note(
                where,
                "responseType",
                f"{item['responseType']}: External ID takes code only; written as code",
            )
        )
    out["responseType"] = "code"
    out["scope"] = item.get("scope", "openid")
    auth: dict[str, Any] = {"method": "client_secret_post"}
    if "clientSecret" in item:
        auth["clientSecret"] = item["clientSecret"]
    out["clientAuthentication"] = auth
    out["inboundClaimMapping"] = _claims(item.get("claimsMapping") or {}, where, notes)
    for dropped, why in (
        ("responseMode", "External ID posts the response itself"),
        ("domainHint", "External ID has no domain hint per provider"),
    ):
        if dropped in item:
            notes.append(
                Note(where, dropped, f"{item[dropped]}: no External ID field ({why}): left out")
            )
    return out


def _claims(mapping: Mapping[str, Any], where: str, notes: list[Note]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in CLAIMS:
            out[CLAIMS[key]] = value
        else:
            notes.append(
                Note(
                    where,
                    f"claimsMapping.{key}",
                    f"{value}: no inboundClaimMapping field for it: left out",
                )
            )
    if "email" not in out:
        out["email"] = "email"
        notes.append(
            Note(
                where,
                "inboundClaimMapping.email",
                "External ID requires it and B2C did not map it: written as the "
                "`email` claim; check the IdP sends it",
            )
        )
    return out


def _social_types(kinds: Kinds) -> frozenset[str]:
    prop = kinds.schema("socialIdentityProvider")["properties"]["identityProviderType"]
    return frozenset(prop.get("x-allowedByTenantKind", {}).get("external", ()))
