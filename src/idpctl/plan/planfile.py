"""The plan file: a versioned JSON form of a Plan, with the basis a saved plan is checked by.

A plan file holds references, never a secret value nor a per-secret digest: each `Secret`
leaf is written as `{"sensitive": true, "source": ..., "version": ...}` and reads back as a
`SecretPlaceholder`. The basis (computed and compared in basis.py) carries one digest over all
secrets, keyed by a key derived from the state's fingerprint key (which the file never holds),
so a file alone cannot confirm a guess at a secret. A plan read from a file is for `show` and
for the staleness check; apply re-builds the plan from fresh inputs and executes that one.
docs/plan-format.md describes every key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idpctl.errors import PlanError
from idpctl.model import (
    UNKNOWN,
    Action,
    Change,
    FieldChange,
    Finding,
    KeepLive,
    Plan,
    PlanBasis,
    Provider,
    Reason,
    Secret,
    SecretRef,
    Unmanaged,
)

__all__ = [
    "FORMAT_VERSION",
    "SecretPlaceholder",
    "digest",
    "encode_value",
    "from_data",
    "to_data",
]

# 3: typed `reasons` per change (2 had their English in `notes`); docs/plan-format.md
FORMAT_VERSION = 3
_ACTIONS = {action.name.lower(): action for action in Action}
_REASONS = {reason.value: reason for reason in Reason}


@dataclass(frozen=True)
class SecretPlaceholder:
    """A secret leaf read back from a plan file: what it referred to, never its value."""

    source: str
    version: str | None = None

    def __str__(self) -> str:
        return "(sensitive)"


def encode_value(value: Any) -> Any:
    """A JSON-ready copy of a field value: secrets as references (source and version, nothing
    derived from the value), masked read-backs as `{"unknown": true}`."""
    if isinstance(value, Secret | SecretPlaceholder):
        return {"sensitive": True, "source": value.source, "version": value.version}
    if isinstance(value, SecretRef):
        return {"sensitive": True, "source": value.describe(), "version": None}
    if value is UNKNOWN:
        return {"unknown": True}
    if isinstance(value, KeepLive):
        return {"keep": "live"}
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise PlanError(f"cannot write a value of type {type(value).__name__} to a plan")


def digest(data: Any) -> str:
    """The sha256 of `data` as canonical JSON (sorted keys, no spaces): the plan file's
    checksum and the basis's per-provider digests."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_data(plan: Plan) -> dict[str, Any]:
    """The plan as versioned, JSON-ready data with a stable key order and a checksum."""
    counts = plan.counts()
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "tenant": plan.tenant,
        "summary": {
            **counts,
            "unchanged": len(plan.unchanged),
            "unmanaged": len(plan.unmanaged),
            "has_changes": plan.has_changes,
        },
        "changes": [_change_data(c) for c in plan.changes],
        "unchanged": list(plan.unchanged),
        "unmanaged": [
            {
                "address": u.address,
                "id": u.id,
                "odata_type": u.odata_type,
                "display_name": u.display_name,
                "reason": u.reason,
            }
            for u in plan.unmanaged
        ],
        "warnings": list(plan.warnings),
        "findings": [
            {"address": f.address, "severity": f.severity, "check": f.check, "message": f.message}
            for f in plan.findings
        ],
        "basis": _basis_data(plan.basis),
    }
    data["checksum"] = digest(data)
    return data


def _change_data(change: Change) -> dict[str, Any]:
    desired = change.desired
    return {
        "action": change.action.name.lower(),
        "symbol": change.action.value,
        "address": change.address,
        "kind": change.kind,
        "key": change.key,
        "graph_id": change.graph_id,
        "api_version": change.api_version,
        "state_only": change.state_only,
        "reasons": [reason.value for reason in change.reasons],
        "notes": list(change.notes),
        "protected": change.protected,
        "desired": None
        if desired is None
        else {
            "auth_method": desired.auth_method,
            "protected": desired.protected,
            "absent": desired.absent,
        },
        "fields": [
            {
                "name": f.name,
                "before": None if f.sensitive else encode_value(f.before),
                "after": None if f.sensitive else encode_value(f.after),
                "sensitive": f.sensitive,
                "state_only": f.state_only,
                "note": f.note,
            }
            for f in change.fields
        ],
        "body": None if change.body is None else encode_value(change.body),
    }


def _basis_data(basis: PlanBasis | None) -> dict[str, Any] | None:
    if basis is None:
        return None
    return {
        "secrets": basis.secrets,
        "state_serial": basis.state_serial,
        "state_lineage": basis.state_lineage,
        "desired": dict(sorted(basis.desired.items())),
        "live": dict(sorted(basis.live.items())),
        "live_names": dict(sorted(basis.live_names.items())),
    }


# ---- reading back -------------------------------------------------------------------------


