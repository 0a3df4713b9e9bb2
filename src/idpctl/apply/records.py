"""The state records apply derives from what a change did: the record of a change that
succeeded (its id, method, the fingerprints of the secrets it sent), a record forgotten,
the record a half-done replace leaves, pending user-flow links cleared. Pure except
`before_destroy`, which saves. Internal: no stable Python API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from idpctl.model import Action, Change, ManagedRecord, Secret, SecretRecord, State
from idpctl.secrets.fingerprint import fingerprint
from idpctl.state.codec import with_record, without
from idpctl.state.store import StateStore

__all__ = ["before_destroy", "forget", "lost", "record", "relinked"]


def record(state: State, change: Change, *, graph_id: str | None, now: Callable[[], str]) -> State:
    """The state after `change` succeeded: its id, method and the secrets it sent. A rename
    (`moved: {from: ...}`) moves the old address's record to the new one."""
    from idpctl.plan.build import moved_from

    previous = state.providers.get(change.address)
    old = moved_from(change)
    if old is not None and old in state.providers:
        previous = previous or state.providers[old]
        state = without(state, old)
    keeps_object = previous is not None and change.action in (Action.UPDATE, Action.ADOPT)
    # a new object holds only the secrets sent with it
    secrets = dict(previous.secrets) if previous and keeps_object else {}
    for path, secret in _secrets_in(change.body or {}):
        secrets[path] = SecretRecord(
            fingerprint=fingerprint(state.fingerprint_key, secret),
            set_at=now(),
            source=secret.source,
            version=secret.version,
        )
    desired = change.desired
    if desired is not None:
        secrets = _with_sources(secrets, desired.fields, state.fingerprint_key)
    made = ManagedRecord(
        kind=change.kind,
        key=change.key,
        id=graph_id or (previous.id if previous else ""),
        auth_method=desired.auth_method
        if desired
        else (previous.auth_method if previous else None),
        secrets=secrets,
    )
    created_at = previous.created_at if keeps_object and previous else now()
    protected = desired.protected if desired else bool(previous and previous.protected)
    # a created object's pending flows stay until its links are in place
    # (settle.attach_created); an update that succeeded carried them all
    relink = (
        previous.relink
        if previous and not keeps_object and any(link.attach for link in change.links)
        else ()
    )
    return with_record(
        state, replace(made, created_at=created_at, protected=protected, relink=relink)
    )


def _with_sources(
    secrets: dict[str, SecretRecord], fields: Mapping[str, Any], key: bytes
) -> dict[str, SecretRecord]:
    """Records of unchanged values say where each comes from now (a source the plan showed
    moving, env:A -> env:B with the same value); `set_at` stays: the value was not set."""
    for path, secret in _secrets_in(fields):
        known = secrets.get(path)
        if (
            known is not None
            and (known.source, known.version) != (secret.source, secret.version)
            and fingerprint(key, secret) == known.fingerprint
        ):
            secrets[path] = replace(known, source=secret.source, version=secret.version)
    return secrets


def forget(state: State, address: str) -> State:
    return without(state, address) if address in state.providers else state


def _secrets_in(body: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Secret]]:
    found: list[tuple[str, Secret]] = []
    for name, value in body.items():
        path = f"{prefix}{name}"
        if isinstance(value, Secret):
            found.append((path, value))
        elif isinstance(value, Mapping):
            found.extend(_secrets_in(value, prefix=f"{path}."))
    return found


def lost(state: State, change: Change) -> State:
    """The state after a replace deleted the old object and did not create the new one. The
    record is forgotten, unless its file does not set `userFlows` and the new object was to
    join flows (those the old one left, and any still pending): then the record stays, its id
    dead and not counting as fresh, with those flows in `relink`, so the next plan creates the
    provider and re-attaches it (the flow list is gone with the old object)."""
    kept = state.providers.get(change.address)
    flows = tuple(dict.fromkeys(link.flow_id for link in change.links if link.attach))
    if kept is None or not flows or change.desired is None or change.desired.user_flows is not None:
        return forget(state, change.address)
    return with_record(state, replace(kept, created_at=None, relink=flows))


def relinked(state: State, address: str) -> State:
    """`state` without the pending `relink` flows of `address`: the provider is in them."""
    kept = state.providers.get(address)
    if kept is None or not kept.relink:
        return state
    return with_record(state, replace(kept, relink=()))


def before_destroy(chunk: Sequence[Change], state: State, *, store: StateStore) -> State:
    """Records whose objects this batch deletes stop counting as freshly created (saved before
    sending): if the run dies after the delete ran, the plan's replication guard must not take
    the missing object for one not listed yet, and so leave a provider lost."""
    marked = state
    for change in chunk:
        kept = state.providers.get(change.address)
        if change.action in (Action.DELETE, Action.REPLACE) and kept and kept.created_at:
            marked = with_record(marked, replace(kept, created_at=None))
    if marked is not state:
        store.save(marked)
    return marked
