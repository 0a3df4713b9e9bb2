"""The drift report written out: its versioned JSON document and its text, Markdown and JSON.

    drift_render.text(report) / .markdown(report) / .json(report)
    drift_render.to_data(report) -> dict     # format_version FORMAT_VERSION
    drift_render.from_data(document) -> Report   # one environment's, in a fleet run

Pure. The report and its findings are `reports.drift`'s; secrets and masks are never
written by value.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from typing import Any

from idpctl.model import Location, Secret, SecretRef
from idpctl.output import inline, json_text
from idpctl.render.markdown import span
from idpctl.reports.drift import (
    CHANGED,
    FLOW_LINK,
    KIND_RANK,
    MISSING,
    READ_ERROR,
    SECRET_UNVERIFIABLE,
    UNMANAGED,
    FieldDrift,
    Finding,
    Report,
)

__all__ = [
    "FORMAT_VERSION",
    "from_data",
    "json",
    "markdown",
    "summary_line",
    "text",
    "to_data",
]

FORMAT_VERSION = 1


def to_data(report: Report) -> dict[str, Any]:
    """The versioned JSON document (`format_version`)."""
    return {
        "format_version": FORMAT_VERSION,
        "tenant": report.tenant,
        "status": report.status,
        "exit_code": report.exit_code,
        "checked": report.checked,
        "summary": _counts(report),
        "findings": [_finding_data(f) for f in report.findings],
    }


def from_data(data: dict[str, Any]) -> Report:
    """A Report from its JSON document (to_data), e.g. one environment's in a fleet run."""

    def finding(item: dict[str, Any]) -> Finding:
        loc = item.get("location")
        return Finding(
            kind=str(item["kind"]),
            address=item.get("address"),
            message=str(item["message"]),
            fields=tuple(
                FieldDrift(str(f["name"]), f.get("desired"), f.get("live"), f.get("note"))
                for f in item.get("fields", ())
            ),
            location=Location(str(loc["file"]), int(loc["line"]), int(loc.get("column", 1)))
            if isinstance(loc, dict)
            else None,
            graph_id=item.get("graph_id"),
            informational=bool(item.get("informational")),
        )

    return Report(
        findings=tuple(finding(f) for f in data.get("findings", ())),
        tenant=data.get("tenant"),
        checked=int(data.get("checked", 0)),
    )


def _counts(report: Report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return dict(sorted(counts.items()))


def _finding_data(finding: Finding) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": finding.kind,
        "address": finding.address,
        "message": finding.message,
        "informational": finding.informational,
    }
    if finding.graph_id:
        data["graph_id"] = finding.graph_id
    if finding.location is not None:
        data["location"] = {
            "file": finding.location.file,
            "line": finding.location.line,
            "column": finding.location.column,
        }
    if finding.fields:
        data["fields"] = [
            {
                "name": d.name,
                "desired": _plain(d.desired),
                "live": _plain(d.live),
                **({"note": d.note} if d.note else {}),
            }
            for d in finding.fields
        ]
    return data


def _plain(value: Any) -> Any:
    """JSON-safe: secrets and masks never by value."""
    try:
        _json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, Mapping):
            return {str(k): _plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [_plain(v) for v in value]
        return str(value) if not isinstance(value, Secret | SecretRef) else "(sensitive)"


# -- renderings -----------------------------------------------------------------------------

_TITLES = {
    CHANGED: "Changed",
    FLOW_LINK: "User-flow links",
    MISSING: "Missing",
    UNMANAGED: "Unmanaged",
    SECRET_UNVERIFIABLE: "Secrets Graph cannot show",
    READ_ERROR: "Read errors",
}


def _value(value: Any) -> str:
    from idpctl.render.plans import format_value

    return format_value(value)


def summary_line(report: Report) -> str:
    if report.error:
        return "Drift check failed: the tenant could not be read (no drift reported)."
    drifted = report.drifted
    info = len(report.findings) - len(drifted)
    tail = f" ({info} informational)" if info else ""
    if not drifted:
        return f"No drift: the tenant matches the files ({report.checked} checked){tail}."
    counts = _counts(Report(drifted))
    parts = ", ".join(f"{n} {k}" for k, n in counts.items())
    return f"Drift: {len(drifted)} finding(s): {parts}{tail}."


def text(report: Report) -> str:
    lines = [f"Tenant: {report.tenant}", ""] if report.tenant else []
    for finding in report.findings:
        where = f" [{finding.location}]" if finding.location else ""
        lines.append(inline(f"{finding.kind}: {finding.address or '-'}: {finding.message}{where}"))
        for d in finding.fields:
            note = f"  # {d.note}" if d.note else ""
            lines.append(
                inline(f"    {d.name}: files {_value(d.desired)}, tenant {_value(d.live)}{note}")
            )
    if report.findings:
        lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def markdown(report: Report) -> str:
    """For a job summary or the drift issue a scheduled workflow opens."""
    icon = {"clean": "✅", "drift": "⚠️", "error": "❌"}[report.status]
    lines = [
        f"## {icon} idpctl drift" + (f": {span(report.tenant)}" if report.tenant else ""),
        "",
        summary_line(report),
        "",
    ]
    for kind in sorted({f.kind for f in report.findings}, key=lambda k: KIND_RANK.get(k, 5)):
        lines += [f"### {_TITLES.get(kind, kind)}", ""]
        for finding in (f for f in report.findings if f.kind == kind):
            where = f" ({span(str(finding.location))})" if finding.location else ""
            lines.append(f"- {span(finding.address or '-')}: {span(finding.message)}{where}")
            for d in finding.fields:
                lines.append(
                    f"  - {span(d.name)}: files {span(_value(d.desired))}, "
                    f"tenant {span(_value(d.live))}"
                )
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def json(report: Report) -> str:
    return json_text(to_data(report))
