"""Sending `$batch` (GRAPH.md 5.1): `run` packs requests (`batch.pack`), posts each batch and
maps every result back to its request.

Batches run on a small thread pool. Inside a batch Graph throttles item by item: only the
throttled items (and those that failed 424 because they waited on one) are sent again, after
the largest `Retry-After`, within the client's retry budget. An item still throttled after
that comes back as its last 429 result; the caller decides.

A `$batch` POST whose answer is lost raises `batch.BatchOutcomeUnknown`.
Internal: no stable Python API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from idpctl.errors import GraphError, WriteOutcomeUnknown
from idpctl.graph.batch import BatchOutcomeUnknown, BatchRequest, BatchResult, pack
from idpctl.net.ratelimit import Budget
from idpctl.net.retry import Backoff, parse_retry_after

__all__ = ["BatchClient", "run"]

log = logging.getLogger(__name__)


class BatchClient(Protocol):
    """What `run` needs of the Graph client (`graph.GraphClient` passes itself in): its retry
    settings, the budget it pauses through, and one request."""

    @property
    def backoff_base(self) -> float: ...

    @property
    def max_wait(self) -> float: ...

    @property
    def max_retries(self) -> int: ...

    @property
    def bucket(self) -> Budget: ...

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        cost: int = 1,
        write: bool | None = None,
        resend: bool = True,
    ) -> Any: ...


def run(
    client: BatchClient, requests: Sequence[BatchRequest], *, concurrency: int = 4
) -> dict[str, BatchResult]:
    """Send `requests` through `$batch`; returns each item's result by its id."""
    batches = pack(requests)
    results: dict[str, BatchResult] = {}
    lost: list[str] = []
    waits: list[float] = []
    first: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(batches) or 1))) as pool:
        futures = [pool.submit(_run_one, client, batch) for batch in batches]
        for future in futures:
            try:
                results.update({v.id: v for v in future.result().values()})
            except BatchOutcomeUnknown as error:
                results.update(error.results)
                lost.extend(error.ids)
                waits += [error.retry_after] if error.retry_after else []
            except BaseException as error:  # kept until every batch has finished
                first = first or error
    if lost:
        raise BatchOutcomeUnknown(
            f"no answer came back for $batch writes {', '.join(lost)}; re-read before retrying",
            ids=lost,
            results=results,
            retry_after=max(waits, default=None),
        )
    if first is not None:
        raise first
    return results


def _run_one(client: BatchClient, batch: list[BatchRequest]) -> dict[str, BatchResult]:
    """One batch, re-sending only throttled items until none are left or the budget ends.
    Results are keyed by lower-cased id (Graph's ids are not case-sensitive)."""
    results: dict[str, BatchResult] = {}
    pending = batch
    backoff = Backoff(base=client.backoff_base, max_total=client.max_wait)
    for round_no in range(client.max_retries + 1):
        try:
            answers = _post(client, pending, results)
        except BatchOutcomeUnknown as error:
            error.results.update({v.id: v for v in results.values()})
            raise
        if round_no:
            answers = {k: _gone_is_done(pending, v) for k, v in answers.items()}
        retry = _to_retry(pending, answers)
        results.update({k: v for k, v in answers.items() if k not in retry})
        if not retry:
            return results
        waits = [parse_retry_after(answers[k].headers) for k in retry]
        given = [w for w in waits if w is not None]
        wait = (
            None
            if round_no == client.max_retries
            else backoff.next_wait(max(given) if given else None)
        )
        if wait is None:
            results.update({k: answers[k] for k in retry})
            return results
        client.bucket.pause(wait)
        log.debug("retrying %d throttled batch items in %.2fs", len(retry), wait)
        time.sleep(wait)
        pending = [r for r in pending if r.id.lower() in retry]
    return results


