"""One address's change: create, update or adopt, replace, delete, or none. Pure.

An immutable field or a `clientAuthentication` subtype change means replace (`-/+`); a
change of a rebinding field re-sends the secret; a provider gone from the files, or written
`ensure: absent`, is deleted (forgotten when Graph no longer has it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from idpctl.model import (
    Action,
    Change,
    FieldChange,
    Kind,
    LiveProvider,
    ManagedRecord,
    Provider,
    Reason,
    Secret,
    SecretRef,
    State,
)
from idpctl.plan.keeplive import keep_error, kept_paths
from idpctl.plan.secretfields import (
    method_change,
    recorded_changes,
    refuse_unresolved,
    secret_changes,
    supply_notes,
)
from idpctl.plan.values import copy_value, equal, odata, ordered, with_dropped

__all__ = ["REBINDING_FIELDS", "SUBTYPED_FIELDS", "Context", "plan_one", "rebind"]


# a change to one of these re-binds the provider: its secret is re-sent with the PATCH
REBINDING_FIELDS = ("issuer", "wellKnownEndpoint", "metadataUrl", "clientId")


# complex properties whose nested @odata.type is a subtype: changing it means replace
SUBTYPED_FIELDS = frozenset({"clientAuthentication"})


@dataclass(frozen=True)
class Context:
    """What planning one address needs besides its provider, record and live object."""

    kinds: Mapping[str, Kind]
    state: State  # with each pending move's record already under its new address
    rotate: frozenset[str]
    now: datetime | None = None
    grace: timedelta = timedelta(0)
    moves: Mapping[str, str] = field(default_factory=dict)  # new address -> old address


def plan_one(
    provider: Provider | None, record: ManagedRecord | None, lp: LiveProvider | None, ctx: Context
) -> Change | None:
    if provider is None or provider.absent:
        return _plan_delete(provider, record, lp)
    kind = ctx.kinds[provider.kind]
    if lp is None:
        why = (
            Reason.CREATE_NEW
            if record is None
            else Reason.CREATE_REPLACE_UNFINISHED
            if record.relink
            else Reason.CREATE_DELETED_OUTSIDE
        )
        return _create(provider, kind, Action.CREATE, None, (why,))
    return _plan_existing(provider, record, lp, kind, ctx)


def _plan_delete(
    provider: Provider | None, record: ManagedRecord | None, lp: LiveProvider | None
) -> Change | None:
    if record is None and lp is None:
        return None
    owner = provider if provider is not None else record
    assert owner is not None  # record or live exists, and live alone is never planned
    kind, key = owner.kind, owner.key
    if lp is None:
        why = Reason.FORGET_DELETED_OUTSIDE
    elif record is None:
        why = Reason.DELETE_ENSURE_ABSENT_UNMANAGED
    else:
        why = Reason.DELETE_ENSURE_ABSENT if provider else Reason.DELETE_REMOVED_FROM_CONFIG
    protected = provider.protected if provider else bool(record and record.protected)
    return Change(
        action=Action.DELETE,
        kind=kind,
        key=key,
        graph_id=lp.id if lp else None,
        desired=provider,
        reasons=(why,),
        protected=protected,
    )


def _create(
    provider: Provider,
    kind: Kind,
    action: Action,
    lp: LiveProvider | None,
    reasons: tuple[Reason, ...],
    notes: tuple[str, ...] = (),
) -> Change:
    body: dict[str, Any] = {"@odata.type": kind.odata_type}
    fields = []
    for name in ordered(provider.fields, kind):
        value = provider.fields[name]
        body[name] = copy_value(value)
        before = lp.fields.get(name) if lp is not None else None
        if isinstance(value, Secret | SecretRef):
            fields.append(FieldChange(name, sensitive=True, note="will be set"))
        else:
            fields.append(FieldChange(name, before=copy_value(before), after=copy_value(value)))
    refuse_unresolved(provider)
    return Change(
        action=action,
        kind=provider.kind,
        key=provider.key,
        graph_id=lp.id if lp is not None else None,
        fields=tuple(fields),
        body=body,
        desired=provider,
        reasons=reasons,
        notes=notes,
    )


def _plan_existing(
    provider: Provider, record: ManagedRecord | None, lp: LiveProvider, kind: Kind, ctx: Context
) -> Change | None:
    refuse_unresolved(provider)
    diffs = [
        name
        for name in ordered(provider.fields, kind)
        if not equal(provider.fields[name], lp.fields.get(name))
    ]
    adopt = () if record else (Reason.ADOPT_SAME_KEY,)
    forcing = [
        name for name in diffs if name in kind.immutable or _subtype_changed(name, provider, lp)
    ]
    if forcing:
        return _plan_replace(provider, lp, kind, diffs, forcing, adopt)
    method = method_change(provider, record)
    rebind = [name for name in REBINDING_FIELDS if name in diffs]
    if method is not None and diffs:
        rebind.append("auth method")  # alone it is state-only: nothing goes to Graph
    kept = kept_paths(provider.fields)
    if rebind and kept:
        raise keep_error(
            provider.address,
            kept[0][0],
            kept[0][1],
            f"changes {', '.join(rebind)}, which needs the secret re-sent",
        )
    secrets = secret_changes(
        provider, record, rotate=provider.address in ctx.rotate, state=ctx.state, rebind=rebind
    )
    fields = [
        FieldChange(
            name, before=copy_value(lp.fields.get(name)), after=copy_value(provider.fields[name])
        )
        for name in diffs
    ]
    fields += [change for _, change, _ in secrets]
    recorded = recorded_changes(provider, record, {path for path, _, _ in secrets})
    reasons = [
        *adopt,
        *([Reason.UPDATE_FIELDS_DIFFER] if diffs else []),
        *(why for _, _, why in secrets if why is not None),
        *([Reason.STATE_ONLY_AUTH_METHOD] if method is not None else []),
        *(why for why, _ in recorded),
    ]
    if method is not None:
        fields.append(method)
    fields += [change for _, change in recorded]
    if not fields and record is not None:
        return None
    send = set(diffs) | {path.split(".")[0] for path, _, _ in secrets}
    body = None
    if send:
        body = {
            "@odata.type": kind.odata_type,
            **{
                name: with_dropped(provider.fields[name], lp.fields.get(name))
                for name in ordered(send, kind)
            },
        }
    return Change(
        action=Action.UPDATE if record else Action.ADOPT,
        kind=provider.kind,
        key=provider.key,
        graph_id=lp.id,
        fields=tuple(fields),
        body=body,
        desired=provider,
        reasons=tuple(dict.fromkeys(reasons)),
        notes=supply_notes(provider, secrets) if record else (),
    )


def _plan_replace(
    provider: Provider,
    lp: LiveProvider,
    kind: Kind,
    diffs: Sequence[str],
    forcing: Sequence[str],
    adopt: tuple[Reason, ...],
) -> Change:
    reasons = [
        Reason.REPLACE_IMMUTABLE_FIELD if name in kind.immutable else Reason.REPLACE_SUBTYPE_CHANGED
        for name in forcing
    ]
    notes = tuple(
        f"{name} cannot change in place"
        if name in kind.immutable
        else f"{name} changes subtype, which Graph cannot switch in place"
        for name in forcing
    )
    change = _create(
        provider, kind, Action.REPLACE, lp, tuple(dict.fromkeys((*adopt, *reasons))), notes
    )
    keep = [
        replace(f, note="forces replacement") if f.name in forcing else f
        for f in change.fields
        if f.sensitive or f.name in diffs
    ]
    return replace(change, fields=tuple(keep))


def _subtype_changed(name: str, provider: Provider, lp: LiveProvider) -> bool:
    if name not in SUBTYPED_FIELDS:
        return False
    want, have = provider.fields.get(name), lp.fields.get(name)
    if not isinstance(want, Mapping) or not isinstance(have, Mapping):
        return want is not None and have is not None
    a, b = want.get("@odata.type"), have.get("@odata.type")
    return a is not None and b is not None and odata(a) != odata(b)


def rebind(provider: Provider, old_id: str, lp: LiveProvider) -> Change:
    """A state-only update: the live object matches the files but the state names another id
    (say, a replace killed after Graph ran it); nothing is sent, the new id is recorded."""
    return Change(
        action=Action.UPDATE,
        kind=provider.kind,
        key=provider.key,
        graph_id=lp.id,
        fields=(
            FieldChange(
                "id",
                before=old_id,
                after=lp.id,
                state_only=True,
                note="state only: record the id Graph lists now",
            ),
        ),
        body=None,
        desired=provider,
        reasons=(Reason.STATE_ONLY_GRAPH_ID_CHANGED,),
    )
