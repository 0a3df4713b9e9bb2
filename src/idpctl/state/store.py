"""The state: which providers idpctl owns (kind, natural key, Graph id) and, per write-only
field, a keyed fingerprint of the value last applied. Never a secret value.

    {"format_version": 1, "serial": N, "lineage": uuid, "fingerprint_key": base64,
     "providers": {address: {kind, key, id, auth_method, created_at,
                             protected, relink,
                             secrets: {path: {fingerprint, set_at, source, version}}}}}

`State` values are frozen; `with_record` and `without` derive new ones with the serial
bumped. A store loads, saves atomically and locks; a file it cannot read exactly is an error,
never silently replaced.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from idpctl.errors import StateError
from idpctl.model import ManagedRecord, Secret, SecretRecord, State
from idpctl.secrets import fingerprint as _fingerprint
from idpctl.state import journal as statejournal
from idpctl.state import lock as statelock
from idpctl.state.lock import LockInfo

__all__ = [
    "FORMAT_VERSION",
    "LocalStateStore",
    "LockInfo",
    "StateStore",
    "dumps",
    "fingerprint",
    "fingerprint_for",
    "from_data",
    "new_state",
    "record_data",
    "to_data",
    "with_record",
    "without",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_TOP_KEYS = ("format_version", "serial", "lineage", "fingerprint_key", "providers")
_RECORD_KEYS = ("kind", "key", "id", "auth_method", "created_at", "protected", "relink",
                "secrets")
_OPTIONAL_KEYS = frozenset({"created_at", "protected", "relink"})
_SECRET_KEYS = ("fingerprint", "set_at", "source", "version")
_FINGERPRINT = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")
_STALE_TEMP_SECONDS = 600


def new_state() -> State:
    """An empty state with a fresh lineage and a fresh random fingerprint key."""
    return State(serial=0, lineage=str(uuid.uuid4()), fingerprint_key=secrets.token_bytes(32))


def with_record(state: State, record: ManagedRecord) -> State:
    """`state` with `record` added or replaced at its address, serial bumped. Providers stay
    in address order; only an address that lands before the last one costs a re-sort (an
    apply adds thousands one by one, mostly in order)."""
    providers = dict(state.providers)
    address = record.address
    in_order = address in providers or not providers or address > next(reversed(providers))
    providers[address] = record
    return _derive(state, providers if in_order else _sorted(providers))


def without(state: State, address: str) -> State:
    """`state` without the provider at `address` (no error if absent), serial bumped."""
    providers = dict(state.providers)
    providers.pop(address, None)
    return _derive(state, providers)


def _sorted(providers: Mapping[str, ManagedRecord]) -> dict[str, ManagedRecord]:
    return {address: providers[address] for address in sorted(providers)}


def _derive(state: State, ordered: Mapping[str, ManagedRecord]) -> State:
    return State(
        serial=state.serial + 1,
        lineage=state.lineage,
        fingerprint_key=state.fingerprint_key,
        providers=ordered,
        version=state.version,
    )


def fingerprint_for(state: State, secret: Secret) -> str:
    """The keyed fingerprint of `secret` under this state's key, as the state records it."""
    return _fingerprint.fingerprint(state.fingerprint_key, secret)


fingerprint = fingerprint_for  # the name docs/architecture.md uses


# -- serialisation -------------------------------------------------------------------------


def to_data(state: State) -> dict[str, Any]:
    """The JSON document for `state`, keys in a stable order."""
    return {
        "format_version": FORMAT_VERSION,
        "serial": state.serial,
        "lineage": state.lineage,
        "fingerprint_key": base64.b64encode(state.fingerprint_key).decode("ascii"),
        "providers": {
            address: record_data(state.providers[address]) for address in sorted(state.providers)
        },
    }


def record_data(record: ManagedRecord) -> dict[str, Any]:
    """One provider's record as the state document holds it; `relink` only while flows are
    pending (docs/state.md), so a state without any stays what older versions read."""
    relink = {"relink": list(record.relink)} if record.relink else {}
    return {
        "kind": record.kind,
        "key": record.key,
        "id": record.id,
        "auth_method": record.auth_method,
        "created_at": record.created_at,
        "protected": record.protected,
        **relink,
        "secrets": {
            path: {
                "fingerprint": s.fingerprint,
                "set_at": s.set_at,
                "source": s.source,
                "version": s.version,
            }
            for path, s in sorted(record.secrets.items())
        },
    }


def dumps(state: State) -> str:
    for address, record in state.providers.items():
        for path, secret in record.secrets.items():
            if not _FINGERPRINT.match(secret.fingerprint):
                raise StateError(f"refusing to save {address} {path}: not a fingerprint")
    return json.dumps(to_data(state), indent=2, ensure_ascii=False) + "\n"


