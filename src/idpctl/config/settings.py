"""`idpctl.yaml` and provider files -> `Settings` and `Provider` values, every problem located.

    settings = load_settings(find_settings(Path.cwd()), env="prod")
    warnings: list[Problem] = []
    providers = load_providers(settings, load_kinds(), warnings=warnings)

Relative paths are relative to the file that holds them. Secret references become
`SecretRef` leaves (never resolved here). An environment overlay `environments/<name>.yaml`
is deep-merged over `idpctl.yaml` (mappings merge; scalars and lists replace), and
`${var.NAME}` in provider files takes the merged `variables:`.

The folder of `idpctl.yaml` is the configuration's root: provider files, `{file:}` references
and the credential files `idpctl.yaml` names must lie inside it, and every URL that receives a
credential must be the configured cloud's own (https) - unless the operator's allowance
(`endpoints.Allowance`: environment and command line, never a file) says otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from idpctl.config.schema import did_you_mean, semantic_problems, validate_document
from idpctl.config.yamlload import Document, DocumentProblems, display_path, load_file
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
from idpctl.model import KeepLive, Kind, Location, Provider, SecretRef
from idpctl.net import endpoints
from idpctl.net.endpoints import Allowance

__all__ = [
    "CLOUDS",
    "SETTINGS_FILE",
    "Settings",
    "find_settings",
    "lenient_settings",
    "load_providers",
    "load_settings",
    "provider_files",
    "resolve_settings",
    "secret_refs",
    "settings_problems",
]

log = logging.getLogger(__name__)

SETTINGS_FILE = "idpctl.yaml"
CLOUDS: Mapping[str, tuple[str, str]] = {
    name: (cloud.graph, cloud.authority) for name, cloud in endpoints.CLOUDS.items()}
_VAR = re.compile(r"\$\{var\.([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_KEYS = (("graph", "caBundle"), ("auth", "certificate", "path"),
              ("auth", "federatedToken", "file"), ("auth", "tokenCache"), ("state", "path"),
              ("vault", "caCert"), ("preflight", "caBundle"))


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
    api_version: str | Mapping[str, str] | None = None  # graph.apiVersion (apiversions.choose)
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
    # what the operator let through beyond the cloud's hosts and this file's folder
    allowance: Allowance = field(default_factory=Allowance, compare=False)
    providers_root: Path | None = None  # --providers-root: a second root, set by the operator

    @property
    def roots(self) -> tuple[Path, ...]:
        """The configuration's roots: the folder of `idpctl.yaml`, and --providers-root."""
        extra = (self.providers_root.resolve(),) if self.providers_root else ()
        return (self.path.parent, *extra)


def find_settings(start: Path) -> Path:
    """The nearest `idpctl.yaml` in `start` or a parent directory."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        candidate = folder / SETTINGS_FILE
        if candidate.is_file() or os.path.lexists(candidate):  # a directory, a loop: say so
            return candidate
    raise ConfigError(f"no {SETTINGS_FILE} in {start} or any parent directory (use -c FILE)")


def resolve_settings(config: str | None, *, env: str | None = None,
                     allowance: Allowance | None = None,
                     providers_root: Path | None = None,
                     variables: Mapping[str, str] | None = None) -> Settings:
    """Settings from `-c FILE`, else found from the working directory upwards."""
    path = Path(config) if config else find_settings(Path.cwd())
    return load_settings(path, env=env, allowance=allowance, providers_root=providers_root,
                         variables=variables)


def parse_variables(items: Sequence[str]) -> dict[str, str]:
    """`-var NAME=VALUE` options: {NAME: VALUE}, the last one winning; ConfigError names a
    malformed one."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError([Problem("idpctl", 0, 0, f"-var {item!r}: expected NAME=VALUE "
                                                       "(NAME: letters, digits and _)")])
        found[name] = value
    return found


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


