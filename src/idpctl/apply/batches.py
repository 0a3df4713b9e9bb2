"""A plan's changes as `$batch` items, and the chunks they are sent in.

Each change becomes the Graph requests it needs (with its user-flow links); `chunks` groups
changes so that each chunk is exactly one `$batch` Graph accepts. Pure: no I/O. Internal: no
stable Python API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idpctl.model import Action, Change

__all__ = ["BATCH_LIMIT", "chunks", "requests", "runs_alone", "shape"]

BATCH_LIMIT = 20
_COLLECTION = "/identity/identityProviders"


def requests(change: Change, *, root: str) -> list[dict[str, Any]]:
    """The Graph requests one change needs, as batch items (ids unique per change), with its
    user-flow links: unlinks before a delete (which depends on them: the batching layer sends
    them as one line), links of a kept object alongside; links of a created object follow its
    batch (`settle.attach_created`). `root` is the Graph version root the link bodies name."""
    from idpctl.graph import userflows

    items = _writes(change)
    if not change.links or change.graph_id is None:
        return items
    unlinks = userflows.link_items(change, change.graph_id, attach=False, root=root)
    if change.action in (Action.DELETE, Action.REPLACE):
        items[0]["depends_on"] = (*items[0]["depends_on"], *(u["id"] for u in unlinks))
        return [*unlinks, *items]
    return [
        *items,
        *unlinks,
        *userflows.link_items(change, change.graph_id, attach=True, root=root),
    ]


def shape(change: Change) -> list[dict[str, Any]]:
    """The change's batch items for their ids and dependencies only (bodies not sent)."""
    return requests(change, root="")


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
        create = _item(
            f"{base}#create", "POST", collection, change.body, depends_on=(delete["id"],)
        )
        return [delete, create]
    raise ValueError(f"unknown action {change.action}")


def _item(
    item_id: str, method: str, url: str, body: Any = None, depends_on: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {"id": item_id, "method": method, "url": url, "body": body, "depends_on": depends_on}


def chunks(changes: Sequence[Change]) -> list[list[Change]]:
    """Group changes so each chunk is exactly one `$batch` Graph accepts (batching.pack): a
    change whose requests depend on one another (a replace, a delete after its unlinks) is a
    fully sequential chunk of its own; changes of independent requests share fully parallel
    chunks of at most BATCH_LIMIT requests. Plan order is kept."""
    found: list[list[Change]] = []
    current: list[Change] = []
    size = 0
    for change in changes:
        items = shape(change)
        if any(r["depends_on"] for r in items):
            if current:
                found.append(current)
                current, size = [], 0
            found.append([change])
            continue
        need = max(len(items), 1)
        if current and size + need > BATCH_LIMIT:
            found.append(current)
            current, size = [], 0
        current.append(change)
        size += need
    if current:
        found.append(current)
    return found


def runs_alone(chunk: Sequence[Change]) -> bool:
    """A chunk that deletes, replaces or links user flows runs after everything before it."""
    return any(c.action in (Action.DELETE, Action.REPLACE) or c.links for c in chunk)
