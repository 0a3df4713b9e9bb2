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

This module runs the rounds and the batches; the parts live beside it: `batches` (a change's
requests and the chunks), `settle` (answers into outcomes), `records` (the state records),
`reread` (after unknown outcomes), `heartbeat`, and `seams` (the typed `GraphWriter`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from idpctl.errors import ApplyError, ApplyReport, WriteOutcomeUnknown
from idpctl.graph.batch import BatchRequest, BatchResult
from idpctl.model import Change, Kind, Plan, State
from idpctl.state.store import JournalledStore, StateStore

from . import heartbeat as _heartbeat
from . import reread as _reread
from .batches import BATCH_LIMIT, chunks, requests, runs_alone
from .heartbeat import Heartbeat
from .records import before_destroy
from .reread import Replan, Reread
from .seams import GraphWriter, Progress
from .settle import Round, attach_created, settle

__all__ = ["BATCH_LIMIT", "ApplyResult", "run"]

log = logging.getLogger(__name__)

CONCURRENCY = 4  # batches in flight at once; every item still counts against the budget
MAX_ROUNDS = 50  # a hard stop; rounds normally end when a few in a row make no progress
MAX_STALLED_ROUNDS = 3
MAX_THROTTLE_WAIT = 60.0

_Sent = tuple[Mapping[str, BatchResult], set[str], float]


@dataclass(frozen=True)
class ApplyResult:
    state: State
    done: tuple[str, ...] = ()
    rounds: int = 1


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    plan: Plan,
    *,
    graph: GraphWriter,
    store: StateStore,
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
    with Heartbeat(
        heartbeat,
        total=len(plan.changes),
        graph=graph,
        every=heartbeat_every or _heartbeat.HEARTBEAT_SECONDS,
    ) as beat:
        try:
            result = _rounds(
                plan,
                graph=graph,
                store=store,
                state=state,
                kinds=kinds,
                progress=progress,
                reread=reread,
                replan=replan,
                now=now,
                sleep=sleep,
                beat=beat,
            )
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


def _record_batch(store: StateStore, state: State, chunk: Sequence[Change]) -> None:
    """The durable record of one settled batch: a journal record of its changes where the
    store keeps one (local files), else a full save. A crash loses at most the batch in
    flight either way."""
    if isinstance(store, JournalledStore):
        store.append(state, addresses=[change.address for change in chunk])
    else:
        store.save(state)


def _compact(store: StateStore) -> None:
    """Fold the batch journal into the state (the end of an apply)."""
    if isinstance(store, JournalledStore):
        store.compact()


def _rounds(
    plan: Plan,
    *,
    graph: GraphWriter,
    store: StateStore,
    state: State,
    kinds: Mapping[str, Kind],
    progress: Progress,
    reread: Reread | None,
    replan: Replan | None,
    now: Callable[[], str],
    sleep: Callable[[float], None],
    beat: Heartbeat,
) -> ApplyResult:
    done: list[str] = []
    stalled = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        beat.current = Round(state=state)
        outcome = _execute(
            plan,
            graph=graph,
            store=store,
            state=state,
            progress=progress,
            now=now,
            outcome=beat.current,
        )
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
        live = _reread.reread_settled(pending, reread, sleep=sleep, progress=progress)
        state = _reread.reconcile(outcome.unknown, live, state, kinds=kinds, store=store)
        plan = replan(state, live)
        if not plan.changes:
            return ApplyResult(state=state, done=tuple(done), rounds=round_no)
    raise ApplyError(
        f"apply gave up after {MAX_ROUNDS} rounds of writes with unknown outcomes; "
        "run plan to see what is left",
        report=ApplyReport(done=done),
    )


def _stopped(plan: Plan, outcome: Round, done: Sequence[str]) -> ApplyError:
    """The error of a round that had failures; a half-done replace is counted as such."""
    settled = {*outcome.done, *outcome.failed_addresses}
    not_done = [c.address for c in plan.changes if c.address not in settled]
    more = len(outcome.failed) - 1
    half = f", {len(outcome.half_done)} half done" if outcome.half_done else ""
    return ApplyError(
        f"apply stopped: {outcome.failed[0]}"
        + (f" (and {more} more)" if more > 0 else "")
        + f"; {len(done)} change(s) done{half}, {len(not_done)} not done; the state records "
        "what was done, run apply again after fixing the cause",
        report=ApplyReport(
            done=list(done), failed=outcome.failed, not_done=not_done, half_done=outcome.half_done
        ),
    )


def _execute(
    plan: Plan,
    *,
    graph: GraphWriter,
    store: StateStore,
    state: State,
    progress: Progress,
    now: Callable[[], str],
    outcome: Round | None = None,
) -> Round:
    """Send the plan's chunks, up to CONCURRENCY batches at once, and settle each result in
    plan order, saving the state after every one. The first failure or unknown outcome
    stops the sending (a throttled create does not: `_unsettled`); the batches already in
    flight are still settled and saved. A chunk that deletes, replaces
    or links user flows runs alone, after everything before it is settled."""
    outcome = outcome if outcome is not None else Round(state=state)
    flight: deque[tuple[list[Change], Future[_Sent]]] = deque()
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for chunk in chunks(plan.changes):
            alone = runs_alone(chunk)
            while flight and (alone or len(flight) >= CONCURRENCY):
                error = (
                    _finish(
                        *flight.popleft(),
                        outcome,
                        graph=graph,
                        store=store,
                        progress=progress,
                        now=now,
                    )
                    or error
                )
            if error is not None or outcome.failed or _unsettled(outcome):
                break
            if alone:
                outcome.state = before_destroy(chunk, outcome.state, store=store)
            flight.append((chunk, pool.submit(_send, graph, chunk)))
            if alone:
                error = (
                    _finish(
                        *flight.popleft(),
                        outcome,
                        graph=graph,
                        store=store,
                        progress=progress,
                        now=now,
                    )
                    or error
                )
        while flight:
            error = (
                _finish(
                    *flight.popleft(), outcome, graph=graph, store=store, progress=progress, now=now
                )
                or error
            )
    if error is not None:
        raise error
    return outcome


def _unsettled(outcome: Round) -> bool:
    """Writes of unknown outcome other than creates Graph throttled. A throttled create does
    not stop the sending: the other providers' creates cannot make it a twin, and the
    re-read at the end of the round settles it with the rest (one re-read, not one each)."""
    return any(c.address not in outcome.throttled for c in outcome.unknown)


def _send(graph: GraphWriter, chunk: Sequence[Change]) -> _Sent:
    """One chunk's batch (in a worker thread): (results, ids of unknown outcome, wait)."""
    items = [req for change in chunk for req in requests(change, root=graph.root)]
    if not items:
        return {}, set(), 0.0
    batch = [
        BatchRequest(
            id=i["id"],
            method=i["method"],
            url=i["url"],
            body=i["body"],
            depends_on=tuple(i["depends_on"]),
        )
        for i in items
    ]
    try:
        return graph.batch(batch), set(), 0.0
    except WriteOutcomeUnknown as error:
        unknown_ids = set(getattr(error, "ids", None) or (i["id"] for i in items))
        return getattr(error, "results", None) or {}, unknown_ids, error.retry_after or 0.0


def _finish(
    chunk: list[Change],
    future: Future[_Sent],
    outcome: Round,
    *,
    graph: GraphWriter,
    store: StateStore,
    progress: Progress,
    now: Callable[[], str],
) -> BaseException | None:
    """Settle one sent chunk into `outcome` and save the state; the chunk's exception (a
    refused batch) is returned, to be raised once every batch in flight is settled."""
    try:
        results, unknown_ids, retry_after = future.result()
    except Exception as error:
        return error
    outcome.throttled_for(retry_after)
    for change in chunk:
        settle(change, results, unknown_ids, outcome, progress=progress, now=now)
    attach_created(chunk, outcome, graph=graph, progress=progress)
    _record_batch(store, outcome.state, chunk)
    return None
