"""Graph's answers to one sent chunk, folded into the round's report and the state: a
change done, failed (a replace half done), or of unknown outcome (to be settled by a
re-read); the user-flow links of providers the chunk created. Internal: no stable Python API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from idpctl.errors import GraphError, WriteOutcomeUnknown
from idpctl.graph.batch import BatchRequest, BatchResult
from idpctl.model import Action, Change, State

from . import records
from .batches import shape
from .seams import GraphWriter, Progress

__all__ = ["Round", "attach_created", "settle"]


@dataclass
class Round:
    """What one round of sending did: the state so far, and each change's outcome."""

    state: State
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "ADDRESS: reason", one line each
    failed_addresses: set[str] = field(default_factory=set)
    # replaces whose delete ran and whose create did not: counted neither done nor not done
    half_done: list[str] = field(default_factory=list)
    unknown: list[Change] = field(default_factory=list)
    retry_after: float = 0.0  # the longest Retry-After among throttled creates
    resume_at: float = 0.0  # time.monotonic() when the last of those Retry-Afters ends
    throttled: set[str] = field(default_factory=set)  # creates answered 429: not executed

    def throttled_for(self, seconds: float) -> None:
        self.retry_after = max(self.retry_after, seconds)
        self.resume_at = max(self.resume_at, time.monotonic() + seconds)


def settle(
    change: Change,
    results: Mapping[str, BatchResult],
    unknown_ids: set[str],
    outcome: Round,
    *,
    progress: Progress,
    now: Callable[[], str],
) -> None:
    """Fold one change's batch results into the state and the round's report."""
    symbol = change.action.value
    ids = [req["id"] for req in shape(change)]
    if not ids and change.action is Action.DELETE:
        outcome.state = records.forget(outcome.state, change.address)
        outcome.done.append(change.address)
        progress(f"{symbol} {change.address}: already gone from the tenant; forgotten")
        return
    if not ids:  # state-only
        outcome.state = records.record(outcome.state, change, graph_id=change.graph_id, now=now)
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
            outcome.state = records.lost(outcome.state, change)  # the old object is gone
            outcome.half_done.append(change.address)
            reason = f"{_half_done(change)}: {reason}"
        outcome.failed.append(f"{change.address}: {reason}")
        outcome.failed_addresses.add(change.address)
        progress(f"{symbol} {change.address}: failed: {reason}")
        return
    if change.action is Action.DELETE:
        outcome.state = records.forget(outcome.state, change.address)
        progress(f"{symbol} {change.address}: deleted")
    else:
        created = statuses.get(f"{change.address}#create")
        graph_id = _created_id(created) if created is not None else change.graph_id
        outcome.state = records.record(outcome.state, change, graph_id=graph_id, now=now)
        verb = {Action.CREATE: "created", Action.REPLACE: "replaced"}.get(change.action, "updated")
        progress(f"{symbol} {change.address}: {verb} (id {graph_id})")
    outcome.done.append(change.address)


def _half_done(change: Change) -> str:
    """What a replace whose delete ran and whose create failed left behind."""
    left = sorted({link.flow for link in change.links if not link.attach})
    flows = f" and left user flow(s) {', '.join(left)}" if left else ""
    return (
        f"half done: the old object (id {change.graph_id}) was deleted{flows}; the new "
        "one was not created (the next plan creates it)"
    )


def attach_created(
    chunk: Sequence[Change], outcome: Round, *, graph: GraphWriter, progress: Progress
) -> None:
    """Add the user-flow links of providers this batch created: their ids exist only now. A
    link that fails (or whose outcome is unknown) stops the run; the next plan shows it.
    Once every link of a provider is in place, its pending `relink` flows are cleared."""
    from idpctl.graph import userflows

    items = []
    for change in chunk:
        kept = outcome.state.providers.get(change.address)
        if (
            change.action in (Action.CREATE, Action.REPLACE)
            and change.links
            and kept
            and change.address in outcome.done
        ):
            items += userflows.link_items(change, kept.id, attach=True, root=graph.root)
    if not items:
        return
    names = {(c.address, link.flow_id): link.flow for c in chunk for link in c.links}
    results: Mapping[str, BatchResult]
    try:
        results = graph.batch(
            [
                BatchRequest(id=i["id"], method=i["method"], url=i["url"], body=i["body"])
                for i in items
            ]
        )
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
            outcome.state = records.relinked(outcome.state, change.address)


def _outcome_unknown(result: BatchResult) -> bool:
    """5xx and timeouts may come after the write took effect; a create answered 429 is
    settled by a re-read too, because creating again blindly could make a twin."""
    if result.status == 429:
        return result.id.endswith("#create")
    return result.status >= 500 or result.status == 408


def _retry_after(result: BatchResult) -> float:
    from idpctl.net.retry import parse_retry_after

    return parse_retry_after(result.headers) or 1.0


def _gone_is_deleted(result: BatchResult | None) -> BatchResult | None:
    """A DELETE answered 404 (say, a retry after a lost answer) finds what it wanted."""
    from idpctl.graph import userflows

    if result is not None and result.id.endswith("#delete") and result.status == 404:
        return replace(result, status=204)
    settled: BatchResult | None = userflows.settled(result)
    return settled


def _describe(result: BatchResult) -> str:
    body = result.body if isinstance(result.body, Mapping) else {}
    found = body.get("error")
    error = found if isinstance(found, Mapping) else {}
    code = error.get("code", "")
    message = str(error.get("message", ""))[:300]
    return f"Graph {result.status} {code}: {message}".rstrip(": ")


def _created_id(result: BatchResult) -> str:
    body = result.body if isinstance(result.body, Mapping) else {}
    graph_id = body.get("id")
    if not isinstance(graph_id, str) or not graph_id:
        raise GraphError("Graph answered a create without an id")
    return graph_id
