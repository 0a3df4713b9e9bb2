"""A fleet: every environment of idpctl.yaml (one tenant each) through `plan`, `drift` or
`validate` with `--all-envs`.

Each environment runs as its own idpctl process (`--env NAME --format json`), so each has its
own state, lock, credentials and Graph rate budget, and nothing one tenant does (an error, a
throttled tenant, a crash) reaches another; `--parallel N` bounds how many run at once. The
report has a section per tenant and a summary table; the exit code is 1 when any tenant
errored, else 2 when any has changes or drift, else 0 (docs/fleets.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl.config import settings as config
from idpctl.config.document import display_path
from idpctl.config.environments import environment_names
from idpctl.errors import ConfigError, Problem
from idpctl.render.markdown import fenced, html, span

__all__ = ["TenantResult", "environments", "exit_code", "markdown", "run", "text"]

COUNTED = ("create", "update", "replace", "delete")
# options of the fleet run itself, not passed to each environment's run (with their values)
_OWN_WITH_VALUE = {"--parallel", "--format", "--out", "-out", "--env"}
_OWN_FLAGS = {"--all-envs"}


@dataclass
class TenantResult:
    env: str
    tenant: str = ""
    code: int = 0
    error: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    drift: int | None = None
    section: str = ""  # the environment's own report, in the requested format
    document: Any = None  # the environment's JSON document (plan or drift), when it has one

    @property
    def changed(self) -> bool:
        return any(self.counts.get(k) for k in COUNTED) or bool(self.drift)


def environments(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The idpctl.yaml this run uses and its environments; ConfigError when there are none."""
    path = Path(args.config) if getattr(args, "config", None) else config.find_settings(Path.cwd())
    names = environment_names(path)
    if not names:
        raise ConfigError(
            [
                Problem(
                    display_path(path),
                    1,
                    1,
                    "--all-envs: no environments/<name>.yaml next to this file",
                )
            ]
        )
    return path, names


def run(args: argparse.Namespace, verb: str) -> int:
    if getattr(args, "env", None) and getattr(args, "explicit_env", False):
        raise ConfigError([Problem("idpctl", 0, 0, "--all-envs and --env: choose one")])
    _path, names = environments(args)
    out = getattr(args, "out", None)
    if out and "{env}" not in out:
        raise ConfigError(
            [
                Problem(
                    "idpctl",
                    0,
                    0,
                    "--out with --all-envs needs {env} in the "
                    "file name, e.g. --out plan-{env}.json",
                )
            ]
        )
    fmt = getattr(args, "format", "text") or "text"
    shared = shared_state(args, _path, names) if verb != "validate" else {}
    runner = _runner(args, verb, fmt)

    def one(name: str) -> _Done:
        if name in shared:
            return _Done(TenantResult(env=name, code=1, error=shared[name]))
        return runner(name)

    results = run_all(names, one, parallel=max(1, getattr(args, "parallel", 4) or 1))
    for result in results:
        if result.stderr_annotations:
            sys.stderr.write(result.stderr_annotations)
    renderer = {"json": to_json, "markdown": markdown}.get(fmt, text)
    sys.stdout.write(renderer(verb, [r.result for r in results]))
    return exit_code([r.result for r in results])


def shared_state(args: argparse.Namespace, path: Path, names: Sequence[str]) -> dict[str, str]:
    """{name: error} for environments whose state is another's (the base's `state:` left in
    two overlays): two tenants in one state would each see the other's providers as theirs.
    An environment whose settings do not load is left to its own run to report."""
    from idpctl.cli import pipeline
    from idpctl.errors import IdpctlError

    groups: dict[str, list[str]] = {}
    for name in names:
        try:
            settings = config.load_settings(
                path,
                env=name,
                allowance=pipeline.allowance(args),
                providers_root=pipeline.providers_root(args),
            )
        except IdpctlError:
            continue
        groups.setdefault(state_identity(settings.state), []).append(name)
    return {
        name: f"shares its state with {', '.join(n for n in group if n != name)}: give "
        f"environments/{name}.yaml its own state:"
        for group in groups.values()
        if len(group) > 1
        for name in group
    }


