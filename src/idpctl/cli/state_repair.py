"""The pure part of `idpctl state mv|rm|push`: a loaded State in, the State to save out.

The caller holds the state lock around load, `apply` and save, so a repair never races an
apply; Graph is never read or written.
"""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import replace
from pathlib import Path

from idpctl.errors import StateError
from idpctl.model import ManagedRecord, State

__all__ = ["apply", "move", "push", "remove"]

MAX_STATE_BYTES = 64 * 1024 * 1024


def apply(args: argparse.Namespace, state: State, *, where: str) -> tuple[State | None, str]:
    """(state to save or None, the line to print) for the repair `args.state_verb` names."""
    if args.state_verb == "mv":
        return move(state, args.source, args.destination, where=where)
    if args.state_verb == "rm":
        return remove(state, args.address, where=where)
    return push(state, Path(args.file), force=args.force, where=where)


def _derive(state: State, providers: dict[str, ManagedRecord]) -> State:
    ordered = {address: providers[address] for address in sorted(providers)}
    return replace(state, serial=state.serial + 1, providers=ordered)


def _record(state: State, address: str, where: str) -> ManagedRecord:
    record = state.providers.get(address)
    if record is None:
        close = difflib.get_close_matches(address, list(state.providers), n=1)
        hint = f"; did you mean {close[0]}?" if close else "; see idpctl state list"
        raise StateError(f"{address} is not in the state ({where}){hint}")
    return record


def move(state: State, source: str, destination: str, *, where: str) -> tuple[State, str]:
    from idpctl.plan.build import split_address

    record = _record(state, source, where)
    kind, key = split_address(destination)
    if kind != record.kind:
        raise StateError(
            f"state mv: {source} -> {destination}: the kind cannot change ({record.kind} -> {kind})"
        )
    if destination in state.providers:
        raise StateError(f"state mv: {destination} is already in the state ({where})")
    providers = {a: r for a, r in state.providers.items() if a != source}
    providers[destination] = replace(record, key=key)
    return _derive(state, providers), (
        f"Moved {source} to {destination} (Graph id {record.id}); nothing was sent to Graph."
    )


def remove(state: State, address: str, *, where: str) -> tuple[State, str]:
    record = _record(state, address, where)
    providers = {a: r for a, r in state.providers.items() if a != address}
    return _derive(state, providers), (
        f"Removed {address} from the state (Graph id {record.id} left as it is in the "
        "tenant). While it stays in the files the next plan adopts it again."
    )


def _read(path: Path) -> State:
    from idpctl.state import codec as state_module

    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise StateError(f"{path}: not a state file (larger than 64 MiB)")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise StateError(f"{path}: no such file") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise StateError(f"{path}: not a state file ({type(error).__name__})") from None
    return state_module.from_data(data, origin=str(path))


def push(current: State, path: Path, *, force: bool, where: str) -> tuple[State | None, str]:
    """The pushed state, validated, with a serial above the current one. A store without a
    state takes it as it is."""
    from idpctl.state import codec as state_module

    pushed = _read(path)
    empty = current.serial == 0 and not current.providers
    if empty:
        return pushed, f"Pushed {path} to {where} (serial {pushed.serial})."
    lineage = current.lineage
    if pushed.lineage != current.lineage and not force:
        raise StateError(
            f"state push: {path} is of lineage {pushed.lineage}, {where} of "
            f"{current.lineage}: another state (or another tenant's); "
            "--force pushes it anyway"
        )
    if pushed.serial < current.serial:
        raise StateError(
            f"state push: {path} has serial {pushed.serial}, lower than "
            f"{current.serial} in {where}: it is older; pull the state again"
        )
    if state_module.to_data(replace(pushed, lineage=lineage)) == state_module.to_data(current):
        return None, f"{path} is the state already; nothing pushed."
    serial = max(pushed.serial, current.serial + 1)
    new = replace(pushed, lineage=lineage, serial=serial)
    return new, f"Pushed {path} to {where} (serial {current.serial} -> {serial})."
