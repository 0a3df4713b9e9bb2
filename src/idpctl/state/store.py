"""Where the state lives: the `StateStore` protocol every store meets (this module's
`LocalStateStore`, `state.azureblob.AzureBlobStateStore`), and the local store, a JSON file
beside its lock and batch journal. A store loads, saves atomically and locks; a file it
cannot read exactly is an error, never silently replaced. The document format is
`state.codec`'s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from idpctl.errors import StateError
from idpctl.model import State
from idpctl.state import journal as statejournal
from idpctl.state import lock as statelock
from idpctl.state.codec import dumps, from_data, new_state, record_data, to_data
from idpctl.state.lock import LockInfo

__all__ = ["JournalledStore", "LocalStateStore", "LockInfo", "StateStore"]

log = logging.getLogger(__name__)

_STALE_TEMP_SECONDS = 600


@runtime_checkable
class StateStore(Protocol):
    """Where the state lives and how it is locked. `describe()` names it for messages."""

    def describe(self) -> str: ...

    def load(self) -> State: ...

    def save(self, state: State) -> None: ...

    def lock(self, *, operation: str, timeout: float = 0) -> AbstractContextManager[LockInfo]: ...

    def read_lock(self) -> LockInfo | None: ...

    def unlock(self, lock_id: str) -> LockInfo: ...


@runtime_checkable
class JournalledStore(Protocol):
    """A store that records a batch as a journal line (`append`) and folds the journal into
    the state at the end of an apply (`compact`); apply uses these where a store has them,
    and a full `save` per batch elsewhere."""

    def append(self, state: State, *, addresses: Sequence[str]) -> None: ...

    def compact(self) -> None: ...


class LocalStateStore:
    """The state as a JSON file, locked by `<file>.lock` beside it.

    `save` is atomic (temp file in the same directory, fsync, rename) and optimistic: it
    refuses when the file on disk is no longer the one this store loaded or last saved.
    `append` records one batch's records in `<file>.journal` instead (see `statejournal`);
    `load` replays it, and the next `save` folds it into the file and removes it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.journal_path = statejournal.journal_path(self.path)
        self._file_state: State | None = None  # the state file's own, before the journal
        self._guard = threading.Lock()
        self._basis: tuple[int, str] | None = None  # (serial, lineage) on disk as we know it
        self._loaded = False

    def __repr__(self) -> str:
        return f"LocalStateStore({str(self.path)!r})"

    def describe(self) -> str:
        return str(self.path)

    def load(self) -> State:
        with self._guard:
            state = self._read()
            self._known = (self._stat(), state)
            self._loaded = True
            self._basis = None if state is None else (state.serial, state.lineage)
            return state if state is not None else new_state()

    def _stat(self) -> tuple[tuple[int, int, int] | None, ...]:
        """What tells a rewrite apart without reading: inode, size, modification time of the
        state file and of its journal."""
        return (_stat(self.path), _stat(self.journal_path))

    def _read(self) -> State | None:
        """The state on disk: the file with its journal replayed."""
        self._file_state = self._read_file()
        return statejournal.replay(
            self._file_state, self.journal_path, to_data=to_data, from_data=from_data
        )

    def _read_file(self) -> State | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StateError(f"cannot read state file {self.path}: {error.strerror}") from None
        if not raw.strip():
            raise StateError(f"state file {self.path} is empty; it was left unchanged")
        try:
            data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        except UnicodeDecodeError:
            raise StateError(f"state file {self.path} is not UTF-8 text") from None
        except _DuplicateKey as error:
            raise StateError(
                f"state file {self.path} has the key {error} twice in one object "
                "(edited by hand?); it was left unchanged"
            ) from None
        except RecursionError:
            raise StateError(
                f"state file {self.path} is nested too deeply to be a state "
                "file; it was left unchanged"
            ) from None
        except json.JSONDecodeError as error:
            raise StateError(
                f"state file {self.path} is not valid JSON (line {error.lineno} column "
                f"{error.colno}: {error.msg}); it was left unchanged"
            ) from None
        return from_data(data, origin=str(self.path))

    def save(self, state: State) -> None:
        text = dumps(state)
        with self._guard:
            current = self._check_unchanged(state)
            if current is not None and state.serial <= current.serial:
                if to_data(current) == to_data(state):
                    return  # nothing new to write
                raise StateError(
                    f"refusing to save serial {state.serial} over serial {current.serial} "
                    f"in {self.path}: the state was derived from an older one"
                )
            self._write(text)
            self._drop_journal()
            self._file_state = state
            self._known = (self._stat(), state)
            self._basis = (state.serial, state.lineage)
        log.debug("state saved to %s (serial %s)", self.path, state.serial)

    def append(self, state: State, *, addresses: Sequence[str]) -> None:
        """Record what changed at `addresses` since the last save or append, in the journal
        (fsynced): the cost of a batch, not of the state. The first record of a state that
        has no file yet is a full save."""
        with self._guard:
            current = self._check_unchanged(state)
            base = self._file_state
            if current is None or base is None or state.serial <= current.serial:
                full = True
            else:
                full = False
                statejournal.append(
                    self.journal_path,
                    base=base,
                    state=state,
                    addresses=addresses,
                    record_data=record_data,
                )
                self._known = (self._stat(), state)
                self._basis = (state.serial, state.lineage)
        if full:
            self.save(state)
        else:
            log.debug("state journal %s: serial %s", self.journal_path, state.serial)

    def compact(self) -> None:
        """Fold the journal into the state file (a full save of what it holds); nothing to
        do without a journal. An apply calls it when it ends."""
        with self._guard:
            if not self.journal_path.exists() or not self._loaded:
                return
            state = self._known[1]
            if state is None or self._check_unchanged(state) is None:
                return
            self._write(dumps(state))
            self._drop_journal()
            self._file_state = state
            self._known = (self._stat(), state)
        log.debug("state journal folded into %s (serial %s)", self.path, state.serial)

    def _drop_journal(self) -> None:
        """After a full save the journal is folded in: remove it (a crash before this leaves
        a journal whose header no longer matches the file, which `replay` ignores)."""
        try:
            self.journal_path.unlink()
        except FileNotFoundError:
            return
        except OSError as error:
            raise StateError(
                f"cannot remove state journal {self.journal_path}: {error.strerror}"
            ) from None
        _fsync_dir(self.path.parent)

    def _check_unchanged(self, state: State) -> State | None:
        if not self._loaded:
            raise StateError(f"state file {self.path}: save without load")
        known_stat, known_state = getattr(self, "_known", (None, None))
        stat = self._stat()
        if stat is not None and stat == known_stat:
            current = known_state  # the file is as this store last read or wrote it
        else:
            try:
                current = self._read()
            except StateError as error:
                raise StateError(f"{error} (found while saving)") from None
        on_disk = None if current is None else (current.serial, current.lineage)
        if on_disk != self._basis:
            raise StateError(
                f"state file {self.path} changed since it was loaded "
                f"({_basis_text(self._basis)} -> {_basis_text(on_disk)}); another run wrote it"
            )
        if current is not None and state.lineage != current.lineage:
            raise StateError(f"state file {self.path} belongs to another lineage")
        return current

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except OSError as error:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise StateError(f"cannot write state file {self.path}: {error.strerror}") from None
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_dir(self.path.parent)
        self._sweep_temps()

    def _sweep_temps(self) -> None:
        """Remove temp files a killed run left; only old ones, never a live writer's."""
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    log.info("removed %s, left by an interrupted save", leftover)

    @contextlib.contextmanager
    def lock(self, *, operation: str, timeout: float = 0) -> Iterator[LockInfo]:
        info = statelock.acquire(self.lock_path, operation=operation, timeout=timeout)
        try:
            yield info
        finally:
            statelock.release(self.lock_path, info)

    def read_lock(self) -> LockInfo | None:
        return statelock.read_lock(self.lock_path)

    def unlock(self, lock_id: str) -> LockInfo:
        return statelock.break_lock(self.lock_path, lock_id)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects as dicts, refusing a key given twice (JSON lets the last one win)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(json.dumps(key))
        out[key] = value
    return out


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _basis_text(basis: tuple[int, str] | None) -> str:
    return "absent" if basis is None else f"serial {basis[0]}"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_a_state_store(store: LocalStateStore) -> tuple[StateStore, JournalledStore]:
    """The type checker proves this store meets both protocols (no runtime use)."""
    return store, store