def _overlay(doc: Document, env: str, allowance: Allowance) -> Document:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", env) or env.startswith("."):
        raise ConfigError([Problem(doc.file, 1, 1, f"environment name {env!r} is not valid")])
    path = Path(doc.file).resolve().parent / "environments" / f"{env}.yaml"
    if not path.is_file():
        raise ConfigError([Problem(doc.file, 1, 1, f"environment {env!r}: "
                                                   f"{display_path(path)} does not exist")])
    reason = endpoints.check_path(path, roots=(path.parent.parent,), allowance=allowance,
                                  what=f"environment {env!r}: the overlay")
    if reason:
        raise ConfigError([Problem(display_path(path), 1, 1, reason)])
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
            if scheme == "keep":
                out[head] = KeepLive(doc.locate(where))
                continue
            if scheme == "file":
                spec = os.path.normpath(_base_dir(doc, (*where, "file")) / spec)
            out[head] = SecretRef(scheme, spec, doc.locate(where))
    return out


def load_settings(path: Path, *, env: str | None = None,
                  allowance: Allowance | None = None,
                  providers_root: Path | None = None,
                  variables: Mapping[str, str] | None = None) -> Settings:
    """Read `idpctl.yaml` (and `environments/<env>.yaml` over it). Raises ConfigError.

    `allowance` defaults to the environment's (IDPCTL_ALLOW_ENDPOINTS, IDPCTL_ALLOW_PATHS).
    `providers_root` (`--providers-root`): the folder the `providers:` entries are read
    under, instead of the folder of the file that sets them (docs/security.md: on a pull
    request, idpctl.yaml comes from the base branch and the provider files from the PR). It
    is a second root: files may lie under it or under the folder of idpctl.yaml.
    `variables` (`-var NAME=VALUE`) go over the merged `variables:`."""
    if allowance is None:
        allowance = Allowance.from_sources()
    doc = load_file(Path(path))
    if not isinstance(doc.data, dict):
        raise ConfigError([_at(doc.locate(), f"{SETTINGS_FILE} must be a mapping "
                                             "(tenant:, tenantKind:, providers: ...)")])
    problems = validate_document(doc, "idpctl", label=SETTINGS_FILE)
    if problems:
        more = settings_problems(doc, _absolute_paths(doc.data, doc))
        raise ConfigError(sorted(set(problems + more), key=lambda p: (p.line, p.column)))
    if env:
        doc = _overlay(doc, env, allowance)
    _require_env_and_tenant(doc, env)
    kinds = load_kinds()
    data = secret_refs(doc.data, secret_paths(kinds.schema("idpctl")), doc=doc)
    data = _absolute_paths(data, doc)
    problems = settings_problems(doc, data) + _keep_problems(data)
    if problems:
        raise ConfigError(problems)
    if data.get("secretPolicy"):
        from idpctl.config.governance import parse_policy

        parse_policy(data["secretPolicy"], where=doc.locate(("secretPolicy",)))
    settings = _settings(doc, data, env, allowance, providers_root)
    if variables:
        settings = replace(settings, variables={**settings.variables, **variables})
    problems = _endpoint_problems(settings, doc) + reference_problems(data, settings)
    if problems:
        raise ConfigError(problems)
    from idpctl.config.apiversions import for_settings

    for_settings(settings, kinds)  # graph.apiVersion names versions the kinds have
    return settings


def environment_names(config: Path) -> list[str]:
    """The environments of the idpctl.yaml at `config`: `environments/<name>.yaml` next to
    it, sorted (a fleet: one tenant each)."""
    folder = Path(config).resolve().parent / "environments"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml")
                  if p.is_file() and re.fullmatch(r"[A-Za-z0-9_.-]+", p.stem)
                  and not p.stem.startswith("."))