def from_data(data: Any, *, origin: str) -> State:
    """Parse a state document; StateError naming `origin` on any deviation from the format."""
    where = f"state file {origin}"
    if not isinstance(data, dict):
        raise StateError(f"{where} is not a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise StateError(
            f"{where} has format version {version!r}; this idpctl reads version {FORMAT_VERSION}"
        )
    _exact_keys(data, _TOP_KEYS, where)
    serial, lineage = data["serial"], data["lineage"]
    if type(serial) is not int or serial < 0:
        raise StateError(f"{where}: serial must be a non-negative integer")
    if not isinstance(lineage, str) or not lineage:
        raise StateError(f"{where}: lineage must be a non-empty string")
    try:
        key = base64.b64decode(str(data["fingerprint_key"]), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise StateError(f"{where}: fingerprint_key is not a base64 key of 16 bytes or more")
    if not isinstance(data["providers"], dict):
        raise StateError(f"{where}: providers must be an object")
    providers = {
        address: _record(address, raw, where)
        for address, raw in sorted(data["providers"].items())
    }
    return State(serial=serial, lineage=lineage, fingerprint_key=key, providers=providers)


def _record(address: str, raw: Any, where: str) -> ManagedRecord:
    at = f"{where}: providers[{address!r}]"
    if not isinstance(raw, dict):
        raise StateError(f"{at} is not an object")
    _exact_keys(raw, _RECORD_KEYS, at)
    for name in ("kind", "key", "id"):
        if not isinstance(raw[name], str) or not raw[name]:
            raise StateError(f"{at}.{name} must be a non-empty string")
    for name in ("auth_method", "created_at"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise StateError(f"{at}.{name} must be a string or null")
    if not isinstance(raw.get("protected", False), bool):
        raise StateError(f"{at}.protected must be true or false")
    relink = raw.get("relink", [])
    if not isinstance(relink, list) or not all(isinstance(f, str) and f for f in relink):
        raise StateError(f"{at}.relink must be a list of user-flow ids")
    if f"{raw['kind']}/{raw['key']}" != address:
        raise StateError(f"{at}: address does not match kind/key")
    if not isinstance(raw["secrets"], dict):
        raise StateError(f"{at}.secrets must be an object")
    secret_records = {
        path: _secret_record(value, f"{at}.secrets[{path!r}]")
        for path, value in sorted(raw["secrets"].items())
    }
    return ManagedRecord(
        kind=raw["kind"],
        key=raw["key"],
        id=raw["id"],
        auth_method=raw["auth_method"],
        secrets=secret_records,
        created_at=raw.get("created_at"),
        protected=raw.get("protected", False),
        relink=tuple(relink),
    )


def _secret_record(raw: Any, at: str) -> SecretRecord:
    if not isinstance(raw, dict):
        raise StateError(f"{at} is not an object")
    _exact_keys(raw, _SECRET_KEYS, at)
    if not isinstance(raw["fingerprint"], str) or not _FINGERPRINT.match(raw["fingerprint"]):
        raise StateError(f"{at}.fingerprint is not an hmac-sha256 fingerprint")
    for name in ("set_at", "source"):
        if not isinstance(raw[name], str):
            raise StateError(f"{at}.{name} must be a string")
    if raw["version"] is not None and not isinstance(raw["version"], str):
        raise StateError(f"{at}.version must be a string or null")
    return SecretRecord(
        fingerprint=raw["fingerprint"],
        set_at=raw["set_at"],
        source=raw["source"],
        version=raw["version"],
    )


def _exact_keys(data: Mapping[str, Any], expected: tuple[str, ...], where: str) -> None:
    missing = [k for k in expected if k not in data and k not in _OPTIONAL_KEYS]
    extra = sorted(k for k in data if k not in expected)
    if missing:
        raise StateError(f"{where} is missing {', '.join(missing)}")
    if extra:
        raise StateError(f"{where} has unknown key(s) {', '.join(extra)}")


# -- stores --------------------------------------------------------------------------------


class StateStore(Protocol):
    """Where the state lives and how it is locked. `describe()` names it for messages."""

    def describe(self) -> str: ...

    def load(self) -> State: ...

    def save(self, state: State) -> None: ...

    def lock(self, *, operation: str, timeout: float = 0) -> AbstractContextManager[LockInfo]: ...

    def read_lock(self) -> LockInfo | None: ...

    def unlock(self, lock_id: str) -> LockInfo: ...


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
        return statejournal.replay(self._file_state, self.journal_path, to_data=to_data,
                                   from_data=from_data)

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
            raise StateError(f"state file {self.path} has the key {error} twice in one object "
                             "(edited by hand?); it was left unchanged") from None
        except RecursionError:
            raise StateError(f"state file {self.path} is nested too deeply to be a state "
                             "file; it was left unchanged") from None
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
                statejournal.append(self.journal_path, base=base, state=state,
                                    addresses=addresses, record_data=record_data)
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
            raise StateError(f"cannot remove state journal {self.journal_path}: "
                             f"{error.strerror}") from None
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
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                    suffix=".tmp")
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