def state_identity(state: Mapping[str, Any]) -> str:
    """One spelling of the state a `state:` block names: a local file with its symlinks
    resolved, a blob with its account host in lower case; else the block as written."""
    spec = dict(state)
    backend = spec.get("backend", "local")
    if backend == "local" and spec.get("path"):
        return json.dumps(["local", str(Path(str(spec["path"])).resolve())])
    if backend == "azureblob" and spec.get("url"):
        parts = urllib.parse.urlsplit(str(spec["url"]))
        account = f"{parts.hostname or ''}{parts.path.rstrip('/')}"  # hostname is lower case
        return json.dumps(["azureblob", account, str(spec.get("container")), str(spec.get("blob"))])
    return json.dumps(spec, sort_keys=True, default=str)


@dataclass
class _Done:
    result: TenantResult
    stderr_annotations: str = ""


def run_all(names: Sequence[str], one: Callable[[str], _Done], *, parallel: int) -> list[_Done]:
    """`one(name)` for every name, at most `parallel` at once, in the order of `names`; an
    exception in one becomes that tenant's error and never stops the others."""

    def guarded(name: str) -> _Done:
        try:
            return one(name)
        except Exception as error:  # one tenant's failure is that tenant's row
            return _Done(TenantResult(env=name, code=1, error=f"{type(error).__name__}: {error}"))

    with ThreadPoolExecutor(max_workers=min(parallel, len(names))) as pool:
        return list(pool.map(guarded, names))


def exit_code(results: Sequence[TenantResult]) -> int:
    if any(r.error or r.code not in (0, 2) for r in results):
        return 1
    return 2 if any(r.changed or r.code == 2 for r in results) else 0


