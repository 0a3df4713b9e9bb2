"""The state codec: which providers idpctl owns (kind, natural key, Graph id) and, per
write-only field, a keyed fingerprint of the value last applied. Never a secret value.

    {"format_version": 1, "serial": N, "lineage": uuid, "fingerprint_key": base64,
     "providers": {address: {kind, key, id, auth_method, created_at,
                             protected, relink,
                             secrets: {path: {fingerprint, set_at, source, version}}}}}

`State` values are frozen; `with_record` and `without` derive new ones with the serial
bumped. `from_data` refuses a document it cannot read exactly. Pure: no I/O (the stores,
`state.store` and `state.azureblob`, read and write it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from idpctl.errors import StateError
from idpctl.model import ManagedRecord, Secret, SecretRecord, State
from idpctl.secrets import fingerprint as _fingerprint

__all__ = [
    "FORMAT_VERSION",
    "dumps",
    "fingerprint",
    "fingerprint_for",
    "from_data",
    "new_state",
    "record_data",
    "to_data",
    "with_record",
    "without",
]

FORMAT_VERSION = 1
_TOP_KEYS = ("format_version", "serial", "lineage", "fingerprint_key", "providers")
_RECORD_KEYS = ("kind", "key", "id", "auth_method", "created_at", "protected", "relink", "secrets")
_OPTIONAL_KEYS = frozenset({"created_at", "protected", "relink"})
_SECRET_KEYS = ("fingerprint", "set_at", "source", "version")
_FINGERPRINT = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")


def new_state() -> State:
    """An empty state with a fresh lineage and a fresh random fingerprint key."""
    return State(serial=0, lineage=str(uuid.uuid4()), fingerprint_key=secrets.token_bytes(32))


def with_record(state: State, record: ManagedRecord) -> State:
    """`state` with `record` added or replaced at its address, serial bumped. Providers stay
    in address order; only an address that lands before the last one costs a re-sort (an
    apply adds thousands one by one, mostly in order)."""
    providers = dict(state.providers)
    address = record.address
    in_order = address in providers or not providers or address > next(reversed(providers))
    providers[address] = record
    return _derive(state, providers if in_order else _sorted(providers))


def without(state: State, address: str) -> State:
    """`state` without the provider at `address` (no error if absent), serial bumped."""
    providers = dict(state.providers)
    providers.pop(address, None)
    return _derive(state, providers)


def _sorted(providers: Mapping[str, ManagedRecord]) -> dict[str, ManagedRecord]:
    return {address: providers[address] for address in sorted(providers)}


def _derive(state: State, ordered: Mapping[str, ManagedRecord]) -> State:
    return State(
        serial=state.serial + 1,
        lineage=state.lineage,
        fingerprint_key=state.fingerprint_key,
        providers=ordered,
        version=state.version,
    )


def fingerprint_for(state: State, secret: Secret) -> str:
    """The keyed fingerprint of `secret` under this state's key, as the state records it."""
    return _fingerprint.fingerprint(state.fingerprint_key, secret)


fingerprint = fingerprint_for  # the name docs/architecture.md uses


# -- serialisation -------------------------------------------------------------------------


def to_data(state: State) -> dict[str, Any]:
    """The JSON document for `state`, keys in a stable order."""
    return {
        "format_version": FORMAT_VERSION,
        "serial": state.serial,
        "lineage": state.lineage,
        "fingerprint_key": base64.b64encode(state.fingerprint_key).decode("ascii"),
        "providers": {
            address: record_data(state.providers[address]) for address in sorted(state.providers)
        },
    }


def record_data(record: ManagedRecord) -> dict[str, Any]:
    """One provider's record as the state document holds it; `relink` only while flows are
    pending (docs/state.md), so a state without any stays what older versions read."""
    relink = {"relink": list(record.relink)} if record.relink else {}
    return {
        "kind": record.kind,
        "key": record.key,
        "id": record.id,
        "auth_method": record.auth_method,
        "created_at": record.created_at,
        "protected": record.protected,
        **relink,
        "secrets": {
            path: {
                "fingerprint": s.fingerprint,
                "set_at": s.set_at,
                "source": s.source,
                "version": s.version,
            }
            for path, s in sorted(record.secrets.items())
        },
    }


