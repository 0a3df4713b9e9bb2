"""JSON batching (GRAPH.md 5.1): parse a `$batch` body, run its items in a dependency order,
answer 424 for dependents of a failed item, and return the responses shuffled. A batch that
mixes sequential and parallel items, or names a later or unknown item in `dependsOn`, is
refused whole with 400 BadRequest, as Graph does (docs/emulator.md).

Items without a `dependsOn` path between them run in a random order, as Graph promises no
order for them; the responses come back shuffled whatever the execution order was.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from idpctl_emulator import wire

__all__ = [
    "MAX_ITEMS",
    "BatchError",
    "BatchItem",
    "item_request",
    "parse_batch",
    "respond",
    "run_batch",
]

MAX_ITEMS = 20


class BatchError(ValueError):
    """The whole batch is malformed: Graph answers 400 and runs nothing."""


@dataclass(frozen=True)
class BatchItem:
    id: str
    method: str
    url: str  # as sent, relative to the version root
    headers: dict[str, str]
    body: bytes
    depends_on: tuple[str, ...]  # lower-cased ids

    @property
    def key(self) -> str:
        return self.id.lower()


def _body_bytes(item_id: str, body: Any, headers: dict[str, str]) -> bytes:
    if body is None:
        return b""
    if not any(k.lower() == "content-type" for k in headers):
        raise BatchError(f"Request '{item_id}' has a body but no Content-Type header.")
    if isinstance(body, str):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _parse_item(raw: Any) -> BatchItem:
    if not isinstance(raw, dict):
        raise BatchError("Each batch request must be a JSON object.")
    item_id, method, url = raw.get("id"), raw.get("method"), raw.get("url")
    if not isinstance(item_id, str) or not item_id:
        raise BatchError("Each batch request needs a string 'id'.")
    if not isinstance(method, str) or not isinstance(url, str) or not url:
        raise BatchError(f"Request '{item_id}' needs a 'method' and a 'url'.")
    headers = raw.get("headers") or {}
    depends = raw.get("dependsOn") or []
    if not isinstance(headers, dict) or not isinstance(depends, list):
        raise BatchError(f"Request '{item_id}': 'headers' is an object, 'dependsOn' an array.")
    headers = {str(k): str(v) for k, v in headers.items()}
    return BatchItem(
        item_id,
        method.upper(),
        url,
        headers,
        _body_bytes(item_id, raw.get("body"), headers),
        tuple(str(d).lower() for d in depends),
    )


def parse_batch(payload: Any) -> list[BatchItem]:
    """Validate a batch body; raises BatchError for >20 items, duplicate ids (compared
    case-insensitively), unknown, forward or cyclic `dependsOn`, a batch neither fully
    sequential nor fully parallel, or a malformed item."""
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise BatchError('The batch body must be {"requests": [...]} with at least one request.')
    if len(requests) > MAX_ITEMS:
        raise BatchError(f"A batch may hold at most {MAX_ITEMS} requests; got {len(requests)}.")
    items = [_parse_item(raw) for raw in requests]
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            raise BatchError(f"Duplicate request id '{item.id}' in the batch.")
        seen.add(item.key)
    for item in items:
        for dep in item.depends_on:
            if dep not in seen or dep == item.key:
                raise BatchError(f"Request '{item.id}' depends on unknown request '{dep}'.")
    _sequential_or_parallel(items)
    _order(items, random.Random(0))  # raises on a cycle
    return items


def _sequential_or_parallel(items: list[BatchItem]) -> None:
    """MGD concepts/json-batching.md: "Batch should be either fully sequential or fully
    parallel"; a mixed batch is refused whole with 400 (docs issue
    microsoft-graph-docs-contrib#2339). A dependency must come earlier in the array
    (msgraph-sdk-java-core#71; msgraph-sdk-dotnet-core#891: "Invalid dependency for request
    Id"). **Assumption** (docs silent): fully sequential means the first item depends on
    nothing and each other item on exactly the item before it."""
    if not any(item.depends_on for item in items):
        return
    position = {item.key: n for n, item in enumerate(items)}
    for n, item in enumerate(items):
        later = [d for d in item.depends_on if position[d] > n]
        if later:
            raise BatchError(
                f"Invalid dependency for request Id '{item.id}': '{later[0]}' "
                "comes later in the batch."
            )
        if item.depends_on != ((items[n - 1].key,) if n else ()):
            raise BatchError("Batch should be either fully sequential or fully parallel.")


def _order(items: list[BatchItem], rng: random.Random) -> list[BatchItem]:
    done: set[str] = set()
    pending = list(items)
    order: list[BatchItem] = []
    while pending:
        ready = [i for i in pending if all(d in done for d in i.depends_on)]
        if not ready:
            raise BatchError("The dependsOn references form a cycle.")
        pick = rng.choice(ready)
        pending.remove(pick)
        done.add(pick.key)
        order.append(pick)
    return order


def _failed_dependency(item: BatchItem, request_id: str) -> wire.Response:
    return wire.graph_error(
        424,
        "FailedDependency",
        f"Request '{item.id}' was not run: a request it depends on failed.",
        request_id=request_id,
    )


def _item_json(item: BatchItem, response: wire.Response) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id,
        "status": response.status,
        "headers": dict(response.headers),
    }
    if response.body:
        try:
            out["body"] = json.loads(response.body)
        except ValueError:
            out["body"] = base64.b64encode(response.body).decode("ascii")
    return out


def run_batch(
    items: list[BatchItem],
    execute: Callable[[BatchItem], wire.Response],
    *,
    new_request_id: Callable[[], str],
    rng: random.Random | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Run the items; return the batch response body and the first transport action
    (drop or hang) an item's fault asked for, which then applies to the whole HTTP request."""
    rng = rng or random.Random()
    failed: set[str] = set()
    results: list[dict[str, Any]] = []
    action: str | None = None
    for item in _order(items, rng):
        if any(d in failed for d in item.depends_on):
            response = _failed_dependency(item, new_request_id())
        else:
            response = execute(item)
        if response.action:
            action = action or response.action
            failed.add(item.key)
            continue
        if response.status >= 400:
            failed.add(item.key)
        results.append(_item_json(item, response))
    rng.shuffle(results)
    return {"responses": results}, action


def item_request(
    outer: wire.Request, version: str, item: BatchItem
) -> tuple[wire.Request, str | None]:
    """The item as a request of its own under the version root, carrying the batch's token;
    and its path below the version root (None when the URL is not a relative Graph URL)."""
    split = urlsplit(item.url)
    sub = split.path if split.path.startswith("/") else "/" + split.path
    headers = {k.lower(): v for k, v in item.headers.items()}
    if "authorization" in outer.headers:
        headers.setdefault("authorization", outer.headers["authorization"])
    inner = wire.Request(
        item.method,
        f"/{version}{sub}",
        parse_qs(split.query, keep_blank_values=True),
        headers,
        item.body,
        outer.client_host,
    )
    if split.scheme or split.netloc or sub == "/$batch":
        return inner, None
    return inner, sub


Execute = Callable[[wire.Request, str, list[str]], wire.Response]  # (item, sub path, paths)


def respond(
    outer: wire.Request,
    version: str,
    *,
    execute: Execute,
    finish: Callable[[wire.Request, wire.Response], wire.Response],
    record: Callable[[wire.Request, wire.Response], None],
) -> wire.Response:
    """Answer `POST /{version}/$batch`: 400 for a malformed batch, else run the items
    through `execute` (with their fault-matching paths) and answer 200 with the responses."""
    if outer.method != "POST":
        return wire.graph_error(
            405, "notAllowed", "$batch takes POST only.", request_id=outer.request_id
        )
    try:
        items = parse_batch(outer.json())
    except (BatchError, ValueError, UnicodeDecodeError) as error:
        message = str(error) if isinstance(error, BatchError) else "The body is not JSON."
        return wire.graph_error(400, "BadRequest", message, request_id=outer.request_id)

    def one(item: BatchItem) -> wire.Response:
        inner, sub = item_request(outer, version, item)
        if sub is None:
            response = wire.graph_error(
                400,
                "BadRequest",
                f"Invalid batch request URL '{item.url}'.",
                request_id=inner.request_id,
            )
        else:
            response = execute(inner, sub, [item.url, inner.path])
        response = finish(inner, response)
        record(inner, response)
        return response

    payload, action = run_batch(items, one, new_request_id=lambda: str(uuid.uuid4()))
    if action:
        return wire.Response(0, action=action)
    return wire.json_response(200, payload)
