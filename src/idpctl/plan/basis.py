"""The basis of a plan: digests of everything it was computed from, and what moved since.

A saved plan is checked by its basis before apply: `compute_basis` digests the desired
providers, the live ones and the state's identity; `basis_differences` names what moved.
Secret values enter only the one `secrets` digest, keyed by a key derived from the state's
fingerprint key (which the plan file never holds), so a plan file alone cannot confirm a guess
at a secret. The plan file (planfile.py) writes and reads the basis; docs/plan-format.md
describes its keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from idpctl.model import LiveProvider, PlanBasis, Provider, Secret, State
from idpctl.plan.planfile import digest, encode_value

__all__ = ["basis_differences", "compute_basis"]

# the basis key is HMAC(state.fingerprint_key, this): a plan digest is never a state fingerprint
_BASIS_KEY_LABEL = b"idpctl plan basis: secrets"


def _saved(state: State) -> bool:
    """A state never saved gets a fresh random lineage and key on every load."""
    return bool(state.serial or state.providers)


def _secrets_digest(desired: Sequence[Provider], state: State) -> str | None:
    """One keyed digest over every secret of `desired` (address, path, value); None when the
    state was never saved: then no key outlives this run, and nothing the plan shows depends
    on a secret's value (every secret is `will be set`)."""
    if not _saved(state):
        return None
    key = hmac.new(state.fingerprint_key, _BASIS_KEY_LABEL, hashlib.sha256).digest()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for p in sorted(desired, key=lambda p: p.address):
        for path, secret in _secret_leaves(p.fields, ""):
            item = json.dumps([p.address, path, secret.reveal()], ensure_ascii=False)
            mac.update(item.encode("utf-8") + b"\n")
    return "hmac-sha256:" + mac.hexdigest()


def _secret_leaves(value: Any, path: str) -> list[tuple[str, Secret]]:
    if isinstance(value, Secret):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in _secret_leaves(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [leaf for i, v in enumerate(value) for leaf in _secret_leaves(v, f"{path}[{i}]")]
    return []


def compute_basis(
    desired: Sequence[Provider], live: Sequence[LiveProvider], state: State
) -> PlanBasis:
    """Digests of everything a plan was computed from; secret values enter only the one
    keyed `secrets` digest."""
    wanted = {}
    for p in desired:
        wanted[p.address] = digest(
            {
                "kind": p.kind,
                "key": p.key,
                "fields": encode_value(p.fields),
                "auth_method": p.auth_method,
                "protected": p.protected,
                "absent": p.absent,
                "user_flows": list(p.user_flows) if p.user_flows is not None else None,
            }
        )
    seen, names = {}, {}
    for lp in live:
        # the normalised fields: a write-only value Graph sent back is UNKNOWN there
        seen[lp.id] = digest(encode_value({"@odata.type": lp.odata_type, **lp.fields}))
        names[lp.id] = lp.address or str(lp.fields.get("displayName") or lp.id)
    lineage = state.lineage if _saved(state) else "none"
    return PlanBasis(
        secrets=_secrets_digest(desired, state),
        desired=dict(sorted(wanted.items())),
        live=dict(sorted(seen.items())),
        state_serial=state.serial,
        state_lineage=lineage,
        live_names=dict(sorted(names.items())),
    )


def basis_differences(old: PlanBasis, new: PlanBasis) -> list[str]:
    """What moved between the basis a plan was made from and the current one."""
    out = []
    if old.state_lineage != new.state_lineage:
        out.append(f"state replaced (lineage {old.state_lineage} -> {new.state_lineage})")
    elif old.state_serial != new.state_serial:
        out.append(f"state changed (serial {old.state_serial} -> {new.state_serial})")
    if old.secrets != new.secrets and old.state_lineage == new.state_lineage:
        out.append("a secret's value changed")
    for address in sorted(set(old.desired) | set(new.desired)):
        before, after = old.desired.get(address), new.desired.get(address)
        if before != after:
            what = "added" if before is None else "removed" if after is None else "changed"
            out.append(f"desired {address} {what}")
    for graph_id in sorted(set(old.live) | set(new.live)):
        before, after = old.live.get(graph_id), new.live.get(graph_id)
        if before != after:
            name = new.live_names.get(graph_id) or old.live_names.get(graph_id) or graph_id
            what = "appeared" if before is None else "disappeared" if after is None else "changed"
            out.append(f"live provider {name} {what}")
    return out
