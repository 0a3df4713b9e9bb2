"""`idpctl convert --to external [PATH ...] --out DIR [--issuer NAME=URL] [--offline]`: rewrite
B2C provider files as External ID ones (the rules: `idpctl.reports.convert`, docs/migration.md).

PATHs are files or folders (default: the provider files of idpctl.yaml). Each file is written
under DIR at the same relative place; DIR never overlaps the originals, and nothing is
written when a target exists. `{file: PATH}` references are rewritten to point at the same
file from the new place. Each file keeps its leading comments; comments inside a provider are
not kept (the report says so). The issuer of each OIDC provider is read from its discovery
document (the bounded preflight fetch), or given with --issuer, or left as a placeholder that
validate refuses. Ends with a report of every field or provider it could not carry.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idpctl.cli.options import option
from idpctl.errors import IdpctlError

if TYPE_CHECKING:  # yaml is imported by the run, not by `idpctl --help`
    import yaml

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "rewrite B2C provider files as External ID ones into a new folder"
EXAMPLES = (
    "idpctl convert --to external providers --out external/providers",
    "idpctl convert --to external --offline --issuer Contoso=https://idp.contoso.com/"
    " --out external/providers",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    option(
        p,
        "--to",
        choices=("external",),
        required=True,
        help="the target tenant kind",
        example="--to external",
    )
    option(
        p,
        "--out",
        metavar="DIR",
        required=True,
        help="folder to write into (never over the originals)",
        example="--out external/providers",
    )
    option(
        p,
        "--issuer",
        action="append",
        metavar="NAME=URL",
        help="an OIDC provider's issuer, by displayName (else read from discovery)",
        example="--issuer Contoso=https://idp.contoso.com/",
    )
    option(
        p,
        "--offline",
        action="store_true",
        example="--offline",
        help="do not fetch discovery documents (issuers left as placeholders)",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="provider files or folders (default: those of idpctl.yaml)",
    )


_REF_KEYS = frozenset({"env", "file", "vault", "keyVault", "keep"})


@cache
def _dumper() -> type[yaml.SafeDumper]:
    """A YAML dumper that writes secret references on one line, as people write them."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def represent_dict(self, data: Any) -> Any:
            flow = len(data) == 1 and next(iter(data)) in _REF_KEYS
            return self.represent_mapping(
                "tag:yaml.org,2002:map", data, flow_style=True if flow else None
            )

    Dumper.add_representer(dict, Dumper.represent_dict)
    return Dumper


def run(args: argparse.Namespace) -> int:
    from idpctl.kinds import load_kinds
    from idpctl.reports import convert

    sources = _sources(args)
    out = Path(args.out)
    base = Path(os.path.commonpath([str(p.parent) for p in sources]))
    _refuse_overlap(out, sources)
    kinds = load_kinds()
    issuers = _issuer_options(args.issuer or ())
    lookup = _Lookup(issuers, offline=args.offline)
    planned: list[tuple[Path, str, int]] = []
    notes: list[Any] = []
    try:
        for source in sources:
            target = out / source.relative_to(base)
            label = str(source.relative_to(base))
            data, header = _read(source)
            result = convert.convert_document(data, kinds=kinds, issuer_for=lookup, label=label)
            notes += list(result.notes)
            if result.document is None:
                continue
            document = _rebase_files(result.document, source.parent, target.parent)
            planned.append((target, _text(document, header, source, target), result.providers))
            if _inner_comments(source):
                notes.append(
                    convert.Note(label, "(comments)", "comments inside providers are not kept")
                )
    finally:
        lookup.close()
    notes += lookup.problems
    existing = [t for t, _, _ in planned if t.exists()]
    if existing:
        raise IdpctlError(
            f"convert: {existing[0]} exists; refusing to overwrite it (write into "
            "an empty folder); nothing was written"
        )
    from idpctl.fileio import write_atomic

    for target, text, count in planned:
        write_atomic(target, text, mode=0o644)
        print(f"Wrote {target} ({count} provider(s))")
    total = sum(count for _, _, count in planned)
    print(f"\nConverted {total} provider(s) in {len(planned)} file(s) for an External ID tenant.")
    if notes:
        print(f"Could not carry ({len(notes)}):")
        for note in notes:
            print(f"  {note}")
    print(
        "Out of scope: custom policies (Identity Experience Framework) and their policy keys; "
        "user flows (create them in the new tenant). Next: `idpctl init --tenant-kind "
        "external`, point providers: at the new files, `idpctl validate` and `idpctl plan`."
    )
    return 0


