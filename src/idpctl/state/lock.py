"""The local state lock: a lock file next to the state, created atomically and never broken
behind a user's back.

The lock record is written to a temporary file first and then hard-linked to `<state>.lock`:
`link` fails when the name exists, so the lock appears whole or not at all (no half-written
record for a crash to leave behind). Filesystems without hard links fall back to
`O_CREAT | O_EXCL`. A lock whose holder is gone is reported as such, and only
`idpctl state unlock LOCK_ID` removes it.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from idpctl.errors import LockError, StateError

__all__ = ["LockInfo", "acquire", "break_lock", "read_lock", "release"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock: enough to find the run, and the id that breaks it."""

    lock_id: str
    host: str
    pid: int
    started_at: str  # ISO 8601 UTC
    operation: str
    user: str

    @classmethod
    def new(cls, *, operation: str) -> LockInfo:
        return cls(
            lock_id=str(uuid.uuid4()),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            operation=operation,
            user=_user(),
        )

    @classmethod
    def from_data(cls, data: Any) -> LockInfo:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        values: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        if not isinstance(values["pid"], int) or not all(
            isinstance(values[name], str) for name in values if name != "pid"
        ):
            raise ValueError("missing or mistyped fields")
        return cls(**values)

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    def holder_gone(self) -> bool:
        """True only when the holder ran on this host and its process no longer exists."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self) -> str:
        gone = " (no longer running)" if self.holder_gone() else ""
        return (
            f"state is locked by {self.user}@{self.host} pid {self.pid}{gone} "
            f"since {self.started_at} for {self.operation} (lock id {self.lock_id}); "
            f"if that run is gone, run: idpctl state unlock {self.lock_id}"
        )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def read_lock(lock_path: Path) -> LockInfo | None:
    """The current lock record, None when unlocked; StateError when the file is unreadable."""
    try:
        text = lock_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"cannot read state lock {lock_path}: {_reason(error)}") from None
    try:
        return LockInfo.from_data(json.loads(text))
    except ValueError as error:
        raise StateError(
            f"state lock {lock_path} is unreadable ({error}); if no idpctl run is active, "
            f"delete that file by hand"
        ) from None


def acquire(lock_path: Path, *, operation: str, timeout: float = 0) -> LockInfo:
    """Take the lock, waiting up to `timeout` seconds; LockError naming the holder otherwise."""
    info = LockInfo.new(operation=operation)
    deadline = time.monotonic() + max(timeout, 0)
    while True:
        if _create(lock_path, info):
            log.debug("state lock %s taken (lock id %s)", lock_path, info.lock_id)
            return info
        holder = read_lock(lock_path)
        if holder is None:
            continue  # released between our attempt and the read: try again at once
        if time.monotonic() >= deadline:
            waited = f"timed out after {timeout:g}s waiting: " if timeout > 0 else ""
            raise LockError(waited + holder.describe(), holder=holder.to_data())
        time.sleep(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))


def release(lock_path: Path, info: LockInfo) -> None:
    """Remove the lock if it is still ours; someone who broke it keeps theirs."""
    try:
        current = read_lock(lock_path)
    except StateError:
        current = None
    if current is None or current.lock_id != info.lock_id:
        log.warning("state lock %s was broken while held (lock id %s)", lock_path, info.lock_id)
        return
    with contextlib.suppress(FileNotFoundError):
        lock_path.unlink()
    log.debug("state lock %s released", lock_path)


def break_lock(lock_path: Path, lock_id: str) -> LockInfo:
    """Remove the lock whose id is `lock_id`; refuse any other id. Returns the broken lock."""
    current = read_lock(lock_path)
    if current is None:
        raise StateError(f"state is not locked (no {lock_path})")
    if current.lock_id != lock_id.strip():
        raise LockError(
            f"lock id {lock_id} does not match the current lock: {current.describe()}",
            holder=current.to_data(),
        )
    with contextlib.suppress(FileNotFoundError):
        lock_path.unlink()
    log.info("state lock %s broken (lock id %s)", lock_path, lock_id)
    return current


def _create(lock_path: Path, info: LockInfo) -> bool:
    """Create the lock file holding `info`; False when it already exists."""
    data = (json.dumps(info.to_data(), indent=2) + "\n").encode("utf-8")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    temp = lock_path.with_name(f".{lock_path.name}.{info.lock_id}.tmp")
    try:
        _write_new(temp, data)
        try:
            os.link(temp, lock_path)
            return True
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
        try:
            _write_new(lock_path, data)
            return True
        except FileExistsError:
            return False
    except OSError as error:
        raise StateError(f"cannot create state lock {lock_path}: {_reason(error)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or type(error).__name__
