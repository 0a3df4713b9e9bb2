"""The one gate every byte idpctl prints, and every report it writes for people, passes through.

`cli.main` puts a `Gate` in front of stdout and stderr for the whole run, so every `print`, log
record, traceback, rendering and annotation goes through `clean`, and the Markdown files idpctl
writes for people (job summary, drift report) go through `document`. Text from outside (natural
keys, file names, `${var}` values, discovery documents, Graph and vault error text, lock
holders) can therefore never reach the reader as more than text (docs/security.md, control 2):

- registered secrets are scrubbed in every form (`redact.scrub`, control 3);
- every C0 and C1 control character but tab and newline, DEL, U+2028/2029 and the bidirectional
  overrides are shown as `\\xNN` / `\\uNNNN`; ESC only survives as one of the colour codes idpctl
  itself paints with, and only on a colour terminal;
- a line that would start a GitHub workflow command (`::name ...::`, leading blanks allowed) has
  its first `:` shown as `\\x3a`, and `##[` (the older command syntax, anywhere in a line) as
  `#\\x23[`. Annotations idpctl builds itself go out through `Gate.command`, the one way to write
  a line starting with `::`.

A JSON document idpctl prints (`--format json`) is made by `json_text`, whose output the gate
leaves byte for byte as it is: a character the gate would escape is written as a JSON `\\uNNNN`
escape, and `##[` in a string as `#\\u0023[`, so the document stays valid JSON and decodes to the
same data.

Line structure is the writer's: where outside text may hold a newline and belongs on one line
(an error message, a warning, a finding), the writer passes it through `inline` first.
"""

from __future__ import annotations

import contextlib
import json as _json
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from idpctl import redact

__all__ = ["Gate", "clean", "document", "first_control", "gated", "inline", "json_text"]

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SGR = re.compile(r"\x1b\[(?:0|1|3[1-7])m")  # the colour codes render.text paints with
# the runner trims every Unicode white space before it looks for `::` (U+00A0, U+3000 too)
_COMMAND = re.compile(r"^([^\S\n]*):(?=:)", re.MULTILINE)
_FENCE = re.compile("`{3,}")  # would close a Markdown code fence the text is quoted in


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape(text: str, *, color: bool) -> str:
    if not color or "\x1b" not in text:
        return _CONTROL.sub(_shown, text)
    pieces = _SGR.split(text)
    codes = _SGR.findall(text)
    out = [_CONTROL.sub(_shown, pieces[0])]
    for code, piece in zip(codes, pieces[1:], strict=True):
        out += [code, _CONTROL.sub(_shown, piece)]
    return "".join(out)


def _defuse(text: str, *, line_start: bool = True) -> str:
    text = text.replace("##[", "#\\x23[")
    if not line_start:
        head, sep, rest = text.partition("\n")
        return head + sep + _COMMAND.sub(r"\1\\x3a", rest) if sep else head
    return _COMMAND.sub(r"\1\\x3a", text)


def clean(text: str, *, color: bool = False, line_start: bool = True) -> str:
    """`text` as it may be shown: secrets scrubbed, controls escaped, workflow commands defused.
    `line_start=False`: the text continues a line already begun."""
    return _defuse(_escape(redact.scrub(text), color=color), line_start=line_start)


def inline(text: object) -> str:
    """Outside text for a place on one line: newlines and every other control shown escaped,
    and a run of three or more backticks as `\\x60`s, so that the line cannot close a code fence
    it is quoted in (the action's `error` output is shown in one). Secrets are scrubbed first:
    an escaped spelling of a secret would no longer match at the gate."""
    line = _LINE_CONTROL.sub(_shown, redact.scrub(str(text)))
    return _FENCE.sub(lambda m: "\\x60" * len(m.group()), line) if "```" in line else line


def first_control(text: str) -> str | None:
    """The first character `inline` would escape, as `U+000A`; None when there is none."""
    found = _LINE_CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def document(text: str) -> str:
    """A Markdown report idpctl writes to a file for people (job summary, drift report)."""
    return clean(text)


def json_text(data: object) -> str:
    """`data` as indented JSON (unicode kept) that passes the gate unchanged: the characters
    `clean` would show as `\\xNN` (which is no JSON escape) are written `\\uNNNN`, and `##[`
    (only ever inside a string) as `#\\u0023[`. Scrubbing still applies at the gate."""
    text = _json.dumps(data, indent=2, ensure_ascii=False)
    text = _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return text.replace("##[", "#\\u0023[") + "\n"


class Gate:
    """A text stream in front of stdout or stderr: whole lines go through `clean`."""

    def __init__(self, raw: TextIO, *, color: bool = False) -> None:
        self.raw = raw
        self.color = color
        self._pending = ""
        self._line_start = True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._emit(head + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self.raw.flush()

    def command(self, line: str) -> None:
        """A workflow command idpctl built itself (`::error file=...::message`), whose parts are
        already escaped as the runner expects: scrubbed and control-escaped, never defused."""
        self.flush()
        text = _escape(redact.scrub(line), color=False).replace("##[", "#\\x23[")
        self.raw.write(inline(text) + "\n")
        self.raw.flush()
        self._line_start = True

    def _emit(self, text: str) -> None:
        self.raw.write(clean(text, color=self.color, line_start=self._line_start))
        self._line_start = text.endswith("\n") or (self._line_start and not text.strip(" \t"))

    def isatty(self) -> bool:
        return bool(getattr(self.raw, "isatty", lambda: False)())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def gated(*, color: bool = True) -> Iterator[None]:
    """Every write to sys.stdout and sys.stderr inside goes through a Gate (idpctl's colour
    codes pass only to a terminal)."""
    saved = sys.stdout, sys.stderr
    out, err = (Gate(stream, color=color and _isatty(stream)) for stream in saved)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        for gate in (out, err):
            with contextlib.suppress(Exception):
                gate.flush()
        sys.stdout, sys.stderr = saved
