"""Record Graph exchanges as conformance fixtures (docs/conformance.md).

`GraphClient(recorder=FixtureRecorder(...))` hands it each exchange with every secret-named
value and every secret the client sent masked, and no header (so no token). `save()` writes
one fixture file in the format `make conformance` replays against the emulator:

    {"source": "recorded ...", "tenantKind": "external", "truncated": false,
     "scope": "<display-name prefix or null>", "exchanges": [{"request": {...},
     "response": {...}}, ...]}

`IDPCTL_RECORD_DIR=<dir>` makes every idpctl command that talks to Graph record one file
there (pipeline.graph_session); the acceptance suite sets it when asked to record.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RECORD_DIR_ENV", "FixtureRecorder", "from_environment"]

RECORD_DIR_ENV = "IDPCTL_RECORD_DIR"
SCOPE_ENV = "IDPCTL_RECORD_SCOPE"  # a display-name prefix: list items outside it are not kept


class FixtureRecorder:
    """Collects exchanges (thread-safe) and writes them as one fixture file."""

    def __init__(
        self, folder: Path, *, tenant_kind: str, source: str, scope: str | None = None
    ) -> None:
        self.folder = folder
        self.tenant_kind = tenant_kind
        self.source = source
        self.scope = scope
        self._lock = threading.Lock()
        self._exchanges: list[dict[str, Any]] = []

    def __call__(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            self._exchanges.append(self._in_scope(exchange))

    def _in_scope(self, exchange: dict[str, Any]) -> dict[str, Any]:
        """A list answer keeps only the items this run owns (display name with the prefix):
        a real tenant's other providers are none of the fixture's business."""
        body = exchange["response"].get("body")
        if (
            self.scope is None
            or not isinstance(body, dict)
            or not isinstance(body.get("value"), list)
        ):
            return exchange
        kept = [
            item
            for item in body["value"]
            if isinstance(item, dict) and str(item.get("displayName") or "").startswith(self.scope)
        ]
        return {**exchange, "response": {**exchange["response"], "body": {**body, "value": kept}}}

    def save(self) -> Path | None:
        """Write the fixture (0600); None when nothing was recorded."""
        with self._lock:
            exchanges = list(self._exchanges)
        if not exchanges:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.folder / f"recorded-{stamp}-{uuid.uuid4().hex[:8]}.json"
        data = {
            "source": self.source,
            "tenantKind": self.tenant_kind,
            "truncated": False,
            "scope": self.scope,
            "exchanges": exchanges,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        return path


def from_environment(*, tenant_kind: str, source: str) -> FixtureRecorder | None:
    """The recorder `IDPCTL_RECORD_DIR` asks for, or None."""
    folder = os.environ.get(RECORD_DIR_ENV)
    if not folder:
        return None
    return FixtureRecorder(
        Path(folder),
        tenant_kind=tenant_kind,
        source=source,
        scope=os.environ.get(SCOPE_ENV) or None,
    )
