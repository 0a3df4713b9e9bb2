"""Keyed fingerprints of secret values: HMAC-SHA256 under a random per-state (or per-plan) key,
so equal values can be recognised without the value being recoverable from the record."""

from __future__ import annotations

import hashlib
import hmac

from idpctl.model import Secret

__all__ = ["fingerprint"]

PREFIX = "hmac-sha256:"


def fingerprint(key: bytes, secret: Secret) -> str:
    digest = hmac.new(key, secret.reveal().encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest
