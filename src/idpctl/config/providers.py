"""Provider files -> `Provider` values: finding every provider file the `providers:` entries
of `idpctl.yaml` name, and loading them with every problem located.

    warnings: list[Problem] = []
    providers = load_providers(settings, load_kinds(), warnings=warnings)

Secret references become `SecretRef` leaves (never resolved here); `${var.NAME}` takes the
settings' variables. A symlink is followed only to a target inside the configuration's roots.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from idpctl.config.document import (
    Document,
    KeyPath,
    display_path,
    problem_at,
    unique_problems,
    value_at,
)
from idpctl.config.environments import substitute
from idpctl.config.references import reference_problems, secret_refs
from idpctl.config.schema import did_you_mean, semantic_problems, validate_document
from idpctl.config.settings import SETTINGS_FILE, Settings
from idpctl.config.yamlload import load_file
from idpctl.errors import ConfigError, Problem
from idpctl.kinds import Kinds, graph_fields, legacy_warning, migrate_legacy, natural_key
from idpctl.model import Kind, Location, Provider
from idpctl.net import endpoints

__all__ = ["load_providers", "provider_files"]

_PROVIDER_SUFFIXES = (".yaml", ".yml")


def provider_files(settings: Settings) -> tuple[Path, ...]:
    """Every provider file: listed files as they are, folders' *.yaml/*.yml recursively
    (sorted, hidden names skipped), each once.

    Raises ConfigError naming each entry that cannot be taken as it looks: an unreadable
    folder, a dangling symlink, a symlink loop, a symlink out of the root (its target is
    never read), a provider file that is not a regular file. None is skipped silently: a
    missing file would turn into a planned delete."""
    walk = _Walk(settings)
    for path in settings.provider_paths:
        if path.is_dir():
            walk.folder(path)
        else:
            walk.file(path)
    if walk.problems:
        raise ConfigError(walk.problems)
    return tuple(dict.fromkeys(walk.found))


class _Walk:
    """The provider files under the listed folders, and what stood in the way."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.found: list[Path] = []
        self.problems: list[Problem] = []
        self._seen: set[Path] = set()

    def _problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem(display_path(path), 1, 1, message))

    def folder(self, folder: Path) -> None:
        real = Path(os.path.realpath(folder))
        if real in self._seen:
            return
        self._seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            self._problem(folder, f"cannot read the folder ({error.strerror})")
            return
        for entry in entries:
            if not entry.name.startswith("."):
                self._entry(Path(entry.path))

    def _entry(self, path: Path) -> None:
        mode = self._mode(path)
        if mode is None:
            return
        if stat.S_ISDIR(mode):
            self.folder(path)
        elif path.suffix in _PROVIDER_SUFFIXES:
            self.file(path)

    def _link_ok(self, path: Path) -> bool:
        """A symlink is followed only to an existing target inside the root (or allowance)."""
        try:
            Path(path).resolve(strict=True)
        except RuntimeError:
            self._problem(path, "symlink loop")
            return False
        except OSError as error:
            dangling = isinstance(error, FileNotFoundError) or error.errno == errno.ENOENT
            loop = error.errno == errno.ELOOP
            self._problem(
                path,
                "symlink loop"
                if loop
                else "dangling symlink (its target does not exist)"
                if dangling
                else f"cannot follow the symlink ({error.strerror})",
            )
            return False
        reason = endpoints.check_path(
            path,
            roots=self.settings.roots,
            allowance=self.settings.allowance,
            what="symlink target",
        )
        if reason:
            self._problem(path, reason)
            return False
        return True

    def _mode(self, path: Path) -> int | None:
        """The file type and mode of `path` after a symlink the boundary lets through; None
        when it cannot be taken (the problem is recorded)."""
        if path.is_symlink() and not self._link_ok(path):
            return None
        try:
            return path.stat().st_mode
        except OSError as error:
            self._problem(path, f"cannot read ({error.strerror})")
            return None

    def file(self, path: Path) -> None:
        mode = self._mode(path)
        if mode is None:
            return
        if not stat.S_ISREG(mode):
            self._problem(
                path,
                f"{endpoints.file_kind(mode)}, not a regular file: a provider "
                "file must be a regular file",
            )
            return
        self.found.append(path)


def load_providers(
    settings: Settings, kinds: Kinds, *, warnings: list[Problem] | None = None
) -> tuple[Provider, ...]:
    """Every desired provider, in file order. Raises ConfigError with every problem in every
    file; warnings (e.g. a legacy shape that was translated) are appended to `warnings`."""
    loader = _ProviderLoader(settings, kinds)
    for path in provider_files(settings):
        loader.load(path)
    problems = loader.finish()
    if warnings is not None:
        warnings.extend(loader.warnings)
    if problems:
        raise ConfigError(problems)
    return tuple(loader.providers)