def _sources(args: argparse.Namespace) -> list[Path]:
    if args.paths:
        found: list[Path] = []
        for raw in args.paths:
            path = Path(raw)
            if path.is_dir():
                found += _inside(
                    path,
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.suffix in (".yaml", ".yml")
                        and p.is_file()
                        and not any(part.startswith(".") for part in p.parts[-1:])
                    ),
                    args,
                )
            elif path.is_file():
                found.append(path)
            else:
                raise IdpctlError(f"convert: {raw} does not exist")
    else:
        from idpctl.cli import pipeline
        from idpctl.config.providers import provider_files

        found = list(provider_files(pipeline.load_settings(args)))
    if not found:
        raise IdpctlError("convert: no provider files to convert")
    return [p.resolve() for p in dict.fromkeys(found)]


def _inside(folder: Path, files: list[Path], args: argparse.Namespace) -> list[Path]:
    """The files found in a folder the operator named, each of which must stay in it after
    symlinks (the repository boundary, docs/security.md control 5): a symlink out of the
    folder is refused, and what it points to is never read."""
    from idpctl.cli import pipeline
    from idpctl.net import endpoints

    allowance = pipeline.allowance(args)
    for path in files:
        reason = endpoints.check_path(
            path, roots=[folder], allowance=allowance, what=f"convert: {path}"
        )
        if reason:
            raise IdpctlError(reason)
    return files


def _refuse_overlap(out: Path, sources: Sequence[Path]) -> None:
    target = out.resolve()
    for source in sources:
        if target == source.parent or target in source.parents:
            raise IdpctlError(
                f"convert: --out {out} holds the original {source}; write into "
                "a new folder (convert never writes over the originals)"
            )


def _issuer_options(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url.startswith("https://"):
            raise IdpctlError(
                f"convert: --issuer {value!r}: write NAME=https://issuer/ (NAME "
                "is the provider's displayName)"
            )
        out[name] = url
    return out


class _Lookup:
    """issuer_for(name, url): --issuer first, then the discovery document (unless offline)."""

    def __init__(self, given: Mapping[str, str], *, offline: bool) -> None:
        self.given, self.offline = given, offline
        self.problems: list[Any] = []
        self._fetcher: Any = None

    def __call__(self, name: str, url: str | None) -> str | None:
        if name in self.given:
            return self.given[name]
        if self.offline or not url or not url.startswith("https://"):
            return None
        from idpctl.preflight.fetch import Fetcher
        from idpctl.reports.convert import Note

        if self._fetcher is None:
            self._fetcher = Fetcher()
        fetched = self._fetcher.get(url)
        issuer = fetched.data.get("issuer") if isinstance(fetched.data, Mapping) else None
        if fetched.problem or not isinstance(issuer, str):
            why = fetched.problem or "the document has no issuer"
            self.problems.append(Note(name, "issuer", f"discovery {url}: {why}"))
            return None
        return issuer

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.__exit__(None, None, None)


def _read(path: Path) -> tuple[Any, list[str]]:
    from idpctl.config.yamlload import load_file

    document = load_file(path)
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if "yaml-language-server:" not in line:
            header.append(line)
    return document.data, header


def _inner_comments(path: Path) -> bool:
    lines = path.read_text(encoding="utf-8").splitlines()
    body = lines[
        next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines)) :
    ]
    return any("#" in line for line in body)


def _rebase_files(value: Any, old: Path, new: Path) -> Any:
    """`{file: PATH}` relative to the original file's folder, made relative to the new one."""
    if isinstance(value, Mapping):
        if (
            set(value) == {"file"}
            and isinstance(value["file"], str)
            and not os.path.isabs(value["file"])
        ):
            moved = os.path.relpath(old / value["file"], new.resolve())
            return {"file": moved.replace(os.sep, "/")}
        return {k: _rebase_files(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebase_files(v, old, new) for v in value]
    return value


def _text(document: Any, header: Sequence[str], source: Path, target: Path) -> str:
    import yaml

    from idpctl.config import repofiles
    from idpctl.reports import export

    ref = repofiles.schema_ref(Path.cwd(), target.parent) or export.SCHEMA_ID
    body = yaml.dump(
        document,
        Dumper=_dumper(),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    lines = [
        f"# yaml-language-server: $schema={ref}",
        f"# converted from B2C by `idpctl convert --to external` ({source.name}); "
        "see docs/migration.md",
        *header,
    ]
    return "\n".join(lines) + "\n" + body
