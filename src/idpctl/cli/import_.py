"""`idpctl import [--all | KIND/NAME...]`: take live providers under management.

Writes the state only, under the state lock; Graph is read, never written. A provider is
imported only when the files declare it (otherwise the next plan would delete it: run
`idpctl export` first). Graph never shows secrets, so none is recorded: the next plan says
"will be set" for each, naming the reference that supplies the value.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from idpctl import output
from idpctl.cli import options
from idpctl.cli.options import option
from idpctl.errors import IdpctlError, PlanError
from idpctl.fileio import parse_duration
from idpctl.model import LiveProvider, ManagedRecord, Provider, SecretRef, State

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "take live providers under management (state only, no Graph write)"
EXAMPLES = (
    "idpctl import --all",
    "idpctl import socialIdentityProvider/Google",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    option(
        p, "--all", action="store_true", help="every live provider in the files", example="--all"
    )
    p.add_argument("addresses", nargs="*", metavar="KIND/NAME")
    options.lock_timeout(p)


_PRIVATE_JWT = "oidcprivatejwtkeyclientauthentication"


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import pipeline

    if args.all == bool(args.addresses):
        raise IdpctlError("import: give --all or one or more KIND/NAME addresses (not both)")
    requested = pipeline.parse_addresses(args.addresses)
    desired = pipeline.load_desired(args, resolve_secrets=False)
    files = {p.address: p for p in desired.providers if not p.absent}
    store = pipeline.state_store(desired.settings)
    with (
        store.lock(operation="import", timeout=parse_duration(args.lock_timeout)),
        pipeline.graph_session(desired.settings, debug=args.debug) as graph,
    ):
        state = store.load()
        live = _by_address(pipeline.read_live(graph, desired.kinds), desired.kinds)
        chosen = _all(live, files, state) if args.all else _named(requested, live, files, state)
        if not chosen:
            print("Nothing to import.")
            return 0
        new = state
        for address in chosen:
            new = _record(new, files[address], live[address])
        store.save(new)
    for address in chosen:
        print(output.inline(f"Imported {address} (Graph id {live[address].id})."))
    _secret_notes([files[a] for a in chosen])
    return 0


def _by_address(live: Sequence[LiveProvider], kinds: Mapping[str, Any]) -> dict[str, LiveProvider]:
    out: dict[str, LiveProvider] = {}
    for lp in live:
        kind = kinds.get(lp.kind) if lp.kind else None
        if lp.address is None or kind is None or not kind.managed:
            continue
        if lp.address in out:
            raise PlanError(
                f"import: two live providers share the address {lp.address} "
                f"(ids {out[lp.address].id}, {lp.id}); remove one in the portal"
            )
        out[lp.address] = lp
    return out


def _all(
    live: Mapping[str, LiveProvider], files: Mapping[str, Provider], state: State
) -> list[str]:
    chosen = []
    for address in sorted(live):
        if address in state.providers:
            continue
        if address not in files:
            print(
                f"Skipped {output.inline(address)}: not in the provider files (write it, or "
                "run idpctl export, then import it)"
            )
            continue
        chosen.append(address)
    return chosen


def _named(
    requested: Sequence[str],
    live: Mapping[str, LiveProvider],
    files: Mapping[str, Provider],
    state: State,
) -> list[str]:
    problems, chosen = [], []
    for address in requested:
        record = state.providers.get(address)
        if address not in live:
            problems.append(f"{address} is not in the tenant")
        elif record is not None:
            if record.id != live[address].id:
                problems.append(f"{address} is already managed (Graph id {record.id})")
        elif address not in files:
            problems.append(
                f"{address} is not in the provider files: the next plan would "
                "delete it (write it or run idpctl export first)"
            )
        else:
            chosen.append(address)
    if problems:
        raise IdpctlError("import: " + "; ".join(problems) + "; nothing was imported")
    return list(dict.fromkeys(chosen))


def _record(state: State, provider: Provider, lp: LiveProvider) -> State:
    from idpctl.state import codec as state_module

    return state_module.with_record(
        state,
        ManagedRecord(
            kind=provider.kind,
            key=provider.key,
            id=lp.id,
            auth_method=provider.auth_method or _method(lp),
            protected=provider.protected,
        ),
    )


def _method(lp: LiveProvider) -> str | None:
    auth = lp.fields.get("clientAuthentication")
    if not isinstance(auth, Mapping):
        return None
    subtype = str(auth.get("@odata.type", "")).rsplit(".", 1)[-1].casefold()
    return "private_key_jwt" if subtype == _PRIVATE_JWT else "client_secret_post"


def _secret_notes(providers: Sequence[Provider]) -> None:
    refs = [(p.address, path, ref) for p in providers for path, ref in _refs(p.fields)]
    if not refs:
        return
    print(
        "\nGraph never shows secrets, so idpctl has none recorded: the next apply sets each "
        "from its reference. Supply the values first:"
    )
    for address, path, ref in refs:
        print(output.inline(f"  {ref.describe()}  ({address} {path})"))


def _refs(value: Any, prefix: str = "") -> list[tuple[str, SecretRef]]:
    if isinstance(value, SecretRef):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        return [
            item
            for key in sorted(value)
            for item in _refs(value[key], f"{prefix}.{key}" if prefix else key)
        ]
    return []
