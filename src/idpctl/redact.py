"""The last line of defence for secret values: every `Secret` registers its value here, and
every line idpctl prints or logs passes through `scrub`.

Secrets are already kept out of output by construction (masked repr, values revealed only to the
Graph request encoder); this catches what comes back from outside, such as a Graph or vault error
message that echoes a value. It is one process-wide set on purpose: an error can surface far from
the code that resolved the secret.
"""

from __future__ import annotations

import threading

__all__ = ["MASK", "register", "scrub"]

MASK = "(sensitive)"
# shorter values would mask ordinary words; every real client secret is far longer
MIN_LENGTH = 6

_values: set[str] = set()
_lock = threading.Lock()


def register(value: str) -> None:
    if len(value) >= MIN_LENGTH:
        with _lock:
            _values.add(value)


def scrub(text: str) -> str:
    """`text` with every registered secret value replaced by the mask, longest first."""
    with _lock:
        values = sorted((v for v in _values if v in text), key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    return text
