"""`idpctl drift`: compare the tenant with the files and classify every difference.

Read-only: no lock is taken and nothing is written, neither the state nor Graph. Secrets are
not resolved (a drift job needs no secret value). Exit 0 clean (informational findings only),
2 drift, 1 error: a failed or throttled read is an error, never drift.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from idpctl import output
from idpctl.cli import options
from idpctl.cli.options import option
from idpctl.errors import GraphError
from idpctl.render.annotations import Annotator

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "read-only: how the tenant differs from the files (exit 2 on drift)"
EXAMPLES = (
    "idpctl drift --format markdown",
    "idpctl drift --all-envs --format json",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.output_format(p)
    option(
        p,
        "--ignore-unmanaged",
        action="store_true",
        example="--ignore-unmanaged",
        help="no finding for live providers that are not in the files",
    )
    options.github_annotations(p)
    options.fleet(p)


log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import pipeline
    from idpctl.reports import drift

    fmt = getattr(args, "format", "text")
    notes = Annotator(args, machine_output=fmt != "text")
    with notes.config_errors("idpctl drift"):
        desired = pipeline.load_desired(args, resolve_secrets=False)
    notes.problems(desired.warnings, title="idpctl drift")
    tenant = desired.settings.tenant
    state = pipeline.state_store(desired.settings).load()
    try:
        with pipeline.graph_session(desired.settings, debug=args.debug) as graph:
            live = pipeline.read_live(graph, desired.kinds)
            flows = _flows(graph, desired)
    except GraphError as error:
        report = drift.read_error(f"could not read the tenant: {error}", tenant=tenant)
        if fmt != "text":
            sys.stdout.write(_render(report, fmt))
        _publish(report, notes)
        print(
            f"Error: drift: could not read the tenant, no drift reported: {output.inline(error)}",
            file=sys.stderr,
        )
        return report.exit_code
    report = drift.findings(
        desired.providers,
        live,
        state,
        kinds=desired.kinds,
        tenant=tenant,
        ignore_unmanaged=args.ignore_unmanaged,
        extra=_governance(desired, state),
        now=datetime.now(UTC),
        flows=flows,
    )
    sys.stdout.write(_render(report, fmt))
    _publish(report, notes)
    return report.exit_code


def _flows(graph: Any, desired: Any) -> Any:
    """The user flows, read only when some provider sets `userFlows` (drift never deletes,
    so no other case needs them): a flow link removed in the portal is then drift."""
    from idpctl.graph.userflows import read
    from idpctl.plan import userflows

    if not userflows.wanted(desired.providers):
        return None
    return read(graph, desired.settings.tenant_kind)


def _render(report: Any, fmt: str) -> str:
    from idpctl.reports import drift_render

    return {"json": drift_render.json, "markdown": drift_render.markdown}.get(
        fmt, drift_render.text
    )(report)


def _publish(report: Any, notes: Annotator) -> None:
    """Annotations for each finding and the Markdown report in the job summary."""
    from idpctl.reports import drift, drift_render

    for finding in report.findings:
        level = (
            "notice"
            if finding.informational
            else "error"
            if finding.kind == drift.READ_ERROR
            else "warning"
        )
        where: dict[str, Any] = {}
        if finding.location is not None:
            where = {
                "file": finding.location.file,
                "line": finding.location.line,
                "col": finding.location.column,
            }
        subject = f"{finding.address}: " if finding.address else ""
        notes.emit(
            level,
            f"{finding.kind}: {subject}{finding.message}",
            title=f"idpctl drift: {finding.kind}",
            **where,
        )
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(output.document(drift_render.markdown(report)))


def _governance(desired: Any, state: Any) -> list[Any]:
    """Secret governance (docs/governance.md): `secret-expired` (past maxAge) counts as drift;
    `secret-warn` (past warnAt) is informational."""
    from idpctl.reports import drift

    try:
        from idpctl.config import governance, secretpolicy
    except ImportError:  # governance not built into this copy
        return []
    policy = secretpolicy.policy_from_settings(desired.settings)
    judged = governance.findings(
        desired.providers, state, now=datetime.now(UTC), default_policy=policy
    )
    where = {p.address: p.location for p in desired.providers}
    expired = governance.drift_findings(judged)
    warned = [f for f in judged if f.status is governance.Status.WARN]
    return [
        drift.Finding(
            f.code,
            f.address,
            f.message(address=False),
            location=where.get(f.address),
            informational=f.status is governance.Status.WARN,
        )
        for f in (*expired, *warned)
    ]
