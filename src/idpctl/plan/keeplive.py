"""`{keep: live}` secrets: found in a provider's fields, and a change that would need one sent
refused, naming what to write instead (docs/secrets.md, "Adopting without rotating")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idpctl.errors import PlanError
from idpctl.model import Action, Change, KeepLive

__all__ = ["keep_error", "kept_paths", "refuse_kept"]


def kept_paths(fields: Mapping[str, Any], prefix: str = "") -> list[tuple[str, KeepLive]]:
    """Dotted paths of the `{keep: live}` secrets in a provider's fields."""
    out: list[tuple[str, KeepLive]] = []
    for key in sorted(fields):
        value, path = fields[key], f"{prefix}.{key}" if prefix else key
        if isinstance(value, KeepLive):
            out.append((path, value))
        elif isinstance(value, Mapping):
            out.extend(kept_paths(value, path))
    return out


def refuse_kept(change: Change) -> Change:
    """Refuse a change that would need a `{keep: live}` secret sent; note the kept ones."""
    assert change.desired is not None
    kept = kept_paths(change.desired.fields)
    if not kept or change.action is Action.DELETE:
        return change
    path, keep = kept[0]
    if change.action in (Action.CREATE, Action.REPLACE):
        why = (
            "is not in the tenant, so there is no live secret to keep"
            if change.action is Action.CREATE
            else "must be replaced (" + "; ".join(change.notes[-1:]) + "), which sends the secret"
        )
        raise keep_error(change.address, path, keep, why)
    if change.body is not None and kept_paths(change.body):
        raise keep_error(change.address, path, keep, "changes in a way that sends the secret")
    notes = tuple(
        f"{p}: kept as set outside idpctl ({{keep: live}}), of unknown age" for p, _ in kept
    )
    return change.because(notes=notes)


def keep_error(address: str, path: str, keep: KeepLive, why: str) -> PlanError:
    where = f"{keep.location}: " if keep.location else ""
    leaf = path.rsplit(".", 1)[-1]
    return PlanError(
        f"{where}{address} {why}, but {path} says {{keep: live}}: write the "
        f"secret's reference in its place ({leaf}: {{env: NAME}} or another "
        "source) so idpctl sends it"
    )
