"""The one home of secret values idpctl must never show: every `Secret` and every token or
assertion idpctl obtains registers its value here the moment it has it, and every byte idpctl
prints or writes for people passes through `scrub` (by way of `idpctl.output`).

Secrets are already kept out of output by construction (masked repr, values revealed only to the
Graph request encoder); this catches what comes back from outside, such as a Graph, Key Vault or
Vault error message that echoes a request body or an Authorization header. It is one
process-wide set on purpose: an error can surface far from the code that resolved the secret.

`scrub` is for output only. Data idpctl reasons on (Graph answers, `$batch` ids, live display
names, the plan file, the state) is never scrubbed: a secret equal to a display name must not
turn that display name into a mask (docs/security.md, control 3).

Forms: each value is looked for as it is, JSON-escaped (ASCII and not), URL-encoded (`%20` and
`+` for a space), Python-repr escaped, HTML-escaped and with its whitespace runs collapsed to one
space (how error text is put on one line), and each line of a multi-line value (a PEM) on its
own. Lengths: a provider secret shorter than `MIN_LENGTH` is refused when it is resolved
(`idpctl.secrets.context`), and no value that short is registered: masking it would garble ordinary
words (a one-letter value would mask every `a`), and no real credential is that short (Entra
tokens are JWTs, Vault service tokens dozens of characters).
"""

from __future__ import annotations

import html
import json
import threading
import urllib.parse

__all__ = ["MASK", "MIN_LENGTH", "forms", "register", "scrub", "shorten"]

MASK = "(sensitive)"
# provider secrets shorter than this are refused at resolve; no real client secret is this short
MIN_LENGTH = 8

_values: set[str] = set()
_lock = threading.Lock()
_sorted: list[str] | None = None  # every spelling of every value, longest first


def register(value: str | None) -> None:
    """Remember `value` as a secret to scrub from output (values under MIN_LENGTH are not)."""
    global _sorted
    if not isinstance(value, str) or len(value) < MIN_LENGTH:
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _sorted = None


def forms(value: str) -> set[str]:
    """Every spelling of `value` that output may carry (see the module doc)."""
    spelled = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        repr(value)[1:-1],
        html.escape(value, quote=False),
        html.escape(value),
        " ".join(value.split()),
    }
    if "\n" in value or "\r" in value:
        spelled |= {line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_LENGTH}
    return {form for form in spelled if len(form) >= MIN_LENGTH}


def scrub(text: str) -> str:
    """`text` with every registered secret, in every spelling, replaced by the mask."""
    global _sorted
    with _lock:
        if _sorted is None:
            _sorted = sorted({f for v in _values for f in forms(v)}, key=len, reverse=True)
        spellings = _sorted
    for form in spellings:
        if form in text:
            text = text.replace(form, MASK)
    return text


def shorten(text: object, limit: int = 400) -> str:
    """Outside text (an error body, an exception) as one scrubbed line of at most `limit`
    characters. It is scrubbed before it is joined or cut: cutting first could leave the front
    of a secret, which no longer matches."""
    line = scrub(" ".join(scrub(str(text)).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _snapshot() -> frozenset[str]:
    """For tests only: the registered values, to restore after a test."""
    with _lock:
        return frozenset(_values)


def _restore(values: frozenset[str]) -> None:
    """For tests only: the registry as `_snapshot` saw it."""
    global _sorted
    with _lock:
        _values.clear()
        _values.update(values)
        _sorted = None
