"""`idpctl state list|show|unlock`: inspect the state and break a lock whose holder is gone.

`list` prints one managed address per line (nothing else on stdout, so scripts can read it);
`show KIND/KEY` prints one record, secrets as source, version, time set and a short
fingerprint, never a value; `unlock LOCK_ID` removes the lock only when the id matches.

Repairs, each refused while another run holds the lock: `mv OLD NEW` renames an address
(same kind), `rm KIND/KEY` forgets a provider (Graph is never touched), `pull` prints the
state JSON (no secret value, but the fingerprint key: keep it private), `push FILE` replaces
the state with a validated file (another lineage only with `--force`, which keeps the
store's lineage; a lower serial never).
"""

from __future__ import annotations

import argparse
import difflib
import sys

from idpctl import output
from idpctl.cli import options, state_repair
from idpctl.errors import StateError
from idpctl.model import ManagedRecord

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "inspect or repair the state"
EXAMPLES = (
    "idpctl state list",
    "idpctl state mv oidcIdentityProvider/Old oidcIdentityProvider/New",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="state_verb", metavar="ACTION", required=True)
    options.sub_verb(actions, "list", "list managed providers")
    sp = options.sub_verb(actions, "show", "show one managed provider")
    sp.add_argument("address", metavar="KIND/KEY")
    sp = options.sub_verb(actions, "unlock", "break a lock whose holder is gone")
    sp.add_argument("lock_id", metavar="LOCK_ID")
    sp = options.sub_verb(actions, "mv", "rename a managed address (same kind)")
    sp.add_argument("source", metavar="OLD")
    sp.add_argument("destination", metavar="NEW")
    sp = options.sub_verb(actions, "rm", "forget a provider (Graph is never touched)")
    sp.add_argument("address", metavar="KIND/KEY")
    options.sub_verb(
        actions,
        "pull",
        "print the state JSON (no secret values, but the fingerprint key: keep it private)",
    )
    sp = options.sub_verb(actions, "push", "replace the state with FILE after validating it")
    sp.add_argument("file", metavar="FILE")
    options.force(sp, "allow a state of another lineage (a lower serial is always refused)")


_REPAIRS = frozenset({"mv", "rm", "push"})


def run(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.state_verb == "unlock":
        broken = store.unlock(args.lock_id)
        print(
            output.inline(
                f"Lock {broken.lock_id} broken (was held by {broken.user}@"
                f"{broken.host} pid {broken.pid} since {broken.started_at} for "
                f"{broken.operation})."
            )
        )
        return 0
    if args.state_verb in _REPAIRS:
        return _repair(args, store)
    if args.state_verb == "pull":
        return _pull(store)
    _note_lock(store)
    state = store.load()
    if args.state_verb == "list":
        if not state.providers:
            print(f"No managed providers in {store.describe()}.", file=sys.stderr)
        for address in sorted(state.providers):
            print(address)
        return 0
    record = state.providers.get(args.address)
    if record is None:
        raise StateError(_unknown(args.address, list(state.providers), store.describe()))
    sys.stdout.write(_show(record))
    return 0


def _repair(args: argparse.Namespace, store) -> int:
    with store.lock(operation=f"state {args.state_verb}", timeout=0):
        state = store.load()
        new, message = state_repair.apply(args, state, where=store.describe())
        if new is not None:
            store.save(new)
    print(message)
    return 0


def _pull(store) -> int:
    info = store.read_lock()
    if info is not None:
        raise StateError(f"refusing to pull: {info.describe()}")
    from idpctl.state import codec as state_module

    sys.stdout.write(state_module.dumps(store.load()))
    return 0


def _store(args: argparse.Namespace):  # -> state.StateStore
    from idpctl.cli import pipeline

    return pipeline.state_store(pipeline.load_settings(args))


def _note_lock(store) -> None:
    try:
        info = store.read_lock()
    except StateError as error:
        print(output.inline(f"Note: {error}"), file=sys.stderr)
        return
    if info is not None:
        print(output.inline(f"Note: {info.describe()}"), file=sys.stderr)


def _unknown(address: str, known: list[str], where: str) -> str:
    close = difflib.get_close_matches(address, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else "; see idpctl state list"
    return f"{address} is not in the state ({where}){hint}"


def _show(record: ManagedRecord) -> str:
    rows = [
        ("kind", record.kind),
        ("key", record.key),
        ("id", record.id),
        ("auth_method", record.auth_method or "-"),
        ("created_at", record.created_at or "-"),
        ("protected", "true" if record.protected else "false"),
    ]
    if record.relink:  # flows a replace that did not finish left; the next apply re-attaches
        rows.append(("relink", ", ".join(record.relink)))
    lines = [f"# {record.address}"]
    lines += [f"{name:<12} = {value}" for name, value in rows]
    if not record.secrets:
        lines.append("secrets      = (none recorded)")
    for path, secret in sorted(record.secrets.items()):
        algorithm, _, digest = secret.fingerprint.partition(":")
        lines += [
            f"secret {path}:",
            f"  source      = {secret.source}",
            f"  version     = {secret.version or '-'}",
            f"  set_at      = {secret.set_at}",
            f"  fingerprint = {algorithm}:{digest[:16]}...",
        ]
    return "\n".join(lines) + "\n"