def _require_env_and_tenant(doc: Document, env: str | None) -> None:
    """`requireEnv: true` refuses a run without an environment; `tenant` may be left to the
    overlays, but then a run without --env has no tenant and says which overlays lack one."""
    data = doc.data
    names = environment_names(Path(doc.file))
    listed = ", ".join(names) or "none found in environments/"
    if not env and data.get("requireEnv") is True:
        raise ConfigError([_at(doc.locate(("requireEnv",)),
                               "requireEnv: true: choose an environment with --env NAME (or "
                               f"IDPCTL_ENV), or run them all with --all-envs ({listed})")])
    if data.get("tenant"):
        return
    if env:
        raise ConfigError([_at(doc.locate(), f"environment {env!r}: no tenant: set tenant: in "
                                             f"environments/{env}.yaml or in {SETTINGS_FILE}")])
    raise ConfigError([_at(doc.locate(), "no tenant: set tenant: here, or in every "
                                         "environments/<name>.yaml and run with --env NAME "
                                         f"or --all-envs ({listed})")])


# paths in idpctl.yaml that name a credential file
# a person's token cache (deviceCode) holds a refresh token: a pull request must not choose
# where it is written (people run idpctl on a branch's own idpctl.yaml)
_CREDENTIAL_FILES = (("auth", "certificate", "path"), ("auth", "federatedToken", "file"),
                     ("auth", "tokenCache"))


def _endpoint_problems(settings: Settings, doc: Document) -> list[Problem]:
    """Each credential-receiving URL and credential file idpctl.yaml sets, checked against
    the cloud's hosts, the root and the allowance."""
    cloud = endpoints.CLOUDS[settings.cloud]
    owned: dict[tuple[str, ...], tuple[Any, tuple[str, ...]]] = {
        ("graph", "url"): (cloud.graph_hosts, ()),
        ("graph", "authority"): (cloud.authority_hosts, ()),
        ("vault", "address"): ((), ()),  # no host is Vault's by right: the allowance decides
        ("state", "url"): ((), cloud.blob_suffixes),
    }
    problems: list[Problem] = []
    for key, (hosts, suffixes) in owned.items():
        value = _lookup(settings.raw, key)
        if value is None:
            continue
        reason = endpoints.check_url(value, what=".".join(key), hosts=hosts, suffixes=suffixes,
                                     allowance=settings.allowance)
        if reason:
            problems.append(_at(doc.locate(key), reason))
    for key in _CREDENTIAL_FILES:
        value = _lookup(settings.raw, key)
        if isinstance(value, str):
            reason = endpoints.check_path(Path(value), roots=settings.roots,
                                          allowance=settings.allowance, what=".".join(key))
            if reason:
                problems.append(_at(doc.locate(key), reason))
    mount = _lookup(settings.raw, ("vault", "auth", "mount"))
    reason = endpoints.check_vault_path(mount, what="vault.auth.mount")
    if reason:
        problems.append(_at(doc.locate(("vault", "auth", "mount")), reason))
    return problems


def _lookup(data: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def reference_problems(data: Any, settings: Settings) -> list[Problem]:
    """A located problem for each secret reference in `data` that would send a token to a
    host the cloud does not own, read a file outside the root, or steer a Vault path."""
    problems: list[Problem] = []
    for ref in _refs(data):
        reason = _ref_problem(ref, settings)
        if reason and ref.location is not None:
            problems.append(_at(ref.location, reason))
        elif reason:
            problems.append(Problem(display_path(settings.path), 1, 1, reason))
    return problems


def _keep_problems(value: Any) -> list[Problem]:
    """`{keep: live}` says "the provider's secret the tenant holds": idpctl's own credentials
    have no such thing."""
    if isinstance(value, KeepLive) and value.location is not None:
        return [_at(value.location, "{keep: live} is for a provider's secret only: write a "
                                    "reference ({env: NAME}, {file: PATH}, ...)")]
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in _keep_problems(v)]
    return []


def _refs(value: Any) -> list[SecretRef]:
    if isinstance(value, SecretRef):
        return [value]
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in _refs(v)]
    return []


def _ref_problem(ref: SecretRef, settings: Settings) -> str | None:
    if ref.scheme == "keyVault":
        return endpoints.check_keyvault_url(ref.spec, cloud=settings.cloud,
                                            allowance=settings.allowance)
    if ref.scheme == "file" and isinstance(ref.spec, str):
        return endpoints.check_path(Path(ref.spec), roots=settings.roots,
                                    allowance=settings.allowance, what="file:")
    if ref.scheme == "vault" and isinstance(ref.spec, Mapping):
        return (endpoints.check_vault_path(ref.spec.get("mount"), what="vault.mount")
                or endpoints.check_vault_path(ref.spec.get("path"), what="vault.path"))
    return None


def lenient_settings(path: Path, *, env: str | None = None, allowance: Allowance,
                     providers_root: Path | None = None) -> Settings | None:
    """Settings good enough to read the provider files when `idpctl.yaml` has problems, so
    `validate` reports both in one run: the `providers:` entries that pass every check of
    `_provider_paths` (the same roots and allowance), the valid `variables:` and `tenantKind:`
    ("" when invalid: no tenant-kind rule runs), nothing else. None when the file is not
    even a mapping."""
    try:
        doc = load_file(Path(path))
    except DocumentProblems as error:
        doc = error.document
    except ConfigError:
        return None
    if env:
        with contextlib.suppress(ConfigError):  # reported by the strict load already
            doc = _overlay(doc, env, allowance)
    data = doc.data
    if not isinstance(data, dict):
        return None
    entries = data.get("providers", "providers")
    entries = [entries] if isinstance(entries, str) else entries
    paths: list[Path] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str) and entry and entry.isprintable():
            with contextlib.suppress(ConfigError, OSError, ValueError):
                paths += _provider_paths(doc, data, [entry], allowance, providers_root)
    variables = data.get("variables")
    return Settings(
        path=Path(doc.file).resolve(), tenant="", document=doc, allowance=allowance,
        providers_root=providers_root,
        tenant_kind=data.get("tenantKind") if data.get("tenantKind") in _TENANT_KINDS else "",
        provider_paths=tuple(paths),
        variables={k: _text(v) for k, v in variables.items()
                   if isinstance(k, str) and _VAR_NAME.fullmatch(k)
                   and isinstance(v, str | int | float | bool)}
        if isinstance(variables, dict) else {},
    )


# A tenant id (GUID) or a domain name: DNS labels of letters, digits and inner hyphens. It
# becomes part of sign-in and Graph URLs, so '/', '?', '#', '..', spaces, newlines never pass.
_TENANT = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?"
                     r"(?:\.[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?)*")
_TENANT_KINDS = ("workforce", "b2c", "external")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CA_KEYS = (("graph", "caBundle"), ("preflight", "caBundle"), ("vault", "caCert"))
CA_BUNDLE_MAX_BYTES = 8 * 1024 * 1024
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def settings_problems(doc: Document, data: Mapping[str, Any]) -> list[Problem]:
    """What the schema cannot say about valid-shaped settings: the tenant's form, CA bundles
    that are readable PEM files, a state path that is not a directory. `data` has absolute
    paths."""
    problems = [_at(doc.locate(key), f"{'.'.join(key)}: {message}")
                for key, message in _tenant_problems(data) + _path_problems(data)]
    return problems


def _tenant_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    tenant = data.get("tenant")
    if not isinstance(tenant, str) or (len(tenant) <= 253 and _TENANT.fullmatch(tenant)):
        return []
    return [(("tenant",), "expected a tenant id (a GUID) or a domain name such as "
                          "contoso.onmicrosoft.com (letters, digits, '-' and '.' only)")]


def _path_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for key in _CA_KEYS:
        value = _get(data, key)
        message = _pem_problem(Path(value)) if isinstance(value, str) else None
        if message:
            found.append((key, message))
    state = data.get("state") or {}
    path = state.get("path") if state.get("backend", "local") == "local" else None
    if isinstance(path, str) and os.path.isdir(path):
        found.append((("state", "path"), f"{_shown(path)} is a directory; name a file "
                                         "such as .idpctl/state.json"))
    return found


def _shown(path: Path | str) -> str:
    return _printable(display_path(path))


def _printable(text: str) -> str:
    """`text` for a one-line message: quoted when it holds a newline or another control
    character (which would otherwise start a forged line of output)."""
    return text if text.isprintable() else repr(text)


