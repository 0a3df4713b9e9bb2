"""Helpers for the records the `Store` keeps: sealing and masking write-only values, PATCH
merges, server-assigned ids, and the retired `/identityProviders` API's answers."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from idpctl_emulator.graphtypes import APPLE, B2C_OIDC, BUILTIN, SOCIAL, VERSIONS, TypeSpec
from idpctl_emulator.redaction import sha256_of

__all__ = ["MERGEABLE", "auth_subtype", "mask", "merge", "new_id", "retired_api", "seal"]


def retired_api(version: str, method: str, *, with_id: bool = False) -> tuple[int, dict]:
    """The retired `/identityProviders` API (GRAPH.md 1.4, 6): it stopped returning data.

    GET of the collection answers 200 with an empty `value`; everything else is an error, given
    as `(status, {"error": {"code", "message"}})` for the server to wrap in Graph's error shape.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown Graph version {version!r}")
    if method.upper() == "GET" and not with_id:
        return 200, {"value": []}
    if method.upper() == "GET":
        return 404, {
            "error": {
                "code": "itemNotFound",
                "message": "The identityProvider API was retired after March 2023 and "
                "returns no data; use /identity/identityProviders.",
            }
        }
    return 400, {
        "error": {
            "code": "notSupported",
            "message": "The identityProvider API was retired after March 2023; "
            "use /identity/identityProviders.",
        }
    }


def _get_path(item: dict, path: tuple[str, ...]) -> tuple[dict | None, str]:
    holder: Any = item
    for key in path[:-1]:
        holder = holder.get(key) if isinstance(holder, dict) else None
    return (holder if isinstance(holder, dict) else None), path[-1]


def seal(spec: TypeSpec, record: dict) -> dict:
    """The record with each plain write-only string replaced by its hash (in place)."""
    for path in spec.secrets:
        holder, key = _get_path(record, path)
        if holder is not None and isinstance(holder.get(key), str):
            holder[key] = sha256_of(holder[key])
    return record


def mask(spec: TypeSpec, out: dict, mask: str | None, *, shape: str = "mask") -> dict:
    """Each set write-only value as `mask` (reading `secret=mask`), null or left out."""
    for path in spec.secrets:
        holder, key = _get_path(out, path)
        if mask is None or holder is None or holder.get(key) is None:
            continue
        if shape == "absent":
            del holder[key]
        else:
            holder[key] = mask if shape == "mask" else None
    return out


# complex properties a PATCH merges under the reading `patch=merge` (OData 4.01 Protocol
# 11.4.3 reads so; the Graph pages say nothing): the claim mappings. clientAuthentication is
# always replaced whole: its subtype comes with it (`@odata.type`), so nothing merges across.
MERGEABLE = frozenset({"claimsMapping", "inboundClaimMapping"})


def merge(old: Any, new: Any) -> Any:
    """`new` laid over `old`: members `new` names (null included) win, the rest are kept."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    out = {k: copy.deepcopy(v) for k, v in old.items()}
    for key, value in new.items():
        out[key] = merge(old.get(key), value) if isinstance(value, dict) else value
    return out


def auth_subtype(value: Any) -> str | None:
    return value.get("@odata.type") if isinstance(value, dict) else None


def new_id(spec: TypeSpec, record: dict) -> str:
    """Server-assigned ids (GRAPH.md 2.2)."""
    if spec.name in (SOCIAL, BUILTIN):
        return f"{record.get('identityProviderType')}-OAUTH"
    if spec.name == APPLE:
        return "Apple-Managed-OIDC"
    if spec.name == B2C_OIDC:
        name = re.sub(r"[^A-Za-z0-9]", "", str(record.get("displayName") or ""))
        client = re.sub(r"[^A-Za-z0-9._-]", "", str(record.get("clientId") or ""))
        return f"{name}-OIDC-{client}" if name else f"OIDC-{client}"
    return str(uuid.uuid4())
