"""The state journal: what each `$batch` changed, appended and fsynced beside the state file,
so the durable record of a batch costs what the batch changed rather than the whole state.

    <state>.journal, one JSON object a line:
      {"journal": 1, "lineage": L, "base_serial": S}             the header
      {"serial": N, "set": {address: record}, "drop": [address]}  one per batch

The journal extends exactly one state file: the one whose lineage and serial the header
names. A full save (the compaction at the end of an apply, or any other save) writes the
state file and then removes the journal; a journal whose header no longer matches the state
file (the crash came between those two steps, or the state file was replaced) is ignored.
A torn last line is a batch whose record never finished: it is dropped, as if the run had
died before saving it. Any other damage is a StateError, never a silent loss.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from idpctl.errors import StateError
from idpctl.model import ManagedRecord, State

__all__ = ["JOURNAL_VERSION", "append", "journal_path", "replay"]

JOURNAL_VERSION = 1


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


def replay(
    state: State | None,
    path: Path,
    *,
    to_data: Callable[[State], dict[str, Any]],
    from_data: Callable[..., State],
) -> State | None:
    """`state` (the state file's) with the journal at `path` applied; unchanged when there is
    no journal or it belongs to another state file. `to_data`/`from_data` are the state
    file's codec (`state.to_data`, `state.from_data`), passed in: the journal sits below it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return state
    except OSError as error:
        raise StateError(f"cannot read state journal {path}: {error.strerror}") from None
    lines = raw.split(b"\n")
    lines.pop()  # text after the last newline is a record that never finished: dropped
    entries = [_parse(line, path, number) for number, line in enumerate(lines, 1) if line.strip()]
    if not entries or state is None or not _extends(entries[0], state):
        return state
    data = to_data(state)
    for number, entry in enumerate(entries[1:], 2):
        if (
            not isinstance(entry, dict)
            or set(entry) != {"serial", "set", "drop"}
            or type(entry["serial"]) is not int
            or entry["serial"] <= data["serial"]
            or not isinstance(entry["set"], dict)
            or not isinstance(entry["drop"], list)
        ):
            raise StateError(f"state journal {path} line {number} is not a batch record")
        data["serial"] = entry["serial"]
        for address in entry["drop"]:
            data["providers"].pop(address, None)
        data["providers"].update(entry["set"])
    return from_data(data, origin=f"{path} (replayed)")


def append(
    path: Path,
    *,
    base: State,
    state: State,
    addresses: Iterable[str],
    record_data: Callable[[ManagedRecord], dict[str, Any]],
) -> None:
    """Record `state`'s records at `addresses` (dropped where `state` has none), fsynced.
    `base` is the state file's own state; a new journal starts with its header.
    `record_data` is the state file's record codec (`state.record_data`)."""
    lines: list[dict[str, Any]] = []
    if not path.exists():
        lines.append(
            {"journal": JOURNAL_VERSION, "lineage": base.lineage, "base_serial": base.serial}
        )
    wanted = set(addresses)
    lines.append(
        {
            "serial": state.serial,
            "set": {
                a: record_data(state.providers[a]) for a in sorted(wanted) if a in state.providers
            },
            "drop": sorted(a for a in wanted if a not in state.providers),
        }
    )
    text = "".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise StateError(f"cannot append to state journal {path}: {error.strerror}") from None


def _parse(line: bytes, path: Path, number: int) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StateError(
            f"state journal {path} line {number} is not JSON; it was left "
            "unchanged (move it aside to use the state file alone)"
        ) from None


def _extends(header: Any, state: State) -> bool:
    return (
        isinstance(header, dict)
        and header.get("journal") == JOURNAL_VERSION
        and header.get("lineage") == state.lineage
        and header.get("base_serial") == state.serial
    )