def dumps(state: State) -> str:
    for address, record in state.providers.items():
        for path, secret in record.secrets.items():
            if not _FINGERPRINT.match(secret.fingerprint):
                raise StateError(f"refusing to save {address} {path}: not a fingerprint")
    return json.dumps(to_data(state), indent=2, ensure_ascii=False) + "\n"


def from_data(data: Any, *, origin: str) -> State:
    """Parse a state document; StateError naming `origin` on any deviation from the format."""
    where = f"state file {origin}"
    if not isinstance(data, dict):
        raise StateError(f"{where} is not a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise StateError(
            f"{where} has format version {version!r}; this idpctl reads version {FORMAT_VERSION}"
        )
    _exact_keys(data, _TOP_KEYS, where)
    serial, lineage = data["serial"], data["lineage"]
    if type(serial) is not int or serial < 0:
        raise StateError(f"{where}: serial must be a non-negative integer")
    if not isinstance(lineage, str) or not lineage:
        raise StateError(f"{where}: lineage must be a non-empty string")
    try:
        key = base64.b64decode(str(data["fingerprint_key"]), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise StateError(f"{where}: fingerprint_key is not a base64 key of 16 bytes or more")
    if not isinstance(data["providers"], dict):
        raise StateError(f"{where}: providers must be an object")
    providers = {
        address: _record(address, raw, where) for address, raw in sorted(data["providers"].items())
    }
    return State(serial=serial, lineage=lineage, fingerprint_key=key, providers=providers)


def _record(address: str, raw: Any, where: str) -> ManagedRecord:
    at = f"{where}: providers[{address!r}]"
    if not isinstance(raw, dict):
        raise StateError(f"{at} is not an object")
    _exact_keys(raw, _RECORD_KEYS, at)
    for name in ("kind", "key", "id"):
        if not isinstance(raw[name], str) or not raw[name]:
            raise StateError(f"{at}.{name} must be a non-empty string")
    for name in ("auth_method", "created_at"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise StateError(f"{at}.{name} must be a string or null")
    if not isinstance(raw.get("protected", False), bool):
        raise StateError(f"{at}.protected must be true or false")
    relink = raw.get("relink", [])
    if not isinstance(relink, list) or not all(isinstance(f, str) and f for f in relink):
        raise StateError(f"{at}.relink must be a list of user-flow ids")
    if f"{raw['kind']}/{raw['key']}" != address:
        raise StateError(f"{at}: address does not match kind/key")
    if not isinstance(raw["secrets"], dict):
        raise StateError(f"{at}.secrets must be an object")
    secret_records = {
        path: _secret_record(value, f"{at}.secrets[{path!r}]")
        for path, value in sorted(raw["secrets"].items())
    }
    return ManagedRecord(
        kind=raw["kind"],
        key=raw["key"],
        id=raw["id"],
        auth_method=raw["auth_method"],
        secrets=secret_records,
        created_at=raw.get("created_at"),
        protected=raw.get("protected", False),
        relink=tuple(relink),
    )


def _secret_record(raw: Any, at: str) -> SecretRecord:
    if not isinstance(raw, dict):
        raise StateError(f"{at} is not an object")
    _exact_keys(raw, _SECRET_KEYS, at)
    if not isinstance(raw["fingerprint"], str) or not _FINGERPRINT.match(raw["fingerprint"]):
        raise StateError(f"{at}.fingerprint is not an hmac-sha256 fingerprint")
    for name in ("set_at", "source"):
        if not isinstance(raw[name], str):
            raise StateError(f"{at}.{name} must be a string")
    if raw["version"] is not None and not isinstance(raw["version"], str):
        raise StateError(f"{at}.version must be a string or null")
    return SecretRecord(
        fingerprint=raw["fingerprint"],
        set_at=raw["set_at"],
        source=raw["source"],
        version=raw["version"],
    )


def _exact_keys(data: Mapping[str, Any], expected: tuple[str, ...], where: str) -> None:
    missing = [k for k in expected if k not in data and k not in _OPTIONAL_KEYS]
    extra = sorted(k for k in data if k not in expected)
    if missing:
        raise StateError(f"{where} is missing {', '.join(missing)}")
    if extra:
        raise StateError(f"{where} has unknown key(s) {', '.join(extra)}")
