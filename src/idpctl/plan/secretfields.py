"""Secrets and state-only changes: which secret leaves are sent and why (keyed fingerprints
against the state, never a read-back), and what the state records beside Graph's fields (the
auth method, `protected`, a secret's source). Pure; never reads a secret value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from idpctl.errors import PlanError
from idpctl.model import (
    FieldChange,
    ManagedRecord,
    Provider,
    Reason,
    Secret,
    SecretRecord,
    SecretRef,
    State,
)
from idpctl.secrets.fingerprint import fingerprint

__all__ = [
    "METHOD_FIELD",
    "SECRET_METHODS",
    "method_change",
    "recorded_changes",
    "refuse_unresolved",
    "secret_changes",
    "secret_paths",
    "supply_notes",
]


SECRET_METHODS = frozenset({"client_secret_post", "client_secret_jwt"})


METHOD_FIELD = "clientAuthentication.method"


def secret_paths(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted paths of the secret leaves (`Secret` or unresolved `SecretRef`) in a value."""
    if isinstance(value, Secret | SecretRef):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        out = []
        for key in sorted(value):
            out.extend(secret_paths(value[key], f"{prefix}.{key}" if prefix else key))
        return out
    return []


def refuse_unresolved(provider: Provider) -> None:
    for path, leaf in secret_paths(provider.fields):
        if isinstance(leaf, SecretRef):
            raise PlanError(
                f"{provider.address}: {path}: secret reference "
                f"{leaf.describe()} was not resolved before planning"
            )


def secret_changes(
    provider: Provider,
    record: ManagedRecord | None,
    *,
    rotate: bool,
    state: State,
    rebind: Sequence[str],
) -> list[tuple[str, FieldChange, Reason | None]]:
    """Each secret that is sent, its field change, and why (None: a rebinding field re-sends
    it, and that field's own difference is the reason). `rotate`: --rotate names the provider;
    `state` holds the fingerprint key."""
    out = []
    for path, secret in secret_paths(provider.fields):
        known = record.secrets.get(path) if record is not None else None
        sent = _secret_note(rotate, secret, known, state, rebind)
        if sent is not None:
            note, why = sent
            out.append((path, FieldChange(path, sensitive=True, note=note), why))
    return out


def _secret_note(
    requested: bool, secret: Secret, known: Any, state: State, rebind: Sequence[str]
) -> tuple[str, Reason | None] | None:
    if requested:
        return "rotate (requested)", Reason.UPDATE_ROTATE_REQUESTED
    if known is None:
        return "will be set", Reason.UPDATE_SECRET_NOT_RECORDED
    if fingerprint(state.fingerprint_key, secret) != known.fingerprint:
        if known.version and secret.version and known.version != secret.version:
            scheme = secret.source.split(":", 1)[0]
            label = {"vault": "vault version", "keyVault": "key vault version"}.get(
                scheme, "version"
            )
            return (
                f"rotate ({label} {known.version} -> {secret.version})",
                Reason.UPDATE_SECRET_CHANGED,
            )
        return "rotate", Reason.UPDATE_SECRET_CHANGED
    if rebind:
        return f"re-sent ({', '.join(rebind)} changed)", None
    return None


def supply_notes(
    provider: Provider, secrets: Sequence[tuple[str, FieldChange, Reason | None]]
) -> tuple[str, ...]:
    """Where each secret idpctl has never set comes from (e.g. after `idpctl import`)."""
    sources = dict(secret_paths(provider.fields))
    return tuple(
        f"{path} will be set from {sources[path].source}: supply that value"
        for path, _, why in secrets
        if why is Reason.UPDATE_SECRET_NOT_RECORDED and isinstance(sources.get(path), Secret)
    )


def method_change(provider: Provider, record: ManagedRecord | None) -> FieldChange | None:
    if record is None or provider.auth_method not in SECRET_METHODS:
        return None
    if record.auth_method == provider.auth_method:
        return None
    if record.auth_method is not None and record.auth_method not in SECRET_METHODS:
        return None  # a subtype change: planned as replace from the live value
    return FieldChange(
        METHOD_FIELD,
        before=record.auth_method,
        after=provider.auth_method,
        state_only=True,
        note="state only: Graph holds both methods alike",
    )


def recorded_changes(
    provider: Provider, record: ManagedRecord | None, sent: set[str]
) -> list[tuple[Reason, FieldChange]]:
    """State-only changes of what the state records beside Graph's fields: `protected`, and
    where a secret that is not re-sent comes from (same value, new source or version)."""
    if record is None:
        return []  # an adopt records both
    out = []
    if record.protected != provider.protected:
        out.append(
            (
                Reason.STATE_ONLY_PROTECTED,
                FieldChange(
                    "protected",
                    before=record.protected,
                    after=provider.protected,
                    state_only=True,
                    note="state only: guards delete and replace",
                ),
            )
        )
    for path, secret in secret_paths(provider.fields):
        known = record.secrets.get(path)
        if path in sent or known is None or not isinstance(secret, Secret):
            continue  # a value that differs is sent (a rotation) and recorded with its source
        if (known.source, known.version) != (secret.source, secret.version):
            # like clientAuthentication.method, an idpctl field beside the Graph path; the
            # sources are value-free descriptions (SecretRef.describe), never the value
            out.append(
                (
                    Reason.STATE_ONLY_SECRET_SOURCE,
                    FieldChange(
                        f"{path}.source",
                        before=_origin(known),
                        after=_origin(secret),
                        state_only=True,
                        note="state only: the same value, from a new source",
                    ),
                )
            )
    return out


def _origin(secret: Secret | SecretRecord) -> str:
    version = secret.version
    if not version or secret.source.endswith(f"@{version}"):
        return secret.source
    return f"{secret.source} (version {version})"
