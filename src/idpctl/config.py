"""`idpctl.yaml` and provider files -> `Settings` and `Provider` values, every problem located.

    settings = load_settings(find_settings(Path.cwd()), env="prod")
    warnings: list[Problem] = []
    providers = load_providers(settings, load_kinds(), warnings=warnings)

Relative paths are relative to the file that holds them. Secret references become
`SecretRef` leaves (never resolved here). An environment overlay `environments/<name>.yaml`
is deep-merged over `idpctl.yaml` (mappings merge; scalars and lists replace), and
`${var.NAME}` in provider files takes the merged `variables:`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl.errors import ConfigError, Problem
from idpctl.kinds import (
    Kinds,
    graph_fields,
    legacy_warning,
    load_kinds,
    migrate_legacy,
    natural_key,
    secret_paths,
)
from idpctl.model import Kind, Location, Provider, SecretRef
from idpctl.schema import did_you_mean, semantic_problems, validate_document
from idpctl.yamlload import Document, display_path, load_file

__all__ = [
    "CLOUDS",
    "SETTINGS_FILE",
    "Settings",
    "find_settings",
    "load_providers",
    "load_settings",
    "provider_files",
    "resolve_settings",
    "secret_refs",
]

log = logging.getLogger(__name__)

SETTINGS_FILE = "idpctl.yaml"
CLOUDS: Mapping[str, tuple[str, str]] = {
    "global": ("https://graph.microsoft.com", "https://login.microsoftonline.com"),
    "usgov": ("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": ("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
}
_VAR = re.compile(r"\$\{var\.([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_KEYS = (("graph", "caBundle"), ("auth", "certificate", "path"),
              ("auth", "federatedToken", "file"), ("state", "path"), ("vault", "caCert"),
              ("preflight", "caBundle"))


@dataclass(frozen=True)
class Settings:
    """What `idpctl.yaml` (plus its environment overlay) says. Paths are absolute.

    `rate_limit`: None when unset (the client's default), "off", or requests per minute.
    `budget`: `graph.budget` as written (limits and window, or "off"); see `ratelimit`.
    `auth`, `state`, `vault` are the raw mappings with `SecretRef` leaves; `raw` is the whole
    merged document the same way. `document` is for locating problems, not for reading values.
    """

    path: Path
    tenant: str
    tenant_kind: str
    cloud: str = "global"
    graph_url: str = CLOUDS["global"][0]
    authority: str = CLOUDS["global"][1]
    ca_bundle: Path | None = None
    timeout: float = 30.0
    rate_limit: float | str | None = None
    budget: Mapping[str, Any] | str | None = None
    auth: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)
    provider_paths: tuple[Path, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    env: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    vault: Mapping[str, Any] = field(default_factory=dict)
    preflight_ca_bundle: Path | None = None
    secret_policy: Mapping[str, str] = field(default_factory=dict)
    allow_destroy: bool = True
    document: Document | None = field(default=None, repr=False, compare=False)


def find_settings(start: Path) -> Path:
    """The nearest `idpctl.yaml` in `start` or a parent directory."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        candidate = folder / SETTINGS_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no {SETTINGS_FILE} in {start} or any parent directory (use -c FILE)")


def resolve_settings(config: str | None, *, env: str | None = None) -> Settings:
    """Settings from `-c FILE`, else found from the working directory upwards."""
    path = Path(config) if config else find_settings(Path.cwd())
    return load_settings(path, env=env)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


def _overlay(doc: Document, env: str) -> Document:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", env) or env.startswith("."):
        raise ConfigError([Problem(doc.file, 1, 1, f"environment name {env!r} is not valid")])
    path = Path(doc.file).resolve().parent / "environments" / f"{env}.yaml"
    if not path.is_file():
        raise ConfigError([Problem(doc.file, 1, 1, f"environment {env!r}: "
                                                   f"{display_path(path)} does not exist")])
    over = load_file(path)
    if not isinstance(over.data, dict):
        raise ConfigError([_at(over.locate(), "an environment overlay must be a mapping")])
    problems = validate_document(over, "idpctl", label="environment overlay")
    problems = [p for p in problems if not p.message.startswith("missing required field")]
    if problems:
        raise ConfigError(problems)
    return Document(doc.file, doc.path, _merge(doc.data, over.data),
                    {**doc.locations, **over.locations},
                    {**doc.key_locations, **over.key_locations})


def _at(loc: Location, message: str) -> Problem:
    return Problem(loc.file, loc.line, loc.column, message)


def _base_dir(doc: Document, path: tuple[str | int, ...]) -> Path:
    return Path(doc.locate(path).file).resolve().parent


