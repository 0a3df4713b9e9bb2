"""The one writer: carries out a Plan through Graph `$batch` and records state per item.

Order and atomicity: changes run in the plan's order, in batches of at most 20 requests. A
batch is fully sequential or fully parallel, as Graph requires: a replace's delete and create
(after any user-flow unlinks) form a `dependsOn` chain sent as a batch of its own, and changes
of independent requests share parallel batches. After every batch the state records each item
that succeeded (a journal line for a local state, docs/state.md), so a crash loses at most the
batch in flight, and the next plan adopts what that batch created by natural key; the apply
folds the journal into the state file when it ends. A write whose outcome is unknown (dropped
connection, timeout, 5xx, a create answered 429) is never re-sent blindly: the live providers
are re-read, the state is reconciled from what is there, and the remaining work is planned
again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from idpctl.errors import ApplyError, ApplyReport, GraphError, WriteOutcomeUnknown
from idpctl.model import (
    Action,
    Change,
    Kind,
    LiveProvider,
    ManagedRecord,
    Plan,
    Secret,
    SecretRecord,
    State,
)
from idpctl.secrets.fingerprint import fingerprint

__all__ = ["BATCH_LIMIT", "ApplyResult", "run"]

log = logging.getLogger(__name__)

BATCH_LIMIT = 20
CONCURRENCY = 4  # batches in flight at once; every item still counts against the budget
_COLLECTION = "/identity/identityProviders"
MAX_ROUNDS = 50  # a hard stop; rounds normally end when a few in a row make no progress
MAX_STALLED_ROUNDS = 3
MAX_THROTTLE_WAIT = 60.0
# how long a re-read waits for a create of unknown outcome to show up: Graph lists a new
# provider only once it has replicated, and creating it again before that makes a twin
SETTLE_SECONDS = 12.0
HEARTBEAT_SECONDS = 10.0  # the longest silence on stderr while work is pending

Progress = Callable[[str], None]
Reread = Callable[[], Sequence[LiveProvider]]
Replan = Callable[[State, Sequence[LiveProvider]], Plan]


@dataclass(frozen=True)
class ApplyResult:
    state: State
    done: tuple[str, ...] = ()
    rounds: int = 1


@dataclass
class _Round:
    state: State
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "ADDRESS: reason", one line each
    failed_addresses: set[str] = field(default_factory=set)
    # replaces whose delete ran and whose create did not: counted neither done nor not done
    half_done: list[str] = field(default_factory=list)
    unknown: list[Change] = field(default_factory=list)
    retry_after: float = 0.0  # the longest Retry-After among throttled creates
    resume_at: float = 0.0  # time.monotonic() when the last of those Retry-Afters ends

    def throttled_for(self, seconds: float) -> None:
        self.retry_after = max(self.retry_after, seconds)
        self.resume_at = max(self.resume_at, time.monotonic() + seconds)
    throttled: set[str] = field(default_factory=set)  # creates answered 429: not executed


class _Heartbeat:
    """A line on stderr at least every `every` seconds while the apply has work pending:
    done/total, items Graph throttled, and when the budget lets the next request go."""

    def __init__(self, emit: Progress | None, *, total: int, graph: Any, every: float) -> None:
        self._emit, self._total, self._graph, self._every = emit, total, graph, every
        self.finished = 0  # changes of earlier rounds
        self.current: _Round | None = None
        self.waiting_until = 0.0  # the applier's own wait (monotonic), before a re-read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="apply-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        if self._emit is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def line(self) -> str:
        done = self.finished + (len(self.current.done) if self.current else 0)
        budget = getattr(self._graph, "budget", None)
        throttled = getattr(budget, "throttled_items", 0)
        wait = max(self.waiting_until - time.monotonic(),
                   budget.resume_in() if budget is not None else 0.0)
        text = f"apply: {done}/{self._total} done, {throttled} throttled"
        return text + (f", resuming in {math.ceil(wait)} s" if wait > 0 else ", sending")

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            assert self._emit is not None
            self._emit(self.line())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    plan: Plan,
    *,
    graph: Any,
    store: Any,
    state: State,
    kinds: Mapping[str, Kind],
    progress: Progress = lambda line: None,
    reread: Reread | None = None,
    replan: Replan | None = None,
    now: Callable[[], str] = _now,
    sleep: Callable[[float], None] = time.sleep,
    heartbeat: Progress | None = None,
    heartbeat_every: float | None = None,
) -> ApplyResult:
    """Carry out `plan`, saving state after each batch. Raises ApplyError if it stops part way.
    `heartbeat` gets a status line at least every `heartbeat_every` seconds until it ends."""
    with _Heartbeat(heartbeat, total=len(plan.changes), graph=graph,
                    every=heartbeat_every or HEARTBEAT_SECONDS) as beat:
        try:
            result = _rounds(plan, graph=graph, store=store, state=state, kinds=kinds,
                             progress=progress, reread=reread, replan=replan, now=now,
                             sleep=sleep, beat=beat)
        except BaseException:
            # the state file holds what was done however the apply stops; the error that
            # stopped it is the one to report (a journal left behind is replayed anyway)
            try:
                _compact(store)
            except Exception as error:
                log.debug("state journal not folded in: %s", error)
            raise
    _compact(store)
    return result


def _record_batch(store: Any, state: State, chunk: Sequence[Change]) -> None:
    """The durable record of one settled batch: a journal record of its changes where the
    store keeps one (local files), else a full save. A crash loses at most the batch in
    flight either way."""
    append = getattr(store, "append", None)
    if append is None:
        store.save(state)
    else:
        append(state, addresses=[change.address for change in chunk])


def _compact(store: Any) -> None:
    """Fold the batch journal into the state (the end of an apply)."""
    compact = getattr(store, "compact", None)
    if compact is not None:
        compact()


def _rounds(plan: Plan, *, graph: Any, store: Any, state: State, kinds: Mapping[str, Kind],
            progress: Progress, reread: Reread | None, replan: Replan | None,
            now: Callable[[], str], sleep: Callable[[float], None],
            beat: _Heartbeat) -> ApplyResult:
    done: list[str] = []
    stalled = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        beat.current = _Round(state=state)
        outcome = _execute(plan, graph=graph, store=store, state=state, progress=progress,
                           now=now, outcome=beat.current)
        beat.current, beat.finished = None, beat.finished + len(outcome.done)
        done.extend(outcome.done)
        stalled = 0 if outcome.done else stalled + 1
        state = outcome.state
        if outcome.failed:
            raise _stopped(plan, outcome, done)
        if not outcome.unknown:
            return ApplyResult(state=state, done=tuple(done), rounds=round_no)
        if reread is None or replan is None or stalled >= MAX_STALLED_ROUNDS:
            raise ApplyError(
                f"apply stopped: the outcome of {len(outcome.unknown)} write(s) is unknown "
                f"({outcome.unknown[0].address}); run plan and apply again",
                report=ApplyReport(done=done, failed=[c.address for c in outcome.unknown]),
            )
        if outcome.retry_after:
            # the round went on sending after the 429: only what is left of it is waited
            wait = min(max(0.0, outcome.resume_at - time.monotonic()), MAX_THROTTLE_WAIT)
            progress(f"  throttled: waiting {wait:g}s before re-reading")
            beat.waiting_until = time.monotonic() + wait
            sleep(wait)
        progress(f"  outcome of {len(outcome.unknown)} write(s) unknown: re-reading the tenant")
        pending = [c for c in outcome.unknown if c.address not in outcome.throttled]
        live = _reread_settled(pending, reread, sleep=sleep, progress=progress)
        state = _reconcile(outcome.unknown, live, state, kinds=kinds, store=store)
        plan = replan(state, live)
        if not plan.changes:
            return ApplyResult(state=state, done=tuple(done), rounds=round_no)
    raise ApplyError(f"apply gave up after {MAX_ROUNDS} rounds of writes with unknown outcomes; "
                     "run plan to see what is left", report=ApplyReport(done=done))


def _stopped(plan: Plan, outcome: _Round, done: Sequence[str]) -> ApplyError:
    """The error of a round that had failures; a half-done replace is counted as such."""
    settled = {*outcome.done, *outcome.failed_addresses}
    not_done = [c.address for c in plan.changes if c.address not in settled]
    more = len(outcome.failed) - 1
    half = f", {len(outcome.half_done)} half done" if outcome.half_done else ""
    return ApplyError(
        f"apply stopped: {outcome.failed[0]}" + (f" (and {more} more)" if more > 0 else "")
        + f"; {len(done)} change(s) done{half}, {len(not_done)} not done; the state records "
        "what was done, run apply again after fixing the cause",
        report=ApplyReport(done=list(done), failed=outcome.failed, not_done=not_done,
                           half_done=outcome.half_done),
    )


def _reread_settled(unknown: Sequence[Change], reread: Reread, *,
                    sleep: Callable[[float], None], progress: Progress) -> Sequence[LiveProvider]:
    """Re-read the tenant; while a create of unknown outcome is not listed, read again with
    growing pauses for up to SETTLE_SECONDS (it may be there, not yet replicated). A create
    Graph answered 429 was not executed (GRAPH.md 1.5) and is not waited for."""
    live = reread()
    waited, pause = 0.0, 0.5
    while waited < SETTLE_SECONDS and _unseen_creates(unknown, live):
        progress(f"  not listed yet: {', '.join(_unseen_creates(unknown, live))}; "
                 f"reading again in {pause:g}s (replication)")
        sleep(pause)
        waited += pause
        pause = min(pause * 2, 4.0, SETTLE_SECONDS - waited) or 0.5
        live = reread()
    return live


def _unseen_creates(unknown: Sequence[Change], live: Sequence[LiveProvider]) -> list[str]:
    shown = {(p.address, p.id) for p in live if p.address}
    return [c.address for c in unknown if c.action in (Action.CREATE, Action.REPLACE)
            and not any(a == c.address and i != c.graph_id for a, i in shown)]


def _requests(change: Change, *, root: str) -> list[dict[str, Any]]:
    """The Graph requests one change needs, as batch items (ids unique per change), with its
    user-flow links: unlinks before a delete (which depends on them: the batching layer sends
    them as one line), links of a kept object alongside; links of a created object follow its
    batch (`_attach_created`). `root` is the Graph version root the link bodies name."""
    from idpctl.graph import userflows

    items = _writes(change)
    if not change.links or change.graph_id is None:
        return items
    unlinks = userflows.link_items(change, change.graph_id, attach=False, root=root)
    if change.action in (Action.DELETE, Action.REPLACE):
        items[0]["depends_on"] = (*items[0]["depends_on"], *(u["id"] for u in unlinks))
        return [*unlinks, *items]
    return [*items, *unlinks,
            *userflows.link_items(change, change.graph_id, attach=True, root=root)]


def _shape(change: Change) -> list[dict[str, Any]]:
    """The change's batch items for their ids and dependencies only (bodies not sent)."""
    return _requests(change, root="")


