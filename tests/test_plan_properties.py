"""Planner properties that keep providers from being lost or duplicated, over the random
worlds of tests/test_plan.py (desired files x live tenant x state, drifted and stale):

- never a create for an address some live provider already has (a twin);
- every delete/replace names a live id that idpctl manages or the files declare;
- a live item of a type idpctl does not know is never touched, whatever it is called;
- the plan does not depend on the order Graph lists providers in (a re-read may reorder);
- the clock only ever holds changes back (the replication guard never adds a create);
- a state id that no longer exists, while the files' provider is live under another id (a
  replace killed after Graph ran it), is re-recorded: the state never keeps a dead id.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from idpctl import plan as planner
from idpctl.model import Action, LiveProvider
from test_plan import live_of, oidc, plan_of, record_of, state_of, worlds

World = tuple[list[Any], list[LiveProvider], Any]


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_no_twin_and_no_stray_delete(world: World) -> None:
    desired, live, state = world
    result = plan_of(desired, live, state)
    live_addresses = {lp.address for lp in live if lp.address}
    live_ids = {lp.id for lp in live}
    declared = {p.address for p in desired} | set(state.providers)
    for change in result.changes:
        if change.action is Action.CREATE:
            assert change.address not in live_addresses, change.address
        if change.action in (Action.DELETE, Action.REPLACE) and change.graph_id:
            assert change.graph_id in live_ids
            assert change.address in declared


@settings(max_examples=200, deadline=None)
@given(worlds(), st.sampled_from(["A", "B", "Google", "Partner", "Apple", "Portal"]))
def test_unknown_types_are_never_touched(world: World, name: str) -> None:
    desired, live, state = world
    stranger = LiveProvider(id="unknown-1", odata_type="#microsoft.graph.futureIdentityProvider",
                            kind=None, key=None, fields={"displayName": name})
    result = plan_of(desired, [*live, stranger], state)
    assert all(c.graph_id != "unknown-1" for c in result.changes)
    assert any(u.id == "unknown-1" and u.reason == "unsupported type" for u in result.unmanaged)
    same = plan_of(desired, live, state)
    assert planner.to_data(result)["changes"] == planner.to_data(same)["changes"]


@settings(max_examples=200, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_list_order(world: World, rng: random.Random) -> None:
    desired, live, state = world
    shuffled = list(live)
    rng.shuffle(shuffled)
    first = planner.to_data(plan_of(desired, live, state))
    second = planner.to_data(plan_of(desired, shuffled, state))
    assert first["changes"] == second["changes"]


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_the_clock_only_holds_changes_back(world: World) -> None:
    desired, live, state = world
    without = {(c.action, c.address) for c in plan_of(desired, live, state).changes}
    with_clock = plan_of(desired, live, state, now=datetime.now(UTC)).changes
    assert {(c.action, c.address) for c in with_clock} <= without


def test_dead_state_id_is_rebound_to_the_live_one() -> None:
    provider = oidc("Contoso")
    result = plan_of([provider], [live_of(provider, "new-id")],
                     state_of(record_of(provider, "old-id")))
    (change,) = result.changes
    assert (change.action, change.graph_id, change.body) == (Action.UPDATE, "new-id", None)
    assert [(f.name, f.before, f.after, f.state_only) for f in change.fields] == [
        ("id", "old-id", "new-id", True)]
    assert any("matched by key" in note for note in change.notes)
