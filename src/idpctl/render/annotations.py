"""GitHub Actions annotations: `::error file=F,line=L,col=C::message` workflow commands, so a
problem shows on the pull request's line.

On with `--annotations github`, or by default when `GITHUB_ACTIONS=true`; `--annotations none`
turns them off. They go to stdout, except when stdout carries a machine-readable document
(`--format json|markdown`, often captured to a file): then to stderr, which the runner reads
just the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from idpctl import output, redact
from idpctl.errors import ConfigError, Problem

__all__ = ["Annotator", "annotation", "enabled"]

LEVELS = ("error", "warning", "notice")


def enabled(args: argparse.Namespace, env: Any = None) -> bool:
    choice = getattr(args, "annotations", None)
    if choice is not None:
        return choice == "github"
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    escaped = redact.scrub(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return output.inline(escaped)


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _relative(file: str) -> str:
    """The file's path as the runner wants it: relative to the workspace root
    (GITHUB_WORKSPACE), also when idpctl runs in a subfolder (the action's
    working-directory) and the path it knows is relative to that subfolder."""
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    for base in (os.environ.get("GITHUB_WORKSPACE"), str(Path.cwd())):
        if base:
            try:
                return absolute.relative_to(base).as_posix()
            except ValueError:
                continue
    return path.as_posix()


def annotation(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    """One workflow command line, properties and message escaped as the runner expects."""
    if level not in LEVELS:
        raise ValueError(f"annotation level {level!r}")
    props = []
    if file:
        props.append(f"file={_property(_relative(file))}")
        if line and line > 0:
            props.append(f"line={line}")
            if col and col > 0:
                props.append(f"col={col}")
    if title:
        props.append(f"title={_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{_data(message)}"


class Annotator:
    """Collects nothing: writes each annotation as it comes, when enabled."""

    def __init__(self, args: argparse.Namespace, *, machine_output: bool = False) -> None:
        self.on = enabled(args)
        self.stream: TextIO = sys.stderr if machine_output else sys.stdout

    def emit(self, level: str, message: str, **where: Any) -> None:
        if not self.on:
            return
        line = annotation(level, message, **where)
        command = getattr(self.stream, "command", None)
        if command is not None:
            command(line)  # the output gate: the one way to write a line starting with `::`
        else:
            print(line, file=self.stream, flush=True)

    def problem(self, problem: Problem, *, title: str = "idpctl") -> None:
        level = "warning" if problem.severity == "warning" else "error"
        located = problem.line > 0
        self.emit(
            level,
            problem.message,
            file=problem.file if located else None,
            line=problem.line,
            col=problem.column,
            title=title,
        )

    def problems(self, problems: Any, *, title: str = "idpctl") -> None:
        for problem in problems:
            if isinstance(problem, Problem):
                self.problem(problem, title=title)
            else:
                self.emit("warning", str(problem), title=title)

    def plan(self, plan: Any, providers: Any) -> None:
        """Preflight findings, warnings and each change, at the provider's file and line."""
        if not self.on:
            return
        where = {p.address: p.location for p in providers if p.location is not None}

        def at(address: str | None) -> dict[str, Any]:
            loc = where.get(address or "")
            return {"file": loc.file, "line": loc.line, "col": loc.column} if loc else {}

        for finding in getattr(plan, "findings", ()):
            level = "error" if finding.severity == "error" else "warning"
            self.emit(
                level,
                f"{finding.address}: {finding.check}: {finding.message}",
                title="idpctl preflight",
                **at(finding.address),
            )
        for warning in plan.warnings:
            self.emit("warning", str(warning), title="idpctl plan")
        for change in plan.changes:
            level = "warning" if change.action.destructive else "notice"
            verb = change.action.name.lower()
            self.emit(
                level,
                f"{change.address} will be {verb}d"
                if verb != "adopt"
                else f"{change.address} will be adopted",
                title=f"idpctl plan: {verb}",
                **at(change.address),
            )

    def config_errors(self, title: str) -> _Guard:
        """A context manager: a ConfigError raised inside is annotated, then re-raised."""
        return _Guard(self, title)


class _Guard:
    def __init__(self, annotator: Annotator, title: str) -> None:
        self.annotator, self.title = annotator, title

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        """Annotate a ConfigError's problems; the error itself goes on (never swallowed)."""
        if isinstance(error, ConfigError):
            self.annotator.problems(error.problems or (), title=self.title)
