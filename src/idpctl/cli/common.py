"""Helpers the verbs share: rendering choice, plan files, warnings, the GitHub step summary."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from idpctl import output
from idpctl.errors import PlanError
from idpctl.fileio import write_atomic
from idpctl.model import Plan

__all__ = [
    "SavedPlan",
    "append_step_summary",
    "load_planfile",
    "preflight_stops",
    "print_warnings",
    "progress",
    "render",
    "save_planfile",
    "silence_stdout",
    "use_color",
]

PLANFILE_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    targets: tuple[str, ...] = ()
    rotate: tuple[str, ...] = ()


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    from idpctl.render import markdown as render_markdown
    from idpctl.render import plans as renderers

    if fmt == "json":
        text = renderers.json(plan)
    elif fmt == "markdown":
        text = render_markdown.markdown(plan)
    else:
        text = renderers.text(plan, color=color)
    return text if text.endswith("\n") else text + "\n"


def progress(line: str) -> None:
    """Print one apply progress line. A closed stdout (`idpctl apply ... | head`) never stops
    an apply half-way: the writes go on and the state is saved; only the printing stops."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null after its reader left, so no later print or the
    interpreter's final flush fails again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # in-process runs: stdout is not a real file
        pass


def print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"Warning: {output.inline(warning)}", file=sys.stderr)


def save_planfile(path: Path, plan: Plan, *, targets: Sequence[str], rotate: Sequence[str]) -> None:
    from idpctl.plan import build as planner

    data = planner.to_data(plan)
    data["options"] = {"targets": list(targets), "rotate": list(rotate)}
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_planfile(path: Path) -> SavedPlan:
    from idpctl.plan import build as planner

    try:
        if path.stat().st_size > PLANFILE_MAX_BYTES:
            raise PlanError(f"{path}: not a plan file (larger than 512 MiB)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except RecursionError:
        raise PlanError(f"{path}: not a plan file (nested too deeply)") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path}: not a plan file (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise PlanError(
            f"{path}:{error.lineno}:{error.colno}: not a plan file (invalid JSON: {error.msg})"
        ) from None
    if not isinstance(data, dict):
        raise PlanError(f"{path}: not a plan file (expected a JSON object)")
    options = data.pop("options", None)
    options = {} if options is None else options
    if not isinstance(options, dict) or not all(
        isinstance(options.get(name, []), list)
        and all(isinstance(a, str) for a in options.get(name, []))
        for name in ("targets", "rotate")
    ):
        raise PlanError(
            f"{path}: not a plan file (options must be an object whose targets "
            "and rotate are lists of addresses)"
        )
    try:
        plan = planner.from_data(data)
    except PlanError as error:
        raise PlanError(f"{path}: {error}") from None
    return SavedPlan(plan, tuple(options.get("targets") or ()), tuple(options.get("rotate") or ()))


def append_step_summary(plan: Plan) -> None:
    """Append the Markdown plan to the GitHub Actions job summary when there is one."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(output.document(render(plan, "markdown")))


def preflight_stops(plan: Plan, args: object) -> bool:
    """True (after saying why on stderr) when the plan's preflight findings stop this run:
    errors, and warnings too with --strict-preflight; never with --skip-preflight."""
    from idpctl.preflight.checks import blocking

    stop = blocking(plan.findings, strict=bool(getattr(args, "strict_preflight", False)))
    if not stop or getattr(args, "skip_preflight", False):
        return False
    first = stop[0]
    more = f" and {len(stop) - 1} more" if len(stop) > 1 else ""
    print(
        f"Error: preflight: {output.inline(first.address)}: {output.inline(first.message)}"
        f"{more}; fix the configuration "
        "or the identity provider, or pass --skip-preflight",
        file=sys.stderr,
    )
    return True
