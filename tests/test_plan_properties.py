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
from dataclasses import replace as dc_replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from idpctl.model import Action, LiveProvider
from idpctl.plan import build as planner
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
    stranger = LiveProvider(
        id="unknown-1",
        odata_type="#microsoft.graph.futureIdentityProvider",
        kind=None,
        key=None,
        fields={"displayName": name},
    )
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


NOW = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
_CREATED = [
    None,
    "",
    "not a date",
    "2026-11-22T20:59:30Z",
    "2026-11-22T20:58:00+00:00",
    "2026-11-22T20:00:00Z",
    "2026-11-22T21:05:00Z",
    "2026-11-22T20:59:30",
]


@st.composite
def clocked_worlds(draw: Any) -> World:
    """`worlds()` whose state records carry creation times around NOW (recent, old, future,
    naive, unparsable, none), and some of whose managed providers are not listed (deleted in
    the portal, or not replicated yet): the two things the replication guard looks at."""
    desired, live, state = draw(worlds())
    records = {
        address: dc_replace(record, created_at=draw(st.sampled_from(_CREATED)))
        for address, record in state.providers.items()
    }
    unlisted = draw(st.sets(st.sampled_from(sorted(records)))) if records else set()
    live = [lp for lp in live if lp.address not in unlisted]
    return desired, live, dc_replace(state, providers=records)


def test_the_clock_only_holds_changes_back() -> None:
    """With a clock, a plan is the plan without one minus the changes the replication guard
    holds back, never plus one. The guard must really be reached: the worlds are built so it
    holds back a change in many examples (counted, and reported as a hypothesis event)."""
    held: list[str] = []

    @settings(max_examples=300, deadline=None)
    @given(clocked_worlds())
    def check(world: World) -> None:
        desired, live, state = world
        without = {(c.action, c.address) for c in plan_of(desired, live, state).changes}
        clocked = plan_of(desired, live, state, now=NOW)
        with_clock = {(c.action, c.address) for c in clocked.changes}
        assert with_clock <= without
        back = without - with_clock
        if back:
            event("the replication guard held a change back")
            held.extend(address for _, address in back)
            assert any("not listed yet" in w for w in clocked.warnings)
            assert all(action in (Action.CREATE, Action.DELETE) for action, _ in back), back

    check()
    # 300 examples hold 18 to 46 changes back in most runs and as few as 6 in a rare one;
    # 3 still proves the branch is reached, without a flaky bound
    assert len(held) >= 3, f"the replication guard was reached {len(held)} time(s)"


def test_dead_state_id_is_rebound_to_the_live_one() -> None:
    provider = oidc("Contoso")
    result = plan_of(
        [provider], [live_of(provider, "new-id")], state_of(record_of(provider, "old-id"))
    )
    (change,) = result.changes
    assert (change.action, change.graph_id, change.body) == (Action.UPDATE, "new-id", None)
    assert [(f.name, f.before, f.after, f.state_only) for f in change.fields] == [
        ("id", "old-id", "new-id", True)
    ]
    assert any("matched by key" in note for note in change.notes)
