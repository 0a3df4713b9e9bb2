"""Environments and variables: `environments/<name>.yaml` overlays deep-merged over
`idpctl.yaml` (mappings merge; scalars and lists replace), `-var NAME=VALUE` options, and
`${var.NAME}` in provider files taking the merged `variables:`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from idpctl.config.document import Document, KeyPath, display_path, problem_at
from idpctl.config.schema import validate_document
from idpctl.config.yamlload import load_file
from idpctl.errors import ConfigError, Problem
from idpctl.net import endpoints
from idpctl.net.endpoints import Allowance

__all__ = [
    "VAR_NAME",
    "environment_names",
    "is_environment_name",
    "overlay",
    "parse_variables",
    "substitute",
]

VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a variable's name, in -var and variables:
_VAR = re.compile(r"\$\{var\.(" + VAR_NAME.pattern + r")\}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_.-]+")


def is_environment_name(name: str) -> bool:
    """Whether `name` can name an environment: letters, digits, `_.-`, not hidden."""
    return bool(_ENVIRONMENT.fullmatch(name)) and not name.startswith(".")


def parse_variables(items: Sequence[str]) -> dict[str, str]:
    """`-var NAME=VALUE` options: {NAME: VALUE}, the last one winning; ConfigError names a
    malformed one."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not VAR_NAME.fullmatch(name):
            raise ConfigError(
                [
                    Problem(
                        "idpctl",
                        0,
                        0,
                        f"-var {item!r}: expected NAME=VALUE (NAME: letters, digits and _)",
                    )
                ]
            )
        found[name] = value
    return found


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


def overlay(doc: Document, env: str, allowance: Allowance) -> Document:
    """`doc` with `environments/<env>.yaml` (next to it, inside its folder) merged over it."""
    if not is_environment_name(env):
        raise ConfigError([Problem(doc.file, 1, 1, f"environment name {env!r} is not valid")])
    path = Path(doc.file).resolve().parent / "environments" / f"{env}.yaml"
    if not path.is_file():
        raise ConfigError(
            [Problem(doc.file, 1, 1, f"environment {env!r}: {display_path(path)} does not exist")]
        )
    reason = endpoints.check_path(
        path,
        roots=(path.parent.parent,),
        allowance=allowance,
        what=f"environment {env!r}: the overlay",
    )
    if reason:
        raise ConfigError([Problem(display_path(path), 1, 1, reason)])
    over = load_file(path)
    if not isinstance(over.data, dict):
        raise ConfigError([problem_at(over.locate(), "an environment overlay must be a mapping")])
    problems = validate_document(over, "idpctl", label="environment overlay")
    problems = [p for p in problems if not p.message.startswith("missing required field")]
    if problems:
        raise ConfigError(problems)
    return Document(
        doc.file,
        doc.path,
        _merge(doc.data, over.data),
        {**doc.locations, **over.locations},
        {**doc.key_locations, **over.key_locations},
    )


def environment_names(config: Path) -> list[str]:
    """The environments of the idpctl.yaml at `config`: `environments/<name>.yaml` next to
    it, sorted (a fleet: one tenant each)."""
    folder = Path(config).resolve().parent / "environments"
    if not folder.is_dir():
        return []
    return sorted(
        p.stem for p in folder.glob("*.yaml") if p.is_file() and is_environment_name(p.stem)
    )


def substitute(
    data: Any, variables: Mapping[str, str], unresolved: Callable[[KeyPath, str], None]
) -> Any:
    """`data` with each `${var.NAME}` replaced by its variable; `unresolved(path, NAME)` is
    called for each one without a value (it is left as written)."""

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        for name in _VAR.findall(value):
            if name not in variables:
                unresolved(path, name)
        return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), value)

    return walk(data, ())
