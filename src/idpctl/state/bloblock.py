"""The lock record of the Azure Blob state store, kept in the state blob's metadata while a
lease holds it: its headers, reading it back, clearing it, and how a holder is named in
messages. Pure: no I/O (the lease itself is `state.azureblob`'s). Internal: no stable Python
API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from idpctl.state.lock import LockInfo

__all__ = [
    "PLACEHOLDER",
    "UNKNOWN_HOLDER",
    "BlobProperties",
    "clean_metadata",
    "holder_data",
    "holder_text",
    "lock_headers",
    "lock_record",
]

_META = "idpctl"  # prefix of our metadata names (x-ms-meta-idpctl...)
_LOCK_FIELDS = ("lock_id", "host", "pid", "started_at", "operation", "user")
PLACEHOLDER = f"{_META}placeholder"

# a lease whose holder left no readable record (taken a moment ago, or by another tool)
UNKNOWN_HOLDER = LockInfo(
    lock_id="", host="unknown", pid=0, started_at="unknown", operation="unknown", user="unknown"
)


@dataclass(frozen=True)
class BlobProperties:
    etag: str
    metadata: Mapping[str, str]
    leased: bool


def lock_record(props: BlobProperties | None) -> LockInfo | None:
    """The holder of the blob's lease: None when not leased, `UNKNOWN_HOLDER` when the
    metadata does not name one."""
    if props is None or not props.leased:
        return None
    values: dict[str, Any] = {
        f: props.metadata.get(f"{_META}{f.replace('_', '')}") for f in _LOCK_FIELDS
    }
    with contextlib.suppress(TypeError, ValueError):
        values["pid"] = int(values["pid"])
        return LockInfo.from_data(values)
    return UNKNOWN_HOLDER


def holder_text(holder: LockInfo | None, url: str) -> str:
    if holder is None or holder is UNKNOWN_HOLDER:
        return (
            f"state blob {url} is leased but carries no idpctl lock record (a lease "
            "taken a moment ago, or by another tool); if nothing holds it, break the "
            "lease in Azure"
        )
    return holder.describe()


def holder_data(holder: LockInfo | None) -> dict[str, Any] | None:
    return None if holder is None or holder is UNKNOWN_HOLDER else holder.to_data()


def lock_headers(info: LockInfo, *, placeholder: bool = False) -> dict[str, str]:
    headers = {
        f"x-ms-meta-{_META}{name.replace('_', '')}": quote(str(value), safe=" :@-._")
        for name, value in info.to_data().items()
    }
    if placeholder:
        headers[f"x-ms-meta-{PLACEHOLDER}"] = "true"
    return headers


def clean_metadata(props: BlobProperties | None) -> dict[str, str]:
    """Metadata headers keeping everything but the lock record."""
    lock_names = {f"{_META}{f.replace('_', '')}" for f in _LOCK_FIELDS}
    kept = {} if props is None else {k: v for k, v in props.metadata.items() if k not in lock_names}
    return {f"x-ms-meta-{k}": quote(v, safe=" :@-._") for k, v in kept.items()}
