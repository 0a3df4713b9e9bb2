"""How the planner compares and copies provider values: desired against live, the PATCH
value of a property, and the order fields are shown and sent in. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from idpctl.model import UNKNOWN, KeepLive, Kind, Secret, SecretRef

__all__ = ["copy_value", "equal", "odata", "ordered", "with_dropped"]


def odata(value: Any) -> str:
    return str(value).lstrip("#").casefold()


def equal(want: Any, have: Any) -> bool:
    """Desired vs live. Secret leaves and masked read-backs are left out (fingerprints and
    the state decide those); a None member counts as absent; a nested @odata.type is compared
    case-insensitively, and only when both sides carry one."""
    if isinstance(want, Secret | SecretRef | KeepLive) or have is UNKNOWN:
        return True
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        a, b = _members(want), _members(have)
        ta, tb = a.pop("@odata.type", None), b.pop("@odata.type", None)
        if ta is not None and tb is not None and odata(ta) != odata(tb):
            return False
        for key in set(a) | set(b):
            if (key not in a and b[key] is UNKNOWN) or isinstance(a.get(key), KeepLive):
                continue
            if key not in a or key not in b or not equal(a[key], b[key]):
                return False
        return True
    if isinstance(want, list | tuple) and isinstance(have, list | tuple):
        return len(want) == len(have) and all(map(equal, want, have))
    if isinstance(want, Mapping | list | tuple) or isinstance(have, Mapping | list | tuple):
        return False
    return bool(want == have)


def _members(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def with_dropped(want: Any, have: Any) -> Any:
    """The PATCH value of a property: `want`, plus an explicit null for each member live has
    and `want` drops (nested objects too). Graph's pages do not say whether PATCH replaces a
    complex property whole or merges it (docs/emulator-graph.md, reading `patch`); a null
    removes the member under either reading."""
    out = copy_value(want)
    if not isinstance(want, Mapping) or not isinstance(have, Mapping):
        return out
    for key, value in have.items():
        if key == "@odata.type" or value is None or value is UNKNOWN:
            continue
        if key not in want or want[key] is None:
            out[key] = None
        elif isinstance(want[key], Mapping):
            out[key] = with_dropped(want[key], value)
    return out


def copy_value(value: Any) -> Any:
    """A plain deep copy that keeps `Secret` leaves as they are."""
    if isinstance(value, Mapping):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_value(v) for v in value]
    return value


def ordered(fields: Iterable[str], kind: Kind) -> list[str]:
    rank = {name: i for i, name in enumerate(kind.fields)}
    return sorted(fields, key=lambda name: (rank.get(name, len(rank)), name))
