"""Small file helpers shared by the writers of plan and state files."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from idpctl.errors import IdpctlError

__all__ = ["parse_duration", "write_atomic"]


def write_atomic(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write `text` to `path` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


MAX_WAIT_SECONDS = 24 * 3600.0  # a lock wait past a day is a typo, and 1e308 never ends
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "ms": 0.001}


def parse_duration(text: str) -> float:
    """Seconds from `30s`, `2m`, `1h`, `500ms` or a bare number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text or "")
    if not match:
        raise IdpctlError(f"{text!r} is not a duration: write e.g. 30s, 2m or 1h")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or ""]
    if seconds > MAX_WAIT_SECONDS:
        raise IdpctlError(f"{text!r} is longer than 24h: write e.g. 30s, 2m or 1h")
    return seconds
