"""Matching live providers to addresses: the state's Graph id first, then the natural key;
what is left is unmanaged. And the replication guard: a provider idpctl created moments ago
may not be listed yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from idpctl.model import Kind, LiveProvider, ManagedRecord, State, Unmanaged

__all__ = ["REPLICATION_GRACE", "Matcher", "replicating"]


# seconds after creation during which a provider missing from the list is taken as replicating
REPLICATION_GRACE = 300.0


class Matcher:
    """Pairs addresses with live providers: state ids first, then natural keys."""

    def __init__(
        self, live: Sequence[LiveProvider], state: State, kinds: Mapping[str, Kind]
    ) -> None:
        self.warnings: list[str] = []
        self.live = sorted(live, key=lambda lp: lp.id)
        self.by_id = {lp.id: lp for lp in self.live}
        self.by_address: dict[str, LiveProvider] = {}
        for lp in self.live:
            kind = kinds.get(lp.kind) if lp.kind else None
            if lp.address is None or kind is None or not kind.managed:
                continue
            first = self.by_address.setdefault(lp.address, lp)
            if first is not lp:
                self.warnings.append(
                    f"two live providers share the address {lp.address} "
                    f"(ids {first.id}, {lp.id}); matched {first.id}"
                )
        self.claimed: set[str] = set()
        self.records = state.providers
        for record in sorted(state.providers.values(), key=lambda r: r.address):
            if record.id in self.by_id:
                self.claimed.add(record.id)

    def match(self, address: str, managed: bool) -> LiveProvider | None:
        record = self.records.get(address) if managed else None
        if record is not None and record.id in self.by_id:
            return self.by_id[record.id]
        candidate = self.by_address.get(address)
        if candidate is None or candidate.id in self.claimed:
            return None
        self.claimed.add(candidate.id)
        return candidate

    def unmanaged(self, kinds: Mapping[str, Kind]) -> tuple[Unmanaged, ...]:
        out = []
        for lp in self.live:
            if lp.id in self.claimed:
                continue
            kind = kinds.get(lp.kind) if lp.kind else None
            reason = (
                "unsupported type"
                if kind is None
                else "built-in"
                if not kind.managed
                else "not in config"
            )
            name = lp.fields.get("displayName")
            out.append(
                Unmanaged(
                    id=lp.id,
                    odata_type=lp.odata_type,
                    display_name=name if isinstance(name, str) else None,
                    reason=reason,
                    address=lp.address,
                )
            )
        return tuple(out)


def replicating(record: ManagedRecord, now: datetime | None, grace: timedelta) -> bool:
    """True when idpctl created `record` less than `grace` before `now` (None: no clock)."""
    if now is None or not record.created_at:
        return False
    try:
        created = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
        return timedelta(0) <= now - created < grace
    except (ValueError, TypeError):  # unparsable, or naive vs aware: not recent
        return False
