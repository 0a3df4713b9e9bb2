"""Every `$batch` idpctl sends is one Graph accepts (MGD concepts/json-batching.md: "Batch
should be either fully sequential or fully parallel"; a dependency comes first): a property
over random plans of creates, updates, deletes and replaces with user-flow links, carried out
by the applier through the real batching layer, and each request body judged by the rule
itself and by the emulator's parser. Plus the request floor: one `$batch` per chunk, so the
state is still saved after every batch.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idpctl.apply import applier as apply
from idpctl.graph import batch as batching
from idpctl.graph import batchrun
from idpctl.model import APPLY_ORDER, Action, Change, FlowLink, Plan
from idpctl.state.codec import new_state
from idpctl_emulator.batch import parse_batch

FLOWS = ("B2C_1_a", "B2C_1_b", "B2C_1_c")


class _Reply:
    def __init__(self, body: Any) -> None:
        self.body = body
        self.status = 200
        self.headers: dict[str, str] = {}


class _Bucket:
    def pause(self, seconds: float) -> None:
        pass


class RecordingGraph:
    """Answers every `$batch` item with success and keeps each request body sent."""

    root = "https://graph.example/beta"
    max_retries = 0
    backoff_base = 0.0
    max_wait = 0.0
    bucket = _Bucket()

    def __init__(self) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        # $batch POSTs of each graph.batch call with provider writes (the attach calls that
        # follow a batch of creates hold only user-flow links, and may need several)
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, body: Any = None, **_: Any) -> _Reply:
        assert (method, url) == ("POST", "/$batch")
        with self._lock:
            self.posts.append(body["requests"])
        return _Reply({"responses": [_answer(item) for item in body["requests"]]})

    def batch(self, requests: list[batching.BatchRequest]) -> dict[str, Any]:
        call = _Call(self)
        results = batchrun.run(call, requests)
        with self._lock:
            if not all("#link:" in r.id for r in requests):
                self.calls.append(call.posts)
        return results


class _Call:
    """One `graph.batch` call (apply runs several at once): counts its own POSTs."""

    def __init__(self, graph: RecordingGraph) -> None:
        self.graph = graph
        self.posts = 0
        self.max_retries, self.backoff_base = graph.max_retries, graph.backoff_base
        self.max_wait, self.bucket = graph.max_wait, graph.bucket

    def request(self, method: str, url: str, **kwargs: Any) -> _Reply:
        self.posts += 1
        return self.graph.request(method, url, **kwargs)


def _answer(item: dict[str, Any]) -> dict[str, Any]:
    if item["method"] == "POST" and item["url"].endswith("/identity/identityProviders"):
        return {"id": item["id"], "status": 201, "body": {"id": "new-" + item["id"]}}
    return {"id": item["id"], "status": 204}


class _Store:
    def __init__(self) -> None:
        self.saves = 0

    def save(self, state: Any) -> None:
        self.saves += 1


def _links(draw: Any, action: Action) -> tuple[FlowLink, ...]:
    flows = draw(st.lists(st.sampled_from(FLOWS), unique=True, max_size=3))
    out = []
    for flow in flows:
        attach = {Action.DELETE: False, Action.CREATE: True}.get(action) or draw(st.booleans())
        out.append(
            FlowLink(
                flow,
                flow,
                f"/identity/b2cUserFlows/{flow}/userFlowIdentityProviders",
                attach=attach,
            )
        )
    return tuple(out)


@st.composite
def plans(draw: Any) -> Plan:
    """Random plans in the planner's order (updates, creates, replaces, deletes)."""
    changes = []
    for n in range(draw(st.integers(0, 30))):
        action = draw(
            st.sampled_from([Action.CREATE, Action.UPDATE, Action.DELETE, Action.REPLACE])
        )
        body = {"displayName": f"p{n}"}
        graph_id = None if action is Action.CREATE else f"id-{n}"
        if action is Action.UPDATE and draw(st.booleans()):
            body = None  # a link-only update
        if action is Action.DELETE:
            body = None
        changes.append(
            Change(
                action=action,
                kind="socialIdentityProvider",
                key=f"p{n}",
                graph_id=graph_id,
                body=body,
                links=_links(draw, action),
            )
        )
    changes.sort(key=lambda c: APPLY_ORDER[c.action])
    return Plan(changes=tuple(changes))


def _judged(batch: list[dict[str, Any]]) -> None:
    """Fully parallel, or each item depending on exactly the item before it."""
    if any(item.get("dependsOn") for item in batch):
        for n, item in enumerate(batch):
            assert item.get("dependsOn", []) == ([batch[n - 1]["id"]] if n else []), batch
    parse_batch({"requests": batch})  # the emulator's rule agrees


@settings(max_examples=150, deadline=None)
@given(plans())
def test_no_batch_mixes_sequential_and_parallel_items(plan: Plan) -> None:
    graph, store = RecordingGraph(), _Store()
    result = apply.run(plan, graph=graph, store=store, state=new_state(), kinds={})
    assert set(result.done) == {c.address for c in plan.changes}
    for batch in graph.posts:
        assert 1 <= len(batch) <= batching.MAX_BATCH
        _judged(batch)
    sent = [item["id"] for batch in graph.posts for item in batch]
    assert len(sent) == len(set(sent))  # nothing sent twice
    # every chunk is exactly one $batch, so the state is saved after each one
    assert all(calls == 1 for calls in graph.calls), graph.calls


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=40), st.randoms(use_true_random=False))
def test_pack_makes_chains_of_dependency_groups(deps: list[int], rng: Any) -> None:
    """Random dependency graphs (each request may wait on some earlier ones, listed in any
    order): every original dependency still runs first, in a batch of its own chain."""
    requests = []
    for n, pick in enumerate(deps):
        earlier = [f"r{m}" for m in range(n) if (pick >> (m % 6)) & 1 and m >= n - 6]
        requests.append(batching.BatchRequest(f"r{n}", "GET", "/x", depends_on=tuple(earlier)))
    rng.shuffle(requests)
    try:
        batches = batching.pack(requests)
    except ValueError as error:
        assert "a batch holds" in str(error)
        return
    where = {r.id: (b, n) for b, batch in enumerate(batches) for n, r in enumerate(batch)}
    assert sorted(where) == sorted(r.id for r in requests)
    for request in requests:
        for dep in request.depends_on:
            assert where[dep][0] == where[request.id][0]
            assert where[dep][1] < where[request.id][1]
    for batch in batches:
        assert batching.is_sequential_or_parallel(batch)
        _judged(
            [
                {
                    "id": r.id,
                    "method": "GET",
                    "url": "/x",
                    **({"dependsOn": list(r.depends_on)} if r.depends_on else {}),
                }
                for r in batch
            ]
        )


def _change(action: Action, n: int, *flows: str) -> Change:
    links = tuple(
        FlowLink(f, f, f"/identity/b2cUserFlows/{f}/userFlowIdentityProviders", attach=False)
        for f in flows
    )
    return Change(
        action=action,
        kind="socialIdentityProvider",
        key=f"p{n}",
        graph_id=None if action is Action.CREATE else f"id-{n}",
        body=None if action is Action.DELETE else {"displayName": f"p{n}"},
        links=links,
    )


@pytest.mark.parametrize(
    ("changes", "posts"),
    [
        # a replace next to five updates: five PATCHes in parallel, the replace's chain alone
        (
            [*(_change(Action.UPDATE, n) for n in range(5)), _change(Action.REPLACE, 9)],
            [
                ["p0#patch", "p1#patch", "p2#patch", "p3#patch", "p4#patch"],
                ["p9#delete", "p9#create"],
            ],
        ),
        # two replaces: two chains, never one batch
        (
            [_change(Action.REPLACE, 1), _change(Action.REPLACE, 2)],
            [["p1#delete", "p1#create"], ["p2#delete", "p2#create"]],
        ),
        # a delete of a provider two flows offer: one line, unlink, unlink, DELETE
        (
            [_change(Action.DELETE, 3, "B2C_1_a", "B2C_1_b")],
            [["p3#unlink:B2C_1_a", "p3#unlink:B2C_1_b", "p3#delete"]],
        ),
    ],
)
def test_request_floor_of_the_issue_cases(changes: list[Change], posts: list[list[str]]) -> None:
    graph = RecordingGraph()
    apply.run(
        Plan(changes=tuple(changes)), graph=graph, store=_Store(), state=new_state(), kinds={}
    )
    sent = [
        [item["id"].removeprefix("socialIdentityProvider/") for item in batch]
        for batch in graph.posts
    ]
    assert sent == posts
    for batch in graph.posts:
        _judged(batch)
