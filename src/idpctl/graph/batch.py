"""JSON batching (GRAPH.md 5.1): the requests and results of a `$batch`, and how they are
packed into batches Graph accepts.

Requests that depend on one another (`depends_on`) must share a batch, as Graph resolves
`dependsOn` only inside one, and a batch must be fully sequential or fully parallel: so each
connected group is sent as one sequential batch of its own (a chain, each request depending on
the one before it), and independent requests share parallel batches of at most 20 (`pack`).
Sending them, re-sending throttled items and mapping the answers back is `graph.batchrun`'s.

A `$batch` POST whose answer is lost leaves every write in it outcome-unknown:
`BatchOutcomeUnknown` names those ids and carries every result that did come back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from idpctl.errors import WriteOutcomeUnknown

__all__ = [
    "MAX_BATCH",
    "BatchOutcomeUnknown",
    "BatchRequest",
    "BatchResult",
    "chain",
    "is_sequential_or_parallel",
    "pack",
]

MAX_BATCH = 20
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


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