def _get(data: Mapping[str, Any], key: tuple[str, ...]) -> Any:
    for part in key:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def _pem_problem(path: Path) -> str | None:
    """Why `path` is not a PEM file of CA certificates, or None."""
    shown = _shown(path)
    if not path.exists():
        return f"{shown} does not exist"
    if not path.is_file():
        return f"{shown} is {'a directory' if path.is_dir() else 'not a regular file'}, " \
               "not a PEM file of CA certificates"
    try:
        with open(path, "rb") as handle:
            head = handle.read(CA_BUNDLE_MAX_BYTES + 1)
    except OSError as error:
        return f"{shown} cannot be read: {error.strerror}"
    if len(head) > CA_BUNDLE_MAX_BYTES:
        return f"{shown} is larger than 8 MiB, not a PEM file of CA certificates"
    if _PEM_CERTIFICATE not in head:
        return f"{shown} is not a PEM file of CA certificates (no {_PEM_CERTIFICATE.decode()} line)"
    return None


def _absolute_paths(data: dict[str, Any], doc: Document) -> dict[str, Any]:
    for key in _PATH_KEYS:
        data = _absolute(data, key, doc)
    return data


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


def _settings(doc: Document, data: dict[str, Any], env: str | None,
              allowance: Allowance, providers_root: Path | None = None) -> Settings:
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
        api_version=graph.get("apiVersion"),
        budget=graph.get("budget"),
        auth=data.get("auth") or {},
        state=state,
        provider_paths=_provider_paths(doc, data, entries, allowance, providers_root),
        raw=data,
        env=env,
        variables={k: _text(v) for k, v in (data.get("variables") or {}).items()},
        vault=data.get("vault") or {},
        preflight_ca_bundle=_opt_path((data.get("preflight") or {}).get("caBundle")),
        secret_policy=data.get("secretPolicy") or {},
        allow_destroy=bool(data.get("allowDestroy", True)),
        document=doc,
        allowance=allowance,
        providers_root=providers_root,
    )


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _opt_path(value: Any) -> Path | None:
    return Path(value) if value else None


def _provider_paths(doc: Document, data: dict[str, Any], entries: list[str],
                    allowance: Allowance, root: Path | None = None) -> tuple[Path, ...]:
    problems, paths = [], []
    listed = isinstance(data.get("providers"), list)
    for index, entry in enumerate(entries):
        where = ("providers", index) if listed else ("providers",)
        path = (root or _base_dir(doc, where)) / entry
        if not path.exists():
            message = (f"providers: {_printable(entry)} does not exist under --providers-root "
                       f"{root}" if root else f"providers: {_printable(entry)} does not exist"
                       if "providers" in data
                       else f"no providers/ folder next to {SETTINGS_FILE} (set providers: to "
                            "the files or folders of provider files)")
            problems.append(_at(doc.locate(where), message))
        else:
            roots = (Path(doc.file).resolve().parent, *((root.resolve(),) if root else ()))
            reason = endpoints.check_path(path, roots=roots, allowance=allowance,
                                          what=f"providers: {entry}")
            if reason:
                problems.append(_at(doc.locate(where), reason))
        paths.append(path.resolve())
    if problems:
        raise ConfigError(problems)
    return tuple(paths)


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
            self._problem(path, "symlink loop" if loop else
                          "dangling symlink (its target does not exist)" if dangling else
                          f"cannot follow the symlink ({error.strerror})")
            return False
        reason = endpoints.check_path(path, roots=self.settings.roots,
                                      allowance=self.settings.allowance, what="symlink target")
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
            self._problem(path, f"{endpoints.file_kind(mode)}, not a regular file: a provider "
                                "file must be a regular file")
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
        references = reference_problems(provider.fields, self.settings)
        self.problems.extend(references)
        if valid and not references:
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
            moved_from=item["moved"]["from"] if "moved" in item else None,
        )


def _value(data: Any, at: Path_) -> Any:
    for part in at:
        data = data[part]
    return data
