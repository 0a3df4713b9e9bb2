"""The read side: live providers from Graph, normalised for the planner.

Graph spells `@odata.type` with or without `#` and in varying case (GRAPH.md 7.9), masks
write-only values with a varying number of asterisks or leaves them out (GRAPH.md 7.5), and
may list types idpctl does not know. Normalising makes all of that one shape:

- `odata_type` canonical (`#microsoft.graph.oidcIdentityProvider`), nested ones too;
- a masked, null or missing write-only value is `UNKNOWN`: neither equal, nor different, nor empty;
- an item of a type idpctl does not know comes back with `kind=None` and is never touched.

A response that is not what Graph sends (not an object, no id) is a `GraphError`, not a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from idpctl.errors import GraphError
from idpctl.model import UNKNOWN, Kind, LiveProvider

__all__ = ["canonical_type", "fetch", "is_masked", "normalise", "tenant_kind"]

NAMESPACE = "microsoft.graph."
# nested complex types Graph sends inside providers (GRAPH.md 2.7, 3.1, 3.2)
NESTED_TYPES = (
    "oidcClientSecretAuthentication",
    "oidcPrivateJwtKeyClientAuthentication",
    "oidcInboundClaimMappingOverride",
    "oidcAddressInboundClaims",
    "claimsMapping",
)
# client authentication subtypes that carry no secret: nothing write-only is missing there
_SECRETLESS = frozenset({"#microsoft.graph.oidcprivatejwtkeyclientauthentication"})
_MASK = re.compile(r"^\*+$")
# what the provider list shows of a tenant's kind (GRAPH.md 2.1, 2.3, 2.8; docs/emulator-graph.md)
_KIND_BY_TYPE = {"oidcIdentityProvider": "external", "openIdConnectIdentityProvider": "b2c"}
_KIND_BY_BUILTIN = {"EmailPassword": "external", "MicrosoftAccount": "workforce"}
_WORKFORCE_SOCIAL = frozenset({"Google", "Facebook"})  # any other social type is B2C's


class ProviderSource(Protocol):
    def list_providers(self) -> list[dict]: ...


def fetch(graph: ProviderSource, kinds: Mapping[str, Kind]) -> tuple[LiveProvider, ...]:
    """Every live provider (one list walk), normalised; unknown types included, kind None."""
    items = graph.list_providers()
    if not isinstance(items, list):
        raise GraphError("Graph's provider list is not a list")
    providers = tuple(normalise(item, kinds) for item in items)
    seen: set[str] = set()
    for provider in providers:
        if provider.id in seen:
            raise GraphError(f"Graph listed provider id {provider.id!r} twice")
        seen.add(provider.id)
    return providers


def normalise(item: Any, kinds: Mapping[str, Kind]) -> LiveProvider:
    """One list item as a LiveProvider (see the module doc)."""
    if not isinstance(item, Mapping):
        raise GraphError(f"Graph listed a provider that is not an object ({type(item).__name__})")
    provider_id = item.get("id")
    if not isinstance(provider_id, str) or not provider_id:
        raise GraphError("Graph listed a provider without a string id")
    raw_type = item.get("@odata.type")
    if raw_type is not None and not isinstance(raw_type, str):
        raise GraphError(f"Graph listed provider {provider_id!r} with a non-string @odata.type")
    kind = _kind_for(raw_type or "", kinds)
    odata_type = kind.odata_type if kind else canonical_type(raw_type or "")
    fields = {k: _clean(v) for k, v in item.items() if k != "id" and not _annotation(k)}
    if kind is not None:
        _mark_missing_write_only(fields, kind.write_only)
    return LiveProvider(
        id=provider_id,
        odata_type=odata_type,
        kind=kind.name if kind else None,
        key=_key(kind, fields) if kind else None,
        fields=fields,
        raw=dict(item),
    )


def canonical_type(value: str) -> str:
    """`#microsoft.graph.<name>` with the name in its known casing; unknown names kept."""
    name = value.strip().lstrip("#")
    if name.lower().startswith(NAMESPACE):
        name = name[len(NAMESPACE) :]
    for known in NESTED_TYPES:
        if known.lower() == name.lower():
            name = known
            break
    return f"#{NAMESPACE}{name}" if name else ""


def tenant_kind(live: Iterable[LiveProvider]) -> tuple[str, str] | None:
    """(kind, evidence) of the tenant the list came from, or None when the list does not
    say or contradicts itself. Read from what the list holds, with no request of its own:
    a custom OIDC type (oidcIdentityProvider: external; openIdConnectIdentityProvider: B2C),
    a social type only B2C offers, the built-in EmailPassword (external) or MicrosoftAccount
    (workforce); and no built-in at all is B2C, since workforce and external tenants always
    list theirs (an assumption: docs/emulator-graph.md)."""
    found: dict[str, str] = {}
    builtins = 0
    for provider in live:
        type_ = provider.fields.get("identityProviderType")
        if provider.kind == "builtInIdentityProvider":
            builtins += 1
            kind = _KIND_BY_BUILTIN.get(type_) if isinstance(type_, str) else None
            if kind:
                found.setdefault(kind, f"it lists the built-in provider {type_}")
        elif provider.kind in _KIND_BY_TYPE:
            found.setdefault(_KIND_BY_TYPE[provider.kind], f"it lists a {provider.kind}")
        elif (
            provider.kind == "socialIdentityProvider"
            and isinstance(type_, str)
            and type_ not in _WORKFORCE_SOCIAL
        ):
            found.setdefault("b2c", f"it lists the social provider {type_}")
    if not builtins:
        found.setdefault("b2c", "it lists no built-in provider")
    return next(iter(found.items())) if len(found) == 1 else None


def is_masked(value: Any) -> bool:
    """Graph's masks: a non-empty string of asterisks only (`****`, `*****`, ...)."""
    return isinstance(value, str) and bool(_MASK.match(value))


def _kind_for(raw_type: str, kinds: Mapping[str, Kind]) -> Kind | None:
    wanted = raw_type.strip().lstrip("#").lower()
    if not wanted:
        return None
    if not wanted.startswith(NAMESPACE):
        wanted = NAMESPACE + wanted
    for kind in kinds.values():
        if kind.odata_type.lstrip("#").lower() == wanted:
            return kind
    return None


def _annotation(key: str) -> bool:
    return key.startswith("@odata.") or "@odata." in key


def _clean(value: Any) -> Any:
    if is_masked(value):
        return UNKNOWN
    if isinstance(value, Mapping):
        out = {k: _clean(v) for k, v in value.items() if k != "@odata.type" and not _annotation(k)}
        nested = value.get("@odata.type")
        if isinstance(nested, str):
            out = {"@odata.type": canonical_type(nested), **out}
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _mark_missing_write_only(fields: dict[str, Any], paths: Iterable[str]) -> None:
    """A write-only value Graph left out or read back as null is unknown, not absent (its
    parent must be there): the pages show masks, but do not promise them (emulator reading
    `secret`, docs/emulator-graph.md). One Graph sent back unmasked is unknown too: idpctl
    never reasons on a secret it reads."""
    for path in paths:
        *parents, leaf = path.split(".")
        target: Any = fields
        for name in parents:
            target = target.get(name) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if parents and str(target.get("@odata.type", "")).lower() in _SECRETLESS:
            continue
        value = target.get(leaf)
        if value is None or (isinstance(value, str) and value):
            target[leaf] = UNKNOWN


def _key(kind: Kind, fields: Mapping[str, Any]) -> str | None:
    if kind.key_field is None:
        return kind.singleton_key
    value = fields.get(kind.key_field)
    return value if isinstance(value, str) else None
