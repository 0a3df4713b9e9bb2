"""`idpctl.yaml` (and its environment overlay) -> `Settings`, every problem located.

    settings = load_settings(find_settings(Path.cwd()), env="prod")

Relative paths are relative to the file that holds them. The folder of `idpctl.yaml` is the
configuration's root: the `providers:` entries must lie inside it (or under
`--providers-root`), and so must the credential files it names (`config.references`).
Overlays and variables: `config.environments`; the checks of the `graph`, `state`,
`preflight` and `vault` blocks: `config.settingchecks`; the provider files:
`config.providers`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from idpctl.config.document import Document, base_dir, lookup, problem_at
from idpctl.config.environments import VAR_NAME, environment_names, overlay
from idpctl.config.references import (
    endpoint_problems,
    keep_problems,
    reference_problems,
    secret_refs,
)
from idpctl.config.schema import validate_document
from idpctl.config.settingchecks import TENANT_KINDS, printable, settings_problems
from idpctl.config.yamlload import DocumentProblems, load_file
from idpctl.errors import ConfigError
from idpctl.kinds import load_kinds, secret_paths
from idpctl.net import endpoints
from idpctl.net.endpoints import Allowance

__all__ = [
    "CLOUDS",
    "SETTINGS_FILE",
    "Settings",
    "find_settings",
    "lenient_settings",
    "load_settings",
    "resolve_settings",
]

log = logging.getLogger(__name__)

SETTINGS_FILE = "idpctl.yaml"
CLOUDS: Mapping[str, tuple[str, str]] = {
    name: (cloud.graph, cloud.authority) for name, cloud in endpoints.CLOUDS.items()
}
_PATH_KEYS = (
    ("graph", "caBundle"),
    ("auth", "certificate", "path"),
    ("auth", "federatedToken", "file"),
    ("auth", "tokenCache"),
    ("state", "path"),
    ("vault", "caCert"),
    ("preflight", "caBundle"),
)


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


def resolve_settings(
    config: str | None,
    *,
    env: str | None = None,
    allowance: Allowance | None = None,
    providers_root: Path | None = None,
    variables: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from `-c FILE`, else found from the working directory upwards."""
    path = Path(config) if config else find_settings(Path.cwd())
    return load_settings(
        path, env=env, allowance=allowance, providers_root=providers_root, variables=variables
    )


def load_settings(
    path: Path,
    *,
    env: str | None = None,
    allowance: Allowance | None = None,
    providers_root: Path | None = None,
    variables: Mapping[str, str] | None = None,
) -> Settings:
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
        raise ConfigError(
            [
                problem_at(
                    doc.locate(),
                    f"{SETTINGS_FILE} must be a mapping (tenant:, tenantKind:, providers: ...)",
                )
            ]
        )
    problems = validate_document(doc, "idpctl", label=SETTINGS_FILE)
    if problems:
        more = settings_problems(doc, _absolute_paths(doc.data, doc))
        raise ConfigError(sorted(set(problems + more), key=lambda p: (p.line, p.column)))
    if env:
        doc = overlay(doc, env, allowance)
    _require_env_and_tenant(doc, env)
    kinds = load_kinds()
    data = secret_refs(doc.data, secret_paths(kinds.schema("idpctl")), doc=doc)
    data = _absolute_paths(data, doc)
    problems = settings_problems(doc, data) + keep_problems(data)
    if problems:
        raise ConfigError(problems)
    if data.get("secretPolicy"):
        from idpctl.config.secretpolicy import parse_policy

        parse_policy(data["secretPolicy"], where=doc.locate(("secretPolicy",)))
    settings = _settings(doc, data, env, allowance, providers_root)
    if variables:
        settings = replace(settings, variables={**settings.variables, **variables})
    problems = endpoint_problems(settings, doc) + reference_problems(data, settings)
    if problems:
        raise ConfigError(problems)
    from idpctl.config.apiversions import for_settings

    for_settings(settings, kinds)  # graph.apiVersion names versions the kinds have
    return settings