def secret_refs(
    data: Any, paths: list[tuple[str, ...]], *, doc: Document, prefix: tuple[str | int, ...] = ()
) -> Any:
    """`data` with each mapping at `paths` replaced by a SecretRef (file paths made absolute,
    relative to the file that names them). Shapes were validated before."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for path in paths:
        head, rest = path[0], path[1:]
        if head not in out:
            continue
        if rest:
            out[head] = secret_refs(out[head], [rest], doc=doc, prefix=(*prefix, head))
        elif isinstance(out[head], dict) and len(out[head]) == 1:
            where = (*prefix, head)
            scheme, spec = next(iter(out[head].items()))
            if scheme == "file":
                spec = os.path.normpath(_base_dir(doc, (*where, "file")) / spec)
            out[head] = SecretRef(scheme, spec, doc.locate(where))
    return out


def load_settings(path: Path, *, env: str | None = None) -> Settings:
    """Read `idpctl.yaml` (and `environments/<env>.yaml` over it). Raises ConfigError."""
    doc = load_file(Path(path))
    if not isinstance(doc.data, dict):
        raise ConfigError([_at(doc.locate(), f"{SETTINGS_FILE} must be a mapping "
                                             "(tenant:, tenantKind:, providers: ...)")])
    problems = validate_document(doc, "idpctl", label=SETTINGS_FILE)
    if problems:
        raise ConfigError(problems)
    if env:
        doc = _overlay(doc, env)
    kinds = load_kinds()
    data = secret_refs(doc.data, secret_paths(kinds.schema("idpctl")), doc=doc)
    for key in _PATH_KEYS:
        data = _absolute(data, key, doc)
    if data.get("secretPolicy"):
        from idpctl.governance import parse_policy

        parse_policy(data["secretPolicy"], where=doc.locate(("secretPolicy",)))
    return _settings(doc, data, env)


def _absolute(data: dict[str, Any], key: tuple[str, ...], doc: Document) -> dict[str, Any]:
    """`data` with the relative path at `key` made absolute against the file that set it."""
    value: Any = data
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str):
        return data
    new = os.path.normpath(_base_dir(doc, key) / value)
    out = dict(data)
    node = out
    for part in key[:-1]:
        node[part] = dict(node[part])
        node = node[part]
    node[key[-1]] = new
    return out


def _settings(doc: Document, data: dict[str, Any], env: str | None) -> Settings:
    folder = Path(doc.file).resolve().parent
    cloud = data.get("cloud", "global")
    graph = data.get("graph") or {}
    state = {"backend": "local", **(data.get("state") or {})}
    if state["backend"] == "local":
        state.setdefault("path", str(folder / ".idpctl" / "state.json"))
    entries = data.get("providers", "providers")
    entries = [entries] if isinstance(entries, str) else list(entries)
    return Settings(
        path=Path(doc.file).resolve(),
        tenant=data["tenant"],
        tenant_kind=data["tenantKind"],
        cloud=cloud,
        graph_url=str(graph.get("url") or CLOUDS[cloud][0]).rstrip("/"),
        authority=str(graph.get("authority") or CLOUDS[cloud][1]).rstrip("/"),
        ca_bundle=Path(graph["caBundle"]) if graph.get("caBundle") else None,
        timeout=float(graph.get("timeout", 30.0)),
        rate_limit=graph.get("rateLimit"),
        budget=graph.get("budget"),
        auth=data.get("auth") or {},
        state=state,
        provider_paths=_provider_paths(doc, data, entries),
        raw=data,
        env=env,
        variables={k: _text(v) for k, v in (data.get("variables") or {}).items()},
        vault=data.get("vault") or {},
        preflight_ca_bundle=_opt_path((data.get("preflight") or {}).get("caBundle")),
        secret_policy=data.get("secretPolicy") or {},
        allow_destroy=bool(data.get("allowDestroy", True)),
        document=doc,
    )


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _opt_path(value: Any) -> Path | None:
    return Path(value) if value else None


def _provider_paths(doc: Document, data: dict[str, Any], entries: list[str]) -> tuple[Path, ...]:
    problems, paths = [], []
    listed = isinstance(data.get("providers"), list)
    for index, entry in enumerate(entries):
        where = ("providers", index) if listed else ("providers",)
        path = _base_dir(doc, where) / entry
        if not path.exists():
            message = (f"providers: {entry} does not exist" if "providers" in data else
                       f"no providers/ folder next to {SETTINGS_FILE} (set providers: to the "
                       "files or folders of provider files)")
            problems.append(_at(doc.locate(where), message))
        paths.append(path.resolve())
    if problems:
        raise ConfigError(problems)
    return tuple(paths)


def provider_files(settings: Settings) -> tuple[Path, ...]:
    """Every provider file: listed files as they are, folders' *.yaml/*.yml recursively
    (sorted, hidden names skipped), each once."""
    found: list[Path] = []
    for path in settings.provider_paths:
        if path.is_dir():
            found.extend(sorted(
                p for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ))
        else:
            found.append(path)
    return tuple(dict.fromkeys(found))


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


Path_ = tuple[str | int, ...]


class _ProviderLoader:
    """Collects providers, problems and warnings over every provider file."""

    def __init__(self, settings: Settings, kinds: Kinds) -> None:
        self.settings, self.kinds = settings, kinds
        self.providers: list[Provider] = []
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._where: dict[int, tuple[Document, Path_, Mapping[str, str]]] = {}
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
        problems += semantic_problems(self._checked, self.settings, self.kinds,
                                      locate=self._locate)
        return sorted(set(problems), key=lambda p: (p.file, p.line, p.column, p.message))

    def _locate(self, provider: Provider, path: Path_) -> Location:
        doc, at, renames = self._where[id(provider)]
        path = tuple(renames.get(str(p), p) if i == 0 else p for i, p in enumerate(path))
        return doc.locate((*at, *path))

    def _problem(self, doc: Document, path: Path_, message: str, *, key: bool = False) -> None:
        self.problems.append(_at(doc.locate(path, key=key), message))

    def _substitute(self, doc: Document) -> Document:
        variables = self.settings.variables

        def walk(value: Any, path: Path_) -> Any:
            if isinstance(value, dict):
                return {k: walk(v, (*path, k)) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v, (*path, i)) for i, v in enumerate(value)]
            if not isinstance(value, str) or "${" not in value:
                return value
            for name in _VAR.findall(value):
                if name not in variables:
                    self._problem(doc, path, f"unresolved variable ${{var.{name}}} (define it "
                                             f"under variables: in {SETTINGS_FILE} or the "
                                             "environment overlay)")
            return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), value)

        data = walk(doc.data, ())
        return Document(doc.file, doc.path, data, doc.locations, doc.key_locations)

    def _items(self, doc: Document) -> list[Path_]:
        data = doc.data
        if isinstance(data, dict) and "providers" in data and "kind" not in data:
            for key in data:
                if key != "providers":
                    self._problem(doc, (key,), f"unknown field {key!r} next to providers: "
                                               "(a file holds one provider or a providers: list)",
                                  key=True)
            if not isinstance(data["providers"], list):
                self._problem(doc, ("providers",), "providers: expected a list of providers")
                return []
            return [("providers", i) for i in range(len(data["providers"]))]
        if isinstance(data, dict):
            return [()]
        what = "empty" if data is None else "not a mapping"
        self._problem(doc, (), f"provider file is {what}: write one provider (kind: ...) or "
                               "providers: [...]")
        return []

    def _item(self, doc: Document, at: Path_) -> None:
        item = _value(doc.data, at)
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
                self.warnings.append(Problem(loc.file, loc.line, loc.column,
                                             legacy_warning(item, self.kinds), "warning"))
            item, renames = migrate_legacy(item, self.kinds)
        elif not self.kinds[kind_name].managed:
            self._problem(doc, (*at, "kind"), f"{kind_name} is built in: idpctl never creates, "
                                              "changes or deletes it; remove it from the file")
            return
        else:
            problems = validate_document(doc, kind_name, kinds=self.kinds, at=at, label=kind_name)
            self.problems.extend(problems)
        self._build(doc, at, item, self.kinds[item["kind"]], renames, valid=not problems)

    def _kind_name(self, doc: Document, at: Path_, item: dict[str, Any]) -> str | None:
        names = [*self.kinds, *self.kinds.legacy]
        kind = item.get("kind")
        if kind is None:
            self._problem(doc, at, "missing field 'kind' (one of " + ", ".join(
                n for n in names if self.kinds.get(n) is None or self.kinds[n].managed) + ")")
            return None
        if not isinstance(kind, str):
            self._problem(doc, (*at, "kind"), "kind: expected a string, the Graph type name "
                                              "(e.g. oidcIdentityProvider)")
            return None
        if kind not in names:
            guess = did_you_mean(kind, names)
            hint = f"; did you mean {guess!r}?" if guess else ""
            shown = kind if len(kind) <= 80 else kind[:77] + "..."
            self._problem(doc, (*at, "kind"), f"unknown kind {shown!r}{hint}")
            return None
        return kind

    def _build(self, doc: Document, at: Path_, item: dict[str, Any], kind: Kind,
               renames: Mapping[str, str], *, valid: bool) -> None:
        """Add the provider; an invalid one is built as far as it goes, for the semantic rules
        only, so one run reports every problem."""
        try:
            provider = self._provider(doc, at, item, kind)
        except (KeyError, TypeError, ValueError, AttributeError):
            if valid:
                raise
            return
        if valid:
            self.providers.append(provider)
        self._checked.append(provider)
        self._where[id(provider)] = (doc, at, {new: old for old, new in renames.items()})

    def _provider(self, doc: Document, at: Path_, item: dict[str, Any], kind: Kind) -> Provider:
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
        )


def _value(data: Any, at: Path_) -> Any:
    for part in at:
        data = data[part]
    return data