def _post(
    client: BatchClient, items: list[BatchRequest], done: Mapping[str, BatchResult]
) -> dict[str, BatchResult]:
    payload = {"requests": [_item(r, done) for r in items]}
    try:
        reply = client.request(
            "POST",
            "/$batch",
            body=payload,
            cost=len(items),
            write=any(r.write for r in items),
            resend=not any(r.method.upper() == "POST" for r in items),
        )
    except WriteOutcomeUnknown as error:
        ids = [r.id for r in items if r.write]
        raise BatchOutcomeUnknown(
            f"{error} (batch items {', '.join(ids)})",
            ids=ids,
            results={},
            status=error.status,
            retry_after=error.retry_after,
        ) from None
    return _answers(reply.body, items)


def _item(request: BatchRequest, done: Mapping[str, BatchResult]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": request.id, "method": request.method.upper(), "url": request.url}
    deps = [d for d in request.depends_on if d.lower() not in done]
    if deps:
        item["dependsOn"] = deps
    if request.body is not None:
        item["headers"] = {"Content-Type": "application/json"}
        item["body"] = request.body
    return item


def _answers(body: Any, items: list[BatchRequest]) -> dict[str, BatchResult]:
    """Map Graph's responses (any order, ids not case-sensitive) back to lower-cased ids."""
    responses = body.get("responses") if isinstance(body, dict) else None
    if not isinstance(responses, list):
        raise GraphError("Graph answered $batch without a 'responses' array")
    wanted = {r.id.lower(): r.id for r in items}
    answers: dict[str, BatchResult] = {}
    for entry in responses:
        if not isinstance(entry, dict) or not isinstance(entry.get("status"), int):
            raise GraphError("Graph answered $batch with a malformed response item")
        key = str(entry.get("id", "")).lower()
        if key not in wanted:
            raise GraphError(f"Graph answered $batch for an id it was not sent: {key!r}")
        given = entry.get("headers")
        headers: dict[str, Any] = given if isinstance(given, dict) else {}
        answers[key] = BatchResult(
            wanted[key],
            entry["status"],
            {str(k).lower(): str(v) for k, v in headers.items()},
            entry.get("body"),
        )
    missing = [wanted[k] for k in wanted if k not in answers]
    if missing:
        unknown = [r.id for r in items if r.write and r.id in missing]
        if unknown:
            raise BatchOutcomeUnknown(
                f"$batch answered nothing for {', '.join(unknown)}",
                ids=unknown,
                results={v.id: v for v in answers.values()},
            )
        raise GraphError(f"$batch answered nothing for {', '.join(missing)}")
    return answers


def _gone_is_done(items: list[BatchRequest], result: BatchResult) -> BatchResult:
    """A re-sent DELETE answered 404 found what it wanted (the 429 that made us re-send it
    came after the delete ran): it counts as done, so the create waiting on it can run."""
    request = next((r for r in items if r.id.lower() == result.id.lower()), None)
    if request is not None and request.method.upper() == "DELETE" and result.status == 404:
        return BatchResult(result.id, 204, {}, None)
    return result


def _to_retry(items: list[BatchRequest], answers: Mapping[str, BatchResult]) -> set[str]:
    """Throttled items, plus items that failed 424 only because they waited on one, or on a
    DELETE that found its object already gone."""
    retry = {r.id.lower() for r in items if _not_executed(r, answers[r.id.lower()])}
    for request in items:
        deps = [answers.get(d.lower()) for d in request.depends_on]
        if (
            answers[request.id.lower()].status == 424
            and deps
            and all(d is not None and d.ok for d in deps)
        ):
            retry.add(request.id.lower())
    changed = True
    while changed:
        changed = False
        for request in items:
            key = request.id.lower()
            if key in retry or answers[key].status != 424:
                continue
            if any(d.lower() in retry for d in request.depends_on):
                retry.add(key)
                changed = True
    return retry


def _not_executed(request: BatchRequest, result: BatchResult) -> bool:
    """Items safe to send again as they are. A create is never among them: even a 429 is
    handed back, so the applier re-reads by natural key before creating again (a twin is
    worse than a slower apply). PATCH and DELETE are idempotent, so a 429 on them is retried;
    a 5xx on any write is an unknown outcome, never re-sent here."""
    if result.status == 429:
        return request.method.upper() != "POST"
    return not request.write and result.status in (500, 502, 503, 504)