def _require_env_and_tenant(doc: Document, env: str | None) -> None:
    """`requireEnv: true` refuses a run without an environment; `tenant` may be left to the
    overlays, but then a run without --env has no tenant and says which overlays lack one."""
    data = doc.data
    names = environment_names(Path(doc.file))
    listed = ", ".join(names) or "none found in environments/"
    if not env and data.get("requireEnv") is True:
        raise ConfigError(
            [
                problem_at(
                    doc.locate(("requireEnv",)),
                    "requireEnv: true: choose an environment with --env NAME "
                    f"(or IDPCTL_ENV), or run them all with --all-envs "
                    f"({listed})",
                )
            ]
        )
    if data.get("tenant"):
        return
    if env:
        raise ConfigError(
            [
                problem_at(
                    doc.locate(),
                    f"environment {env!r}: no tenant: set "
                    f"tenant: in environments/{env}.yaml or in "
                    f"{SETTINGS_FILE}",
                )
            ]
        )
    raise ConfigError(
        [
            problem_at(
                doc.locate(),
                "no tenant: set tenant: here, or in every "
                "environments/<name>.yaml and run with --env "
                f"NAME or --all-envs ({listed})",
            )
        ]
    )


def lenient_settings(
    path: Path, *, env: str | None = None, allowance: Allowance, providers_root: Path | None = None
) -> Settings | None:
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
            doc = overlay(doc, env, allowance)
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
        path=Path(doc.file).resolve(),
        tenant="",
        document=doc,
        allowance=allowance,
        providers_root=providers_root,
        tenant_kind=str(data["tenantKind"]) if data.get("tenantKind") in TENANT_KINDS else "",
        provider_paths=tuple(paths),
        variables={
            k: _text(v)
            for k, v in variables.items()
            if isinstance(k, str)
            and VAR_NAME.fullmatch(k)
            and isinstance(v, str | int | float | bool)
        }
        if isinstance(variables, dict)
        else {},
    )


def _absolute_paths(data: dict[str, Any], doc: Document) -> dict[str, Any]:
    for key in _PATH_KEYS:
        data = _absolute(data, key, doc)
    return data


def _absolute(data: dict[str, Any], key: tuple[str, ...], doc: Document) -> dict[str, Any]:
    """`data` with the relative path at `key` made absolute against the file that set it."""
    value = lookup(data, key)
    if not isinstance(value, str):
        return data
    new = os.path.normpath(base_dir(doc, key) / value)
    out = dict(data)
    node = out
    for part in key[:-1]:
        node[part] = dict(node[part])
        node = node[part]
    node[key[-1]] = new
    return out


def _settings(
    doc: Document,
    data: dict[str, Any],
    env: str | None,
    allowance: Allowance,
    providers_root: Path | None = None,
) -> Settings:
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


def _provider_paths(
    doc: Document,
    data: dict[str, Any],
    entries: list[str],
    allowance: Allowance,
    root: Path | None = None,
) -> tuple[Path, ...]:
    problems, paths = [], []
    listed = isinstance(data.get("providers"), list)
    for index, entry in enumerate(entries):
        where = ("providers", index) if listed else ("providers",)
        path = (root or base_dir(doc, where)) / entry
        if not path.exists():
            message = (
                f"providers: {printable(entry)} does not exist under --providers-root {root}"
                if root
                else f"providers: {printable(entry)} does not exist"
                if "providers" in data
                else f"no providers/ folder next to {SETTINGS_FILE} (set providers: to "
                "the files or folders of provider files)"
            )
            problems.append(problem_at(doc.locate(where), message))
        else:
            roots = (Path(doc.file).resolve().parent, *((root.resolve(),) if root else ()))
            reason = endpoints.check_path(
                path, roots=roots, allowance=allowance, what=f"providers: {entry}"
            )
            if reason:
                problems.append(problem_at(doc.locate(where), reason))
        paths.append(path.resolve())
    if problems:
        raise ConfigError(problems)
    return tuple(paths)