def _writes(change: Change) -> list[dict[str, Any]]:
    """The change's own requests, at its Graph version (`/v1.0/...` or `/beta/...`; a plan
    without versions: the client's default)."""
    base = change.address
    collection = f"/{change.api_version}{_COLLECTION}" if change.api_version else _COLLECTION
    if change.action is Action.CREATE:
        return [_item(f"{base}#create", "POST", collection, change.body)]
    if change.action in (Action.UPDATE, Action.ADOPT):
        if change.body is None:
            return []
        return [_item(f"{base}#patch", "PATCH", f"{collection}/{change.graph_id}", change.body)]
    if change.action is Action.DELETE:
        if change.graph_id is None:  # already gone from Graph: only forget it
            return []
        return [_item(f"{base}#delete", "DELETE", f"{collection}/{change.graph_id}")]
    if change.action is Action.REPLACE:
        delete = _item(f"{base}#delete", "DELETE", f"{collection}/{change.graph_id}")
        create = _item(f"{base}#create", "POST", collection, change.body,
                       depends_on=(delete["id"],))
        return [delete, create]
    raise ValueError(f"unknown action {change.action}")


def _item(item_id: str, method: str, url: str, body: Any = None,
          depends_on: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": item_id, "method": method, "url": url, "body": body, "depends_on": depends_on}


def _chunks(changes: Sequence[Change]) -> list[list[Change]]:
    """Group changes so each chunk is exactly one `$batch` Graph accepts (batching.pack): a
    change whose requests depend on one another (a replace, a delete after its unlinks) is a
    fully sequential chunk of its own; changes of independent requests share fully parallel
    chunks of at most BATCH_LIMIT requests. Plan order is kept."""
    chunks: list[list[Change]] = []
    current: list[Change] = []
    size = 0
    for change in changes:
        requests = _shape(change)
        if any(r["depends_on"] for r in requests):
            if current:
                chunks.append(current)
                current, size = [], 0
            chunks.append([change])
            continue
        need = max(len(requests), 1)
        if current and size + need > BATCH_LIMIT:
            chunks.append(current)
            current, size = [], 0
        current.append(change)
        size += need
    if current:
        chunks.append(current)
    return chunks


def _execute(plan: Plan, *, graph: Any, store: Any, state: State, progress: Progress,
             now: Callable[[], str], outcome: _Round | None = None) -> _Round:
    """Send the plan's chunks, up to CONCURRENCY batches at once, and settle each result in
    plan order, saving the state after every one. The first failure or unknown outcome
    stops the sending (a throttled create does not: `_unsettled`); the batches already in
    flight are still settled and saved. A chunk that deletes, replaces
    or links user flows runs alone, after everything before it is settled."""
    outcome = outcome if outcome is not None else _Round(state=state)
    flight: deque[tuple[list[Change], Future]] = deque()
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for chunk in _chunks(plan.changes):
            alone = _runs_alone(chunk)
            while flight and (alone or len(flight) >= CONCURRENCY):
                error = _finish(*flight.popleft(), outcome, graph=graph, store=store,
                                progress=progress, now=now) or error
            if error is not None or outcome.failed or _unsettled(outcome):
                break
            if alone:
                outcome.state = _before_destroy(chunk, outcome.state, store=store)
            flight.append((chunk, pool.submit(_send, graph, chunk)))
            if alone:
                error = _finish(*flight.popleft(), outcome, graph=graph, store=store,
                                progress=progress, now=now) or error
        while flight:
            error = _finish(*flight.popleft(), outcome, graph=graph, store=store,
                            progress=progress, now=now) or error
    if error is not None:
        raise error
    return outcome


def _unsettled(outcome: _Round) -> bool:
    """Writes of unknown outcome other than creates Graph throttled. A throttled create does
    not stop the sending: the other providers' creates cannot make it a twin, and the
    re-read at the end of the round settles it with the rest (one re-read, not one each)."""
    return any(c.address not in outcome.throttled for c in outcome.unknown)


def _before_destroy(chunk: Sequence[Change], state: State, *, store: Any) -> State:
    """Records whose objects this batch deletes stop counting as freshly created (saved before
    sending): if the run dies after the delete ran, the plan's replication guard must not take
    the missing object for one not listed yet, and so leave a provider lost."""
    from idpctl.state.store import with_record

    marked = state
    for change in chunk:
        record = state.providers.get(change.address)
        if change.action in (Action.DELETE, Action.REPLACE) and record and record.created_at:
            marked = with_record(marked, replace(record, created_at=None))
    if marked is not state:
        store.save(marked)
    return marked


def _runs_alone(chunk: Sequence[Change]) -> bool:
    return any(c.action in (Action.DELETE, Action.REPLACE) or c.links for c in chunk)


def _send(graph: Any, chunk: Sequence[Change]) -> tuple[Mapping[str, Any], set[str], float]:
    """One chunk's batch (in a worker thread): (results, ids of unknown outcome, wait)."""
    from idpctl.graph.client import BatchRequest

    items = [req for change in chunk for req in _requests(change, root=graph.root)]
    if not items:
        return {}, set(), 0.0
    batch = [BatchRequest(id=i["id"], method=i["method"], url=i["url"], body=i["body"],
                          depends_on=tuple(i["depends_on"])) for i in items]
    try:
        return graph.batch(batch), set(), 0.0
    except WriteOutcomeUnknown as error:
        unknown_ids = set(getattr(error, "ids", None) or (i["id"] for i in items))
        return getattr(error, "results", None) or {}, unknown_ids, error.retry_after or 0.0


def _finish(chunk: list[Change], future: Future, outcome: _Round, *, graph: Any, store: Any,
            progress: Progress, now: Callable[[], str]) -> BaseException | None:
    """Settle one sent chunk into `outcome` and save the state; the chunk's exception (a
    refused batch) is returned, to be raised once every batch in flight is settled."""
    try:
        results, unknown_ids, retry_after = future.result()
    except Exception as error:
        return error
    outcome.throttled_for(retry_after)
    for change in chunk:
        _settle(change, results, unknown_ids, outcome, progress=progress, now=now)
    _attach_created(chunk, outcome, graph=graph, progress=progress)
    _record_batch(store, outcome.state, chunk)
    return None


def _settle(change: Change, results: Mapping[str, Any], unknown_ids: set[str], outcome: _Round,
            *, progress: Progress, now: Callable[[], str]) -> None:
    """Fold one change's batch results into the state and the round's report."""
    symbol = change.action.value
    ids = [req["id"] for req in _shape(change)]
    if not ids and change.action is Action.DELETE:
        outcome.state = _forget(outcome.state, change.address)
        outcome.done.append(change.address)
        progress(f"{symbol} {change.address}: already gone from the tenant; forgotten")
        return
    if not ids:  # state-only
        outcome.state = _record(outcome.state, change, graph_id=change.graph_id, now=now)
        outcome.done.append(change.address)
        progress(f"{symbol} {change.address}: recorded in state (nothing sent to Graph)")
        return
    statuses = {i: _gone_is_deleted(results.get(i)) for i in ids}
    if any(i in unknown_ids for i in ids) or any(
        r is not None and _outcome_unknown(r) for r in statuses.values()
    ):
        outcome.unknown.append(change)
        for result in statuses.values():
            if result is not None and result.status == 429:
                outcome.throttled_for(_retry_after(result))
                outcome.throttled.add(change.address)
        progress(f"{symbol} {change.address}: outcome unknown")
        return
    failed = [r for r in statuses.values() if r is None or not 200 <= r.status < 300]
    if failed:
        first = failed[0]
        reason = "no answer" if first is None else _describe(first)
        gone = statuses.get(f"{change.address}#delete")
        if change.action is Action.REPLACE and gone is not None and gone.ok:
            outcome.state = _lost(outcome.state, change)  # the old object is gone
            outcome.half_done.append(change.address)
            reason = f"{_half_done(change)}: {reason}"
        outcome.failed.append(f"{change.address}: {reason}")
        outcome.failed_addresses.add(change.address)
        progress(f"{symbol} {change.address}: failed: {reason}")
        return
    if change.action is Action.DELETE:
        outcome.state = _forget(outcome.state, change.address)
        progress(f"{symbol} {change.address}: deleted")
    else:
        created = statuses.get(f"{change.address}#create")
        graph_id = _created_id(created) if created is not None else change.graph_id
        outcome.state = _record(outcome.state, change, graph_id=graph_id, now=now)
        verb = {Action.CREATE: "created", Action.REPLACE: "replaced"}.get(change.action, "updated")
        progress(f"{symbol} {change.address}: {verb} (id {graph_id})")
    outcome.done.append(change.address)


def _half_done(change: Change) -> str:
    """What a replace whose delete ran and whose create failed left behind."""
    left = sorted({link.flow for link in change.links if not link.attach})
    flows = f" and left user flow(s) {', '.join(left)}" if left else ""
    return (f"half done: the old object (id {change.graph_id}) was deleted{flows}; the new "
            "one was not created (the next plan creates it)")


def _lost(state: State, change: Change) -> State:
    """The state after a replace deleted the old object and did not create the new one. The
    record is forgotten, unless its file does not set `userFlows` and the new object was to
    join flows (those the old one left, and any still pending): then the record stays, its id
    dead and not counting as fresh, with those flows in `relink`, so the next plan creates the
    provider and re-attaches it (the flow list is gone with the old object)."""
    from idpctl.state.store import with_record

    record = state.providers.get(change.address)
    flows = tuple(dict.fromkeys(link.flow_id for link in change.links if link.attach))
    if record is None or not flows or change.desired is None \
            or change.desired.user_flows is not None:
        return _forget(state, change.address)
    return with_record(state, replace(record, created_at=None, relink=flows))


def _attach_created(chunk: Sequence[Change], outcome: _Round, *, graph: Any,
                    progress: Progress) -> None:
    """Add the user-flow links of providers this batch created: their ids exist only now. A
    link that fails (or whose outcome is unknown) stops the run; the next plan shows it.
    Once every link of a provider is in place, its pending `relink` flows are cleared."""
    from idpctl.graph import userflows
    from idpctl.graph.client import BatchRequest

    items = []
    for change in chunk:
        record = outcome.state.providers.get(change.address)
        if change.action in (Action.CREATE, Action.REPLACE) and change.links and record \
                and change.address in outcome.done:
            items += userflows.link_items(change, record.id, attach=True, root=graph.root)
    if not items:
        return
    names = {(c.address, link.flow_id): link.flow for c in chunk for link in c.links}
    try:
        results = graph.batch([BatchRequest(id=i["id"], method=i["method"], url=i["url"],
                                            body=i["body"]) for i in items])
    except WriteOutcomeUnknown as error:
        results = getattr(error, "results", None) or {}
    for item in items:
        address, _, flow_id = item["id"].partition("#link:")
        flow = names.get((address, flow_id), flow_id)
        result = userflows.settled(results.get(item["id"]))
        if result is not None and 200 <= result.status < 300:
            progress(f"  {address}: attached to user flow {flow}")
            continue
        reason = "no answer" if result is None else _describe(result)
        outcome.failed.append(f"{address}: attach to user flow {flow}: {reason}")
        outcome.failed_addresses.add(address)
        progress(f"  {address}: attach to user flow {flow} failed: {reason}")
    for change in chunk:
        if change.address in outcome.done and change.address not in outcome.failed_addresses:
            outcome.state = _relinked(outcome.state, change.address)


def _relinked(state: State, address: str) -> State:
    """`state` without the pending `relink` flows of `address`: the provider is in them."""
    from idpctl.state.store import with_record

    record = state.providers.get(address)
    if record is None or not record.relink:
        return state
    return with_record(state, replace(record, relink=()))


def _outcome_unknown(result: Any) -> bool:
    """5xx and timeouts may come after the write took effect; a create answered 429 is
    settled by a re-read too, because creating again blindly could make a twin."""
    if result.status == 429:
        return result.id.endswith("#create")
    return result.status >= 500 or result.status == 408


def _retry_after(result: Any) -> float:
    from idpctl.net.retry import parse_retry_after

    return parse_retry_after(result.headers) or 1.0


def _gone_is_deleted(result: Any) -> Any:
    """A DELETE answered 404 (say, a retry after a lost answer) finds what it wanted."""
    from idpctl.graph import userflows

    if result is not None and result.id.endswith("#delete") and result.status == 404:
        return replace(result, status=204)
    return userflows.settled(result)


def _describe(result: Any) -> str:
    body = result.body if isinstance(result.body, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    code = error.get("code", "")
    message = str(error.get("message", ""))[:300]
    return f"Graph {result.status} {code}: {message}".rstrip(": ")


def _created_id(result: Any) -> str:
    body = result.body if isinstance(result.body, Mapping) else {}
    graph_id = body.get("id")
    if not isinstance(graph_id, str) or not graph_id:
        raise GraphError("Graph answered a create without an id")
    return graph_id


def _record(state: State, change: Change, *, graph_id: str | None, now: Callable[[], str]) -> State:
    """The state after `change` succeeded: its id, method and the secrets it sent. A rename
    (`moved: {from: ...}`) moves the old address's record to the new one."""
    from idpctl.plan.build import moved_from
    from idpctl.state.store import with_record, without

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
            set_at=now(), source=secret.source, version=secret.version,
        )
    desired = change.desired
    if desired is not None:
        secrets = _with_sources(secrets, desired.fields, state.fingerprint_key)
    record = ManagedRecord(
        kind=change.kind, key=change.key, id=graph_id or (previous.id if previous else ""),
        auth_method=desired.auth_method if desired
        else (previous.auth_method if previous else None),
        secrets=secrets,
    )
    created_at = previous.created_at if keeps_object and previous else now()
    protected = desired.protected if desired else bool(previous and previous.protected)
    # a created object's pending flows stay until its links are in place (_attach_created);
    # an update that succeeded carried them all
    relink = previous.relink if previous and not keeps_object \
        and any(link.attach for link in change.links) else ()
    return with_record(state, replace(record, created_at=created_at, protected=protected,
                                      relink=relink))


def _with_sources(secrets: dict[str, SecretRecord], fields: Mapping[str, Any],
                  key: bytes) -> dict[str, SecretRecord]:
    """Records of unchanged values say where each comes from now (a source the plan showed
    moving, env:A -> env:B with the same value); `set_at` stays: the value was not set."""
    for path, secret in _secrets_in(fields):
        known = secrets.get(path)
        if known is not None and (known.source, known.version) != (secret.source,
                                                                   secret.version) \
                and fingerprint(key, secret) == known.fingerprint:
            secrets[path] = replace(known, source=secret.source, version=secret.version)
    return secrets


def _forget(state: State, address: str) -> State:
    from idpctl.state.store import without

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


def _reconcile(unknown: Sequence[Change], live: Sequence[LiveProvider], state: State, *,
               kinds: Mapping[str, Kind], store: Any) -> State:
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
                record = ManagedRecord(kind=change.kind, key=change.key, id=found.id,
                                       auth_method=change.desired.auth_method
                                       if change.desired else None)
                from idpctl.state.store import with_record

                state = with_record(state, record)
        elif change.action is Action.DELETE and found is None:
            state = _forget(state, change.address)
        elif change.action is Action.REPLACE and change.graph_id not in live_ids:
            state = _lost(state, change)
    store.save(state)
    return state
