"""What the state records about the providers idpctl manages: never a secret value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ManagedRecord", "SecretRecord", "State"]


@dataclass(frozen=True)
class SecretRecord:
    """What the state keeps about a write-only value idpctl applied: never the value."""

    fingerprint: str  # "hmac-sha256:<hex>", keyed by State.fingerprint_key
    set_at: str  # ISO 8601 UTC
    source: str  # SecretRef.describe()
    version: str | None = None


@dataclass(frozen=True)
class ManagedRecord:
    """One provider idpctl manages."""

    kind: str
    key: str
    id: str
    auth_method: str | None = None
    secrets: Mapping[str, SecretRecord] = field(default_factory=dict)  # by dotted path
    created_at: str | None = None  # ISO 8601 UTC; lets a plan tell replication delay from loss
    protected: bool = False  # still refused deletion after `protected: true` left the files
    # ids of the user flows a replace's old object left when its create failed (its file does
    # not set userFlows): the next plan re-attaches the new object, apply then clears them
    relink: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass(frozen=True)
class State:
    """What idpctl owns. `fingerprint_key` is random per state and never leaves it."""

    serial: int
    lineage: str
    fingerprint_key: bytes = field(repr=False)
    providers: Mapping[str, ManagedRecord] = field(default_factory=dict)  # by address
    version: int = 1
