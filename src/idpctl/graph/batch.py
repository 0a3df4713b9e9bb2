"""JSON batching (GRAPH.md 5.1): many requests in few round trips, each result mapped back.

Requests that depend on one another (`depends_on`) must share a batch, as Graph resolves
`dependsOn` only inside one, and a batch must be fully sequential or fully parallel: so each
connected group is sent as one sequential batch of its own (a chain, each request depending on
the one before it), and independent requests share parallel batches of at most 20 (`pack`).
Batches run on a small thread pool. Inside a batch Graph throttles item by item: only the
throttled items (and those that failed 424 because they waited on one) are sent again, after
the largest `Retry-After`, within the client's retry budget. An item still throttled after
that comes back as its last 429 result; the caller decides.

A `$batch` POST whose answer is lost leaves every write in it outcome-unknown:
`BatchOutcomeUnknown` names those ids and carries every result that did come back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from idpctl.errors import GraphError, WriteOutcomeUnknown
from idpctl.net.ratelimit import Budget
from idpctl.net.retry import Backoff, parse_retry_after

__all__ = [
    "MAX_BATCH",
    "BatchClient",
    "BatchOutcomeUnknown",
    "BatchRequest",
    "BatchResult",
    "chain",
    "is_sequential_or_parallel",
    "pack",
    "run",
]

log = logging.getLogger(__name__)

MAX_BATCH = 20
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


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


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch; `url` is relative to the version root (`/identity/...`)."""

    id: str
    method: str
    url: str
    body: Any = None  # may hold Secret leaves; encoded by the client
    depends_on: tuple[str, ...] = ()

    @property
    def write(self) -> bool:
        return self.method.upper() in _WRITES


@dataclass(frozen=True)
class BatchResult:
    """One item's answer. `headers` keys are lower-cased; `body` is parsed JSON or None."""

    id: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class BatchOutcomeUnknown(WriteOutcomeUnknown):
    """A `$batch` POST got no usable answer: the writes in `ids` may or may not have run.
    `results` holds every item result that did come back (from other batches or rounds)."""

    def __init__(
        self,
        message: str,
        *,
        ids: Sequence[str],
        results: Mapping[str, BatchResult],
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)
        self.ids = tuple(ids)
        self.results = dict(results)


def pack(requests: Sequence[BatchRequest]) -> list[list[BatchRequest]]:
    """Split into batches Graph accepts. A batch "should be either fully sequential or fully
    parallel" (MGD concepts/json-batching.md; docs issue microsoft-graph-docs-contrib#2339:
    a mixed batch is refused whole with 400), and a dependency must come before the request
    that names it (msgraph-sdk-java-core#71). So each group of requests joined by
    `depends_on` becomes one fully sequential batch of its own: its requests in the given
    order (a dependency moved up before its dependent), each depending on the one before it.
    Requests without dependencies share fully parallel batches of at most 20. Raises
    ValueError for unknown, duplicate, cyclic or oversized groups."""
    by_id = _by_id(requests)
    groups = _groups(requests, by_id)
    batches: list[list[BatchRequest]] = []
    parallel: list[BatchRequest] = []
    for group in groups:
        if len(group) == 1 and not group[0].depends_on:
            if len(parallel) == MAX_BATCH:
                batches.append(parallel)
                parallel = []
            parallel.append(group[0])
            continue
        if len(group) > MAX_BATCH:
            raise ValueError(
                f"{len(group)} requests depend on each other; a batch holds {MAX_BATCH}"
            )
        batches.append(chain(group))
    if parallel:
        batches.append(parallel)
    return batches


def chain(group: Sequence[BatchRequest]) -> list[BatchRequest]:
    """`group` as one fully sequential batch: a topological order that keeps the given order
    where it can, each request depending on exactly the one before it. Running the group as
    a line is stricter than its graph (a failure fails every later request with 424), never
    looser: every original dependency still runs first."""
    ordered = _topological(group)
    out: list[BatchRequest] = []
    for request in ordered:
        before = (out[-1].id,) if out else ()
        out.append(replace(request, depends_on=before))
    return out


def is_sequential_or_parallel(batch: Sequence[BatchRequest]) -> bool:
    """True when `batch` is fully parallel (no `depends_on`) or fully sequential (the first
    request depends on nothing, every other one on exactly the request before it)."""
    if not any(r.depends_on for r in batch):
        return True
    return all(
        tuple(d.lower() for d in r.depends_on) == ((batch[n - 1].id.lower(),) if n else ())
        for n, r in enumerate(batch)
    )


def _by_id(requests: Sequence[BatchRequest]) -> dict[str, BatchRequest]:
    by_id: dict[str, BatchRequest] = {}
    for request in requests:
        if request.id.lower() in by_id:
            raise ValueError(f"duplicate batch request id {request.id!r}")
        by_id[request.id.lower()] = request
    for request in requests:
        for dep in request.depends_on:
            if dep.lower() not in by_id:
                raise ValueError(f"batch request {request.id!r} depends on unknown {dep!r}")
    return by_id


def _groups(
    requests: Sequence[BatchRequest], by_id: Mapping[str, BatchRequest]
) -> list[list[BatchRequest]]:
    """Requests joined by `depends_on` (either way), each group in the given order."""
    parent = {key: key for key in by_id}

    def find(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for request in requests:
        for dep in request.depends_on:
            parent[find(request.id.lower())] = find(dep.lower())
    groups: dict[str, list[BatchRequest]] = {}
    for request in requests:
        groups.setdefault(find(request.id.lower()), []).append(request)
    return list(groups.values())


def _topological(group: Sequence[BatchRequest]) -> list[BatchRequest]:
    done: set[str] = set()
    pending = list(group)
    ordered: list[BatchRequest] = []
    while pending:
        ready = next((r for r in pending if all(d.lower() in done for d in r.depends_on)), None)
        if ready is None:
            raise ValueError(
                "batch requests depend on each other in a cycle: "
                + ", ".join(r.id for r in pending)
            )
        pending.remove(ready)
        done.add(ready.id.lower())
        ordered.append(ready)
    return ordered


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