def child_argv(argv: Sequence[str], verb: str, env: str, out: str | None) -> list[str]:
    """The environment's own command line: the fleet's, without the fleet's options, with
    `--env NAME`, JSON output (plan, drift) and the plan file named for the environment."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _OWN_FLAGS:
            continue
        if name in _OWN_WITH_VALUE:
            skip = "=" not in arg
            continue
        kept.append(arg)
    extra = ["--env", env]
    if verb in ("plan", "drift"):
        extra += ["--format", "json"]
    if out:
        extra += ["--out", out.replace("{env}", env)]
    position = kept.index(verb) + 1 if verb in kept else len(kept)
    return [*kept[:position], *extra, *kept[position:]]


def _runner(args: argparse.Namespace, verb: str, fmt: str) -> Callable[[str], _Done]:
    argv = list(getattr(args, "argv", None) or [verb])
    out = getattr(args, "out", None)
    environ = {
        k: v for k, v in os.environ.items() if k not in ("IDPCTL_ENV", "GITHUB_STEP_SUMMARY")
    }

    def one(name: str) -> _Done:
        proc = subprocess.run(
            # -P: the working directory (a pull request's checkout) is not put on sys.path, so
            # an `idpctl/` or `yaml.py` committed there is never imported (docs/security.md)
            [sys.executable, "-P", "-m", "idpctl", *child_argv(argv, verb, name, out)],
            capture_output=True,
            text=True,
            env=environ,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        saved = out.replace("{env}", name) if out and verb == "plan" else None
        return _Done(
            _result(name, verb, fmt, proc, saved),
            "".join(line + "\n" for line in proc.stderr.splitlines() if line.startswith("::")),
        )

    return one


def _result(
    name: str, verb: str, fmt: str, proc: subprocess.CompletedProcess[str], saved: str | None = None
) -> TenantResult:
    """What one environment's run said. With `--out` the plan is the file the child wrote,
    read as `idpctl show` reads it: the child's stdout says "Saved the plan to FILE" only once
    this run wrote it, so a file left by an earlier run is never taken. A plan that exits 1
    after its plan (a preflight that stops it) keeps both its plan and its error."""
    result = TenantResult(env=name, code=proc.returncode)
    errors = [
        line[len("Error: ") :] for line in proc.stderr.splitlines() if line.startswith("Error: ")
    ]
    if proc.returncode not in (0, 2):
        lines = [
            line
            for line in (proc.stdout + proc.stderr).splitlines()
            if line and not line.startswith("::")
        ]
        result.error = (errors or lines or [f"exit {proc.returncode}"])[0]
    if verb == "validate":
        result.section = "".join(
            line + "\n" for line in proc.stdout.splitlines() if not line.startswith("::")
        )
        return result
    wrote = saved is not None and f"Saved the plan to {saved}:" in proc.stdout
    document = _saved_plan(Path(saved)) if wrote and saved else _stdout_document(proc.stdout)
    if isinstance(document, dict):
        result.document = document
        result.tenant = str(document.get("tenant") or "")
        _read(result, verb, fmt, document)
    return result


def _stdout_document(stdout: str) -> Any:
    """The JSON document the child printed first (a line may follow it)."""
    try:
        return json.JSONDecoder().raw_decode(stdout.lstrip())[0] if stdout.strip() else None
    except ValueError:
        return None


def _saved_plan(path: Path) -> dict[str, Any]:
    from idpctl.cli import common
    from idpctl.plan import planfile

    return planfile.to_data(common.load_planfile(path).plan)


def _read(result: TenantResult, verb: str, fmt: str, document: dict[str, Any]) -> None:
    if verb == "plan":
        from idpctl.cli import common
        from idpctl.plan import planfile

        summary = document.get("summary") or {}
        result.counts = {k: int(summary.get(k, 0)) for k in COUNTED}
        if fmt != "json":
            result.section = common.render(
                planfile.from_data(document), fmt, color=common.use_color()
            )
    else:
        from idpctl.reports import drift, drift_render

        report = drift_render.from_data(document)
        result.drift = len(report.drifted)
        if report.error and not result.error:
            result.error = next(f.message for f in report.findings if f.kind == drift.READ_ERROR)
        if fmt != "json":
            result.section = (drift_render.markdown if fmt == "markdown" else drift_render.text)(
                report
            )


# --- the report --------------------------------------------------------------------------


def _row(r: TenantResult) -> list[str]:
    counts = [str(r.counts[k]) if r.counts else "-" for k in COUNTED]
    drift = "-" if r.drift is None else str(r.drift)
    return [r.env, r.tenant or "-", *counts, drift, r.error or ""]


HEADER = ["env", "tenant", *COUNTED, "drift", "error"]


def text(verb: str, results: Sequence[TenantResult]) -> str:
    parts = []
    for r in results:
        parts.append(f"=== {r.env}" + (f" ({r.tenant})" if r.tenant else "") + " ===\n")
        parts.append(r.section)
        if r.error and (not r.section or verb == "plan"):  # a plan stopped after it was made
            parts.append(f"Error: {r.error}\n")
        parts.append("\n")
    rows = [HEADER, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    table = "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    return "".join(parts) + f"idpctl {verb} --all-envs: {_verdict(results)}\n{table}\n"


def _verdict(results: Sequence[TenantResult]) -> str:
    failed = sum(1 for r in results if r.error or r.code not in (0, 2))
    changed = sum(1 for r in results if r.changed or r.code == 2)
    return (
        f"{len(results)} environment{'s' if len(results) != 1 else ''}, "
        f"{failed} failed, {changed} with changes or drift"
    )


def markdown(verb: str, results: Sequence[TenantResult]) -> str:
    lines = [
        f"## idpctl {verb}: {len(results)} environments",
        "",
        _verdict(results),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += [_md_row(r) for r in results]
    lines.append("")
    for r in results:
        lines += [
            f"<details><summary><code>{html(r.env)}</code></summary>",
            "",
            _md_section(verb, r),
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def _md_row(r: TenantResult) -> str:
    """A table row: what a tenant, its files or Graph said only ever in a code span; the
    counts are idpctl's own."""
    cells = _row(r)
    for i in (0, 1, len(cells) - 1):
        cells[i] = span(cells[i]) if cells[i] not in ("", "-") else cells[i]
    return "| " + " | ".join(cells) + " |"


def _md_section(verb: str, r: TenantResult) -> str:
    """plan's and drift's sections are their own inert Markdown; validate's is the child's
    plain text, fenced, as is an error (after the plan, when a plan was stopped after it was
    made)."""
    if r.section and verb != "validate":
        error = f"\n\n{fenced('Error: ' + r.error)}" if r.error and verb == "plan" else ""
        return r.section.rstrip("\n") + error
    text = r.section.rstrip("\n") or r.error
    return fenced(text) if text else ""


def to_json(verb: str, results: Sequence[TenantResult]) -> str:
    data = {
        "format_version": 1,
        "verb": verb,
        "exit_code": exit_code(results),
        "summary": [dict(zip(HEADER, _row(r), strict=True)) for r in results],
        "environments": {
            r.env: {
                "tenant": r.tenant or None,
                "exit_code": r.code,
                "error": r.error or None,
                **({"counts": r.counts} if r.counts else {}),
                **({"drift": r.drift} if r.drift is not None else {}),
                verb: r.document,
            }
            for r in results
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
