"""`idpctl validate`: every problem in every file, one `file:line:col: message` line each.

Exit 0 when the files are valid (warnings allowed), 1 otherwise. Secrets are not resolved and
nothing is read from Graph. `--online` adds the discovery preflight when it is available
(`idpctl.preflight.discovery.check(providers, *, settings, kinds) -> list[Problem]`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from idpctl import output
from idpctl.cli import options
from idpctl.cli.options import option
from idpctl.errors import ConfigError, Problem
from idpctl.kinds import load_kinds
from idpctl.model import Provider
from idpctl.net.endpoints import Allowance
from idpctl.render.annotations import Annotator

__all__ = ["EXAMPLES", "HELP", "add_arguments", "check", "run"]

HELP = "check provider files against the schemas and semantic rules"
EXAMPLES = (
    "idpctl validate",
    "idpctl validate --all-envs --format markdown",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    option(
        p,
        "--online",
        action="store_true",
        help="also run the discovery preflight",
        example="--online",
    )
    options.github_annotations(p)
    options.fleet(p)
    options.output_format(
        p, help_text="the --all-envs report's format (validate alone prints text)"
    )


def check(
    config: str | None,
    *,
    env: str | None = None,
    online: bool = False,
    allow_endpoints: Sequence[str] = (),
    allow_paths: Sequence[str] = (),
    providers_root: Path | None = None,
    variables: Sequence[str] = (),
) -> tuple[list[Problem], list[Problem], tuple[Provider, ...], int]:
    """(errors, warnings, providers, number of provider files) for the configuration. A
    problem in `idpctl.yaml` does not hide the provider files' problems: they are read with
    what of the settings is valid (`lenient_settings`) and both are reported."""
    from idpctl.config.environments import parse_variables
    from idpctl.config.providers import load_providers, provider_files
    from idpctl.config.settings import resolve_settings

    allowance: Allowance | None = None
    try:
        allowance = Allowance.from_sources(endpoints=allow_endpoints, paths=allow_paths)
        settings = resolve_settings(
            config,
            env=env,
            allowance=allowance,
            providers_root=providers_root,
            variables=parse_variables(variables),
        )
    except ConfigError as error:
        problems = _problems(error)
        if allowance is not None:
            problems = _with_provider_problems(
                problems, config, env=env, allowance=allowance, providers_root=providers_root
            )
        return problems, [], (), 0
    kinds = load_kinds()
    warnings: list[Problem] = []
    files = 0
    try:
        files = len(provider_files(settings))
        providers = load_providers(settings, kinds, warnings=warnings)
    except ConfigError as error:
        return _problems(error), warnings, (), files
    errors: list[Problem] = []
    if online:
        preflight = importlib.import_module("idpctl.preflight.discovery")
        found = preflight.check(providers, settings=settings, kinds=kinds)
        errors = [p for p in found if p.severity == "error"]
        warnings += [p for p in found if p.severity != "error"]
    return errors, warnings, providers, files


def _with_provider_problems(
    problems: list[Problem],
    config: str | None,
    *,
    env: str | None,
    allowance: Allowance,
    providers_root: Path | None,
) -> list[Problem]:
    from idpctl.config.providers import load_providers
    from idpctl.config.settings import find_settings, lenient_settings

    path = Path(config) if config else None
    if path is None:
        try:
            path = find_settings(Path.cwd())
        except ConfigError:
            return problems
    settings = lenient_settings(path, env=env, allowance=allowance, providers_root=providers_root)
    if settings is None:
        return problems
    try:
        load_providers(settings, load_kinds())
    except ConfigError as error:
        return [*problems, *(p for p in _problems(error) if p not in problems)]
    return problems


def _problems(error: ConfigError) -> list[Problem]:
    return list(error.problems) or [Problem("idpctl", 0, 0, str(error))]


def _line(problem: Problem) -> str:
    if problem.line <= 0:
        return output.inline(problem.message)
    prefix = "warning: " if problem.severity == "warning" else ""
    return output.inline(
        f"{problem.file}:{problem.line}:{problem.column}: {prefix}{problem.message}"
    )


def report(errors: Sequence[Problem], warnings: Sequence[Problem]) -> None:
    for problem in [*warnings, *errors]:
        print(_line(problem))


def run(args: argparse.Namespace) -> int:
    from idpctl.cli.pipeline import providers_root

    errors, warnings, providers, files = check(
        getattr(args, "config", None),
        env=getattr(args, "env", None),
        online=getattr(args, "online", False),
        providers_root=providers_root(args),
        allow_endpoints=getattr(args, "allow_endpoint", None) or (),
        allow_paths=getattr(args, "allow_path", None) or (),
        variables=getattr(args, "var", None) or (),
    )
    report(errors, warnings)
    Annotator(args).problems([*warnings, *errors], title="idpctl validate")
    if errors:
        count = len(errors)
        print(f"validate: {count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return 1
    print(
        f"OK: {len(providers)} provider{'s' if len(providers) != 1 else ''} in {files} "
        f"file{'s' if files != 1 else ''}"
        + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else "")
    )
    return 0