class _ProviderLoader:
    """Collects providers, problems and warnings over every provider file."""

    def __init__(self, settings: Settings, kinds: Kinds) -> None:
        self.settings, self.kinds = settings, kinds
        self.providers: list[Provider] = []
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._where: dict[int, tuple[Document, KeyPath, Mapping[str, str]]] = {}
        self._checked: list[Provider] = []  # valid or not: the semantic rules see them all

    def load(self, path: Path) -> None:
        try:
            doc = load_file(path)
        except ConfigError as error:
            self.problems.extend(error.problems or [Problem(display_path(path), 1, 1, str(error))])
            return
        doc = self._substitute(doc)
        for at in self._items(doc):
            self._item(doc, at)

    def finish(self) -> list[Problem]:
        problems = list(self.problems)
        problems += semantic_problems(self._checked, self.settings, self.kinds, locate=self._locate)
        return unique_problems(problems)

    def _locate(self, provider: Provider, path: KeyPath) -> Location:
        doc, at, renames = self._where[id(provider)]
        path = tuple(renames.get(str(p), p) if i == 0 else p for i, p in enumerate(path))
        return doc.locate((*at, *path))

    def _problem(self, doc: Document, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.problems.append(problem_at(doc.locate(path, key=key), message))

    def _substitute(self, doc: Document) -> Document:
        def unresolved(path: KeyPath, name: str) -> None:
            self._problem(
                doc,
                path,
                f"unresolved variable ${{var.{name}}} (define it under "
                f"variables: in {SETTINGS_FILE} or the environment "
                "overlay)",
            )

        data = substitute(doc.data, self.settings.variables, unresolved)
        return Document(doc.file, doc.path, data, doc.locations, doc.key_locations)

    def _items(self, doc: Document) -> list[KeyPath]:
        data = doc.data
        if isinstance(data, dict) and "providers" in data and "kind" not in data:
            for key in data:
                if key != "providers":
                    self._problem(
                        doc,
                        (key,),
                        f"unknown field {key!r} next to providers: "
                        "(a file holds one provider or a providers: list)",
                        key=True,
                    )
            if not isinstance(data["providers"], list):
                self._problem(doc, ("providers",), "providers: expected a list of providers")
                return []
            return [("providers", i) for i in range(len(data["providers"]))]
        if isinstance(data, dict):
            return [()]
        what = "empty" if data is None else "not a mapping"
        self._problem(
            doc, (), f"provider file is {what}: write one provider (kind: ...) or providers: [...]"
        )
        return []

    def _item(self, doc: Document, at: KeyPath) -> None:
        item = value_at(doc.data, at)
        if not isinstance(item, dict):
            self._problem(doc, at, "a provider must be a mapping (kind: ..., displayName: ...)")
            return
        kind_name = self._kind_name(doc, at, item)
        if kind_name is None:
            return
        renames: Mapping[str, str] = {}
        if kind_name in self.kinds.legacy:
            problems = validate_document(doc, kind_name, kinds=self.kinds, at=at, label=kind_name)
            self.problems.extend(problems)
            if not problems:
                loc = doc.locate((*at, "kind"))
                self.warnings.append(
                    Problem(
                        loc.file, loc.line, loc.column, legacy_warning(item, self.kinds), "warning"
                    )
                )
            item, renames = migrate_legacy(item, self.kinds)
        elif not self.kinds[kind_name].managed:
            self._problem(
                doc,
                (*at, "kind"),
                f"{kind_name} is built in: idpctl never creates, "
                "changes or deletes it; remove it from the file",
            )
            return
        else:
            problems = validate_document(doc, kind_name, kinds=self.kinds, at=at, label=kind_name)
            self.problems.extend(problems)
        self._build(doc, at, item, self.kinds[item["kind"]], renames, valid=not problems)

    def _kind_name(self, doc: Document, at: KeyPath, item: dict[str, Any]) -> str | None:
        names = [*self.kinds, *self.kinds.legacy]
        kind = item.get("kind")
        if kind is None:
            self._problem(
                doc,
                at,
                "missing field 'kind' (one of "
                + ", ".join(n for n in names if self.kinds.get(n) is None or self.kinds[n].managed)
                + ")",
            )
            return None
        if not isinstance(kind, str):
            self._problem(
                doc,
                (*at, "kind"),
                "kind: expected a string, the Graph type name (e.g. oidcIdentityProvider)",
            )
            return None
        if kind not in names:
            guess = did_you_mean(kind, names)
            hint = f"; did you mean {guess!r}?" if guess else ""
            shown = kind if len(kind) <= 80 else kind[:77] + "..."
            self._problem(doc, (*at, "kind"), f"unknown kind {shown!r}{hint}")
            return None
        return kind

    def _build(
        self,
        doc: Document,
        at: KeyPath,
        item: dict[str, Any],
        kind: Kind,
        renames: Mapping[str, str],
        *,
        valid: bool,
    ) -> None:
        """Add the provider; an invalid one is built as far as it goes, for the semantic rules
        only, so one run reports every problem."""
        try:
            provider = self._provider(doc, at, item, kind)
        except (KeyError, TypeError, ValueError, AttributeError):
            if valid:
                raise
            return
        references = reference_problems(provider.fields, self.settings)
        self.problems.extend(references)
        if valid and not references:
            self.providers.append(provider)
        self._checked.append(provider)
        self._where[id(provider)] = (doc, at, {new: old for old, new in renames.items()})

    def _provider(self, doc: Document, at: KeyPath, item: dict[str, Any], kind: Kind) -> Provider:
        paths = [tuple(p.split(".")) for p in kind.write_only]
        data = secret_refs(item, paths, doc=doc, prefix=at)
        fields, method = graph_fields(kind, data, self.kinds)
        return Provider(
            kind=kind.name,
            key=natural_key(kind, fields),
            fields=fields,
            auth_method=method,
            protected=bool(item.get("protected", False)),
            absent=item.get("ensure") == "absent",
            user_flows=tuple(item["userFlows"]) if "userFlows" in item else None,
            location=doc.locate(at),
            secret_policy=dict(item["secretPolicy"]) if "secretPolicy" in item else None,
            moved_from=item["moved"]["from"] if "moved" in item else None,
        )