def from_data(data: Any) -> Plan:
    """A Plan from plan-file data; PlanError names the first thing that is wrong."""
    r = _Reader(data, "plan")
    version = r.get("format_version", int)
    if version != FORMAT_VERSION:
        raise PlanError(
            f"plan file format_version {version} is not supported "
            f"(this idpctl reads {FORMAT_VERSION}): make a new one with "
            "idpctl plan --out"
        )
    checksum = r.get("checksum", str)
    plan = Plan(
        changes=tuple(_change(c) for c in r.items("changes", dict)),
        unchanged=tuple(r.items("unchanged", str)),
        unmanaged=tuple(_unmanaged(u) for u in r.items("unmanaged", dict)),
        warnings=tuple(r.items("warnings", str)),
        basis=_basis(r.child("basis", optional=True)),
        tenant=r.get("tenant", str, optional=True),
        # absent in plan files written before the preflight existed
        findings=tuple(_finding(f) for f in r.items("findings", dict))
        if "findings" in r.data
        else (),
    )
    if digest({k: v for k, v in data.items() if k != "checksum"}) != checksum:
        raise PlanError(
            "plan file was edited or is corrupt (checksum mismatch); "
            "make a new one with idpctl plan --out"
        )
    return plan


class _Reader:
    """Typed access to one JSON object, naming the path of whatever is wrong."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise PlanError(f"plan file: {path} must be an object")
        self.data, self.path = data, path

    def get(self, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if key not in self.data:
            raise PlanError(f"plan file: {self.path}.{key} is missing")
        value = self.data[key]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PlanError(f"plan file: {self.path}.{key} has the wrong type")
        return value

    def items(self, key: str, kind: type) -> list[Any]:
        values = self.get(key, list)
        for i, value in enumerate(values):
            if not isinstance(value, kind):
                raise PlanError(f"plan file: {self.path}.{key}[{i}] has the wrong type")
        return [
            _Reader(v, f"{self.path}.{key}[{i}]") if kind is dict else v
            for i, v in enumerate(values)
        ]

    def child(self, key: str, *, optional: bool = False) -> _Reader | None:
        value = self.get(key, dict, optional=optional)
        return None if value is None else _Reader(value, f"{self.path}.{key}")

    def mapping(self, key: str) -> dict[str, str]:
        value = self.get(key, dict)
        if not all(isinstance(v, str) for v in value.values()):
            raise PlanError(f"plan file: {self.path}.{key} must map names to strings")
        return dict(value)


def _change(r: _Reader) -> Change:
    action = _ACTIONS.get(r.get("action", str))
    if action is None:
        raise PlanError(f"plan file: {r.path}.action is not one of {', '.join(_ACTIONS)}")
    kind, key = r.get("kind", str), r.get("key", str)
    if r.get("address", str) != f"{kind}/{key}":
        raise PlanError(f"plan file: {r.path}.address does not match its kind and key")
    wanted = r.child("desired", optional=True)
    desired = (
        None
        if wanted is None
        else Provider(
            kind=kind,
            key=key,
            fields={},
            auth_method=wanted.get("auth_method", str, optional=True),
            protected=wanted.get("protected", bool),
            absent=wanted.get("absent", bool),
        )
    )
    body = r.get("body", dict, optional=True)
    return Change(
        action=action,
        kind=kind,
        key=key,
        graph_id=r.get("graph_id", str, optional=True),
        api_version=_api_version(r),
        fields=tuple(_field(f) for f in r.items("fields", dict)),
        body=None if body is None else _decode(body),
        desired=desired,
        reasons=_reasons(r),
        notes=tuple(r.items("notes", str)),
        protected=bool(r.get("protected", bool, optional=True)),
    )


def _reasons(r: _Reader) -> tuple[Reason, ...]:
    out = []
    for i, value in enumerate(r.items("reasons", str)):
        if value not in _REASONS:
            raise PlanError(
                f"plan file: {r.path}.reasons[{i}] is not a reason this idpctl "
                "knows (docs/plan-format.md lists them)"
            )
        out.append(_REASONS[value])
    return tuple(out)


def _api_version(r: _Reader) -> str | None:
    """The change's Graph version; absent in plans made before versions were chosen."""
    version = r.get("api_version", str, optional=True)
    if version is not None and version not in ("v1.0", "beta"):
        raise PlanError(f"plan file: {r.path}.api_version is not v1.0 or beta")
    return version


def _field(r: _Reader) -> FieldChange:
    r.get("before", object, optional=True)
    return FieldChange(
        name=r.get("name", str),
        before=_decode(r.data.get("before")),
        after=_decode(r.get("after", object, optional=True)),
        sensitive=r.get("sensitive", bool),
        state_only=r.get("state_only", bool),
        note=r.get("note", str, optional=True),
    )


def _unmanaged(r: _Reader) -> Unmanaged:
    return Unmanaged(
        id=r.get("id", str),
        odata_type=r.get("odata_type", str),
        display_name=r.get("display_name", str, optional=True),
        reason=r.get("reason", str),
        address=r.get("address", str, optional=True),
    )


def _finding(r: _Reader) -> Finding:
    severity = r.get("severity", str)
    if severity not in ("error", "warning"):
        raise PlanError(f"plan file: {r.path}.severity is not error or warning")
    return Finding(
        address=r.get("address", str),
        severity=severity,
        check=r.get("check", str),
        message=r.get("message", str),
    )


def _basis(r: _Reader | None) -> PlanBasis | None:
    if r is None:
        return None
    return PlanBasis(
        secrets=r.get("secrets", str, optional=True),
        desired=r.mapping("desired"),
        live=r.mapping("live"),
        state_serial=r.get("state_serial", int),
        state_lineage=r.get("state_lineage", str),
        live_names=r.mapping("live_names"),
    )


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("sensitive") is True and set(value) <= {"sensitive", "source", "version"}:
            return SecretPlaceholder(source=str(value.get("source")), version=value.get("version"))
        if value == {"unknown": True}:
            return UNKNOWN
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
