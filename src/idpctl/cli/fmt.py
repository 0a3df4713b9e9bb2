"""`idpctl fmt [--migrate] [--check] [PATH ...]`: tidy provider files in place.

`--check` writes nothing: it names each file that would change and exits 1 if there is one
(for CI), 0 when every file is formatted.

Plain `fmt` only makes whitespace uniform (LF line endings, no trailing blanks, one final
newline) and only when the parsed content stays identical; it never reorders keys.
`--migrate` rewrites legacy `openIdConnectProvider` providers as
`openIdConnectIdentityProvider` (`name:` -> `displayName:`, `type: OpenIDConnect` removed) by
editing those lines only, so comments and layout stay. Where a line edit cannot be done safely
(flow style, a key sharing a line) the file is re-written from its data, and the loss of
comments is said. Every rewrite is checked by parsing the result before it is saved.
Without PATH, the provider files of `idpctl.yaml` are used.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idpctl import output
from idpctl.cli.options import option
from idpctl.errors import ConfigError, Problem
from idpctl.kinds import Kinds, load_kinds, migrate_legacy

if TYPE_CHECKING:  # yaml is imported by the run, not by `idpctl --help`
    from idpctl.config.document import Document

__all__ = ["EXAMPLES", "HELP", "add_arguments", "migrate_text", "run", "tidy_text"]

HELP = "format provider files; --migrate rewrites legacy shapes"
EXAMPLES = (
    "idpctl fmt",
    "idpctl fmt --check    # in CI: exit 1 if a file would change",
    "idpctl fmt --migrate providers/legacy.yaml",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    option(
        p,
        "--migrate",
        action="store_true",
        example="--migrate providers/legacy.yaml",
        help="rewrite openIdConnectProvider files as openIdConnectIdentityProvider",
    )
    option(
        p,
        "--check",
        action="store_true",
        example="--check",
        help="change nothing; exit 1 if a file would change (for CI)",
    )
    p.add_argument("paths", nargs="*", metavar="PATH")


_BOM = "\ufeff"


def _files(paths: Sequence[str], args: argparse.Namespace) -> list[Path]:
    if not paths:
        from idpctl.cli.pipeline import allowance, providers_root
        from idpctl.config.providers import provider_files
        from idpctl.config.settings import resolve_settings

        settings = resolve_settings(
            getattr(args, "config", None),
            env=getattr(args, "env", None),
            allowance=allowance(args),
            providers_root=providers_root(args),
        )
        return list(provider_files(settings))
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found.extend(sorted(p for p in entry.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(entry)
    return found


def _items(data: Any) -> list[tuple[str | int, ...]]:
    if isinstance(data, dict) and isinstance(data.get("providers"), list) and "kind" not in data:
        return [
            ("providers", i) for i, item in enumerate(data["providers"]) if isinstance(item, dict)
        ]
    return [()] if isinstance(data, dict) else []


def _value(data: Any, at: tuple[str | int, ...]) -> Any:
    for part in at:
        data = data[part]
    return data


def _expected(doc: Document, kinds: Kinds) -> tuple[Any, int]:
    data, count = _copy(doc.data), 0
    for at in _items(doc.data):
        item = _value(doc.data, at)
        if item.get("kind") in kinds.legacy:
            migrated, _ = migrate_legacy(item, kinds)
            if at:
                data["providers"][at[1]] = migrated
            else:
                data = migrated
            count += 1
    return data, count


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    return [_copy(v) for v in data] if isinstance(data, list) else data


def _line_edits(text: str, doc: Document, kinds: Kinds) -> str | None:
    """The text with legacy items edited line by line, or None when that is not safe."""
    lines = text.splitlines(keepends=True)
    replace: list[tuple[int, int, str, str]] = []  # line index, column index, old, new
    drop: set[int] = set()
    for at in _items(doc.data):
        item = _value(doc.data, at)
        legacy = item.get("kind")
        if legacy not in kinds.legacy:
            continue
        schema = kinds.schema(legacy)
        loc = doc.locate((*at, "kind"))
        replace.append((loc.line - 1, loc.column - 1, legacy, schema["x-migratesTo"]))
        for old, new in schema.get("x-rename", {}).items():
            if old in item:
                loc = doc.locate((*at, old), key=True)
                replace.append((loc.line - 1, loc.column - 1, old, new))
        for key in schema.get("x-drop", ()):
            if key in item:
                loc = doc.locate((*at, key), key=True)
                if lines[loc.line - 1][: loc.column - 1].strip():
                    return None  # shares its line with another key ("- type: ...", flow style)
                drop.add(loc.line - 1)
    for index, col, old, new in sorted(replace, key=lambda r: (r[0], -r[1])):
        line = lines[index]
        start = col + 1 if line[col : col + 1] in ("'", '"') else col
        if line[start : start + len(old)] != old or index in drop:
            return None
        lines[index] = line[:start] + new + line[start + len(old) :]
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def migrate_text(text: str, kinds: Kinds, *, file: str = "<string>") -> tuple[str, int, bool]:
    """(new text, providers migrated, comments kept). Raises ConfigError if unreadable."""
    import yaml

    from idpctl.config.yamlload import load_text

    doc = load_text(text, file=file)
    expected, count = _expected(doc, kinds)
    if not count:
        return text, 0, True
    edited = _line_edits(text, doc, kinds)
    if edited is not None:
        try:
            if load_text(edited, file=file).data == expected:
                return edited, count, True
        except ConfigError:
            pass
    dumped = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=100)
    return dumped, count, False


def tidy_text(text: str, *, file: str = "<string>") -> str:
    """Whitespace made uniform, if that leaves the parsed content unchanged."""
    from idpctl.config.yamlload import load_text

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    tidy = "\n".join(line.rstrip(" \t") for line in lines).rstrip("\n") + "\n"
    if tidy == text:
        return text
    try:
        same = load_text(tidy, file=file).data == load_text(text, file=file).data
    except ConfigError:
        return text
    return tidy if same else text


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _one(path: Path, kinds: Kinds, *, migrate: bool, check: bool = False) -> bool:
    from idpctl.config.document import display_path
    from idpctl.config.yamlload import MAX_BYTES, load_text

    shown = output.inline(display_path(path))  # a file name may hold anything but `/`
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError([Problem(shown, 1, 1, "file is larger than 1 MiB")])
    raw = path.read_bytes().decode("utf-8")
    bom, text = (_BOM, raw[1:]) if raw.startswith(_BOM) else ("", raw)
    new, count, kept = migrate_text(text, kinds, file=shown) if migrate else (text, 0, True)
    if not migrate and _expected(load_text(text, file=shown), kinds)[1]:
        print(
            f"{shown}: holds a deprecated provider shape; run `idpctl fmt --migrate {shown}`",
            file=sys.stderr,
        )
    new = tidy_text(new, file=shown)
    if new == text:
        return False
    if check:  # --check: say so, change nothing
        print(f"would {'migrate' if count else 'format'} {shown}")
        return True
    _write(path, bom + new)
    if count:
        note = "" if kept else " (comments could not be kept: the file was re-written)"
        print(
            f"{shown}: migrated {count} provider{'s' if count != 1 else ''} to "
            f"openIdConnectIdentityProvider{note}",
            file=sys.stderr,
        )
    print(f"formatted {shown}")
    return True


def run(args: argparse.Namespace) -> int:
    from idpctl.config.document import display_path

    kinds = load_kinds()
    failed = changed = 0
    check = bool(getattr(args, "check", False))
    for path in _files(getattr(args, "paths", []) or [], args):
        try:
            changed += _one(path, kinds, migrate=bool(getattr(args, "migrate", False)), check=check)
        except ConfigError as error:
            failed += 1
            for problem in error.problems or ():
                print(str(problem))
        except (OSError, UnicodeDecodeError) as error:
            failed += 1
            print(
                f"{output.inline(display_path(path))}:1:1: cannot format: "
                f"{error.__class__.__name__}"
            )
    return 1 if failed or (check and changed) else 0
