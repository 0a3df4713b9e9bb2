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
(`idpctl.secrets`); a token shorter than that (a Vault dev-server token such as `root`) is
masked only where it stands as a whole word, so that it does not mask parts of ordinary words.
"""

from __future__ import annotations

import html
import json
import re
import threading
import urllib.parse

__all__ = ["MASK", "MIN_LENGTH", "forms", "register", "scrub", "shorten"]

MASK = "(sensitive)"
# provider secrets shorter than this are refused at resolve; no real client secret is this short
MIN_LENGTH = 8

_values: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None


def register(value: str | None) -> None:
    """Remember `value` as a secret to scrub from output (empty values are ignored)."""
    global _pattern
    if not value or not isinstance(value, str):
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _pattern = None


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
        spelled |= {line.strip() for line in value.splitlines()
                    if len(line.strip()) >= MIN_LENGTH}
    return {form for form in spelled if form}


def _compile() -> re.Pattern[str] | None:
    long_forms: set[str] = set()
    words: set[str] = set()
    for value in _values:
        (long_forms if len(value) >= MIN_LENGTH else words).update(forms(value))
    parts = [re.escape(f) for f in sorted(long_forms, key=len, reverse=True)]
    parts += [rf"(?<!\w){re.escape(w)}(?!\w)" for w in sorted(words, key=len, reverse=True)]
    return re.compile("|".join(parts)) if parts else None


def scrub(text: str) -> str:
    """`text` with every registered secret, in every form, replaced by the mask."""
    global _pattern
    with _lock:
        if _pattern is None and _values:
            _pattern = _compile()
        pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def shorten(text: object, limit: int = 400) -> str:
    """Outside text (an error body, an exception) as one scrubbed line of at most `limit`
    characters. It is scrubbed before it is joined or cut: cutting first could leave the front
    of a secret, which no longer matches."""
    line = scrub(" ".join(scrub(str(text)).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _forget_all() -> None:
    """For tests only: empty the registry."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None
