"""After writes of unknown outcome: re-read the tenant until the creates have had time to
show up, and reconcile the state with what is there, so the remaining work can be planned
again instead of re-sent blindly. Internal: no stable Python API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from idpctl.model import Action, Change, Kind, LiveProvider, ManagedRecord, Plan, State
from idpctl.state.codec import with_record
from idpctl.state.store import StateStore

from . import records
from .seams import Progress

__all__ = ["SETTLE_SECONDS", "Replan", "Reread", "reconcile", "reread_settled"]

# how long a re-read waits for a create of unknown outcome to show up: Graph lists a new
# provider only once it has replicated, and creating it again before that makes a twin
SETTLE_SECONDS = 12.0

Reread = Callable[[], Sequence[LiveProvider]]
Replan = Callable[[State, Sequence[LiveProvider]], Plan]


def reread_settled(
    unknown: Sequence[Change], reread: Reread, *, sleep: Callable[[float], None], progress: Progress
) -> Sequence[LiveProvider]:
    """Re-read the tenant; while a create of unknown outcome is not listed, read again with
    growing pauses for up to SETTLE_SECONDS (it may be there, not yet replicated). A create
    Graph answered 429 was not executed (GRAPH.md 1.5) and is not waited for."""
    live = reread()
    waited, pause = 0.0, 0.5
    while waited < SETTLE_SECONDS and _unseen_creates(unknown, live):
        progress(
            f"  not listed yet: {', '.join(_unseen_creates(unknown, live))}; "
            f"reading again in {pause:g}s (replication)"
        )
        sleep(pause)
        waited += pause
        pause = min(pause * 2, 4.0, SETTLE_SECONDS - waited) or 0.5
        live = reread()
    return live


def _unseen_creates(unknown: Sequence[Change], live: Sequence[LiveProvider]) -> list[str]:
    shown = {(p.address, p.id) for p in live if p.address}
    return [
        c.address
        for c in unknown
        if c.action in (Action.CREATE, Action.REPLACE)
        and not any(a == c.address and i != c.graph_id for a, i in shown)
    ]


def reconcile(
    unknown: Sequence[Change],
    live: Sequence[LiveProvider],
    state: State,
    *,
    kinds: Mapping[str, Kind],
    store: StateStore,
) -> State:
    """Record what the re-read shows of writes whose outcome was unknown.

    A create found live by natural key is recorded (adopted), so it is never created twice; a
    delete no longer live is forgotten, and so is a replace whose old object is gone while the
    new one is not listed (else the replication guard would take it for a fresh create and
    leave the provider lost). Updates are left as they were: the next plan re-sends
    whatever still differs, secrets included, which is safe because a PATCH is idempotent.
    """
    by_address = {p.address: p for p in live if p.address}
    live_ids = {p.id for p in live}
    for change in unknown:
        found = by_address.get(change.address)
        if change.action in (Action.CREATE, Action.REPLACE) and found is not None:
            if change.action is Action.CREATE or found.id != change.graph_id:
                adopted = ManagedRecord(
                    kind=change.kind,
                    key=change.key,
                    id=found.id,
                    auth_method=change.desired.auth_method if change.desired else None,
                )
                state = with_record(state, adopted)
        elif change.action is Action.DELETE and found is None:
            state = records.forget(state, change.address)
        elif change.action is Action.REPLACE and change.graph_id not in live_ids:
            state = records.lost(state, change)
    store.save(state)
    return state
