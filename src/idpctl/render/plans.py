"""Renderings of one Plan: Terraform-like text and the versioned JSON (Markdown for a pull
request is `render_markdown`, which builds on the helpers here).

Every renderer is pure and takes a Plan. Secret leaves are never formatted by value: they
show as `(sensitive)` (a `Secret`, or a placeholder read back from a plan file) and a masked
read-back as `(unknown)`. Text from outside (addresses, ids, notes, warnings, findings) is put on
its one line with `output.inline`; what the line may show is the output gate's business.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from typing import Any

from idpctl.model import UNKNOWN, Action, Change, FieldChange, Plan, Reason, Secret, SecretRef
from idpctl.output import inline, json_text
from idpctl.plan.planfile import SecretPlaceholder, to_data

__all__ = ["REASON_TEXT", "change_notes", "format_value", "json", "summary_line", "text"]

_COLORS = {
    Action.CREATE: "32",
    Action.UPDATE: "33",
    Action.REPLACE: "35",
    Action.DELETE: "31",
    Action.ADOPT: "36",
}
_VERBS = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.REPLACE: "replaced",
    Action.DELETE: "deleted",
    Action.ADOPT: "adopted",
}
# the English of a reason that says it all; the others are told by a note (which field
# forces a replace) or by their field's note (`rotate`, `state only: ...`)
REASON_TEXT = {
    Reason.CREATE_DELETED_OUTSIDE: "deleted outside idpctl; will be created again",
    Reason.CREATE_REPLACE_UNFINISHED: "deleted by a replace that did not finish; "
    "will be created again",
    Reason.ADOPT_SAME_KEY: "not yet managed: idpctl takes it over",
    Reason.DELETE_REMOVED_FROM_CONFIG: "removed from the configuration",
    Reason.DELETE_ENSURE_ABSENT: "ensure: absent",
    Reason.DELETE_ENSURE_ABSENT_UNMANAGED: "ensure: absent (not yet managed)",
    Reason.FORGET_DELETED_OUTSIDE: "already deleted outside idpctl; only forgotten in the state",
}


def format_value(value: Any) -> str:
    """One value on one line; strings quoted as JSON; secrets and masks never by value."""
    if isinstance(value, Secret | SecretRef | SecretPlaceholder):
        return "(sensitive)"
    if value is UNKNOWN:
        return "(unknown)"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{inline(str(k))}: {format_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return _json.dumps(value, ensure_ascii=False)


def change_notes(change: Change) -> list[str]:
    """The lines a rendering shows under a change: its reasons in English, then its notes."""
    return [REASON_TEXT[r] for r in change.reasons if r in REASON_TEXT] + list(change.notes)


def summary_line(plan: Plan) -> str:
    tail = f"{len(plan.unchanged)} unchanged, {len(plan.unmanaged)} unmanaged."
    if not plan.changes:
        return f"No changes. The tenant matches the configuration ({tail[:-1]})."
    counts = plan.counts()
    parts = [f"{counts[name]} to {name}" for name in (a.name.lower() for a in Action)]
    return f"Plan: {', '.join(parts)}; {tail}"


def json(plan: Plan) -> str:
    """The plan-file data (docs/plan-format.md) as indented JSON."""
    return json_text(to_data(plan))


def text(plan: Plan, *, color: bool = False) -> str:
    """Terraform-like text. ANSI colour only when `color` is set."""
    paint = _painter(color)
    lines: list[str] = []
    if plan.tenant:
        lines += [f"Tenant: {inline(plan.tenant)}", ""]
    if plan.changes:
        lines += ["idpctl will perform the following actions:", ""]
        for change in plan.changes:
            lines += _change_lines(change, paint)
            lines.append("")
    if plan.unmanaged:
        lines.append("Left alone (not managed by idpctl):")
        for item in plan.unmanaged:
            name = item.address or item.odata_type.rsplit(".", 1)[-1]
            label = f' "{item.display_name}"' if item.display_name and not item.address else ""
            lines.append(inline(f"  {name}{label} (id {item.id}): {item.reason}"))
        lines.append("")
    lines += _finding_lines(plan, paint)
    for warning in plan.warnings:
        lines.append(paint("33", f"Warning: {inline(warning)}"))
    if plan.warnings:
        lines.append("")
    lines.append(paint("1", summary_line(plan)))
    return "\n".join(lines) + "\n"


def _finding_lines(plan: Plan, paint: Any) -> list[str]:
    """The preflight findings, grouped by provider (docs/preflight.md)."""
    if not plan.findings:
        return []
    lines = ["Preflight findings:"]
    for address in dict.fromkeys(f.address for f in plan.findings):
        lines.append(f"  {inline(address)}:")
        for f in (f for f in plan.findings if f.address == address):
            code = "31" if f.severity == "error" else "33"
            lines.append("    " + paint(code, f.severity) + inline(f" [{f.check}] {f.message}"))
    return [*lines, ""]


def _painter(color: bool) -> Any:
    def paint(code: str, value: str) -> str:
        return f"\x1b[{code}m{value}\x1b[0m" if color else value

    return paint


def _headline(change: Change) -> str:
    what = {
        Action.CREATE: "will be created",
        Action.UPDATE: "will be updated in place",
        Action.REPLACE: "must be replaced (delete, then create)",
        Action.DELETE: "will be deleted",
        Action.ADOPT: "will be adopted (taken over as it is, then updated)",
    }[change.action]
    if change.action is Action.DELETE and change.graph_id is None:
        what = "is already gone from Graph; will be forgotten in the state"
    if change.state_only:
        what = (
            "will be adopted (recorded in the state only)"
            if change.action is Action.ADOPT
            else "changes in the state only (nothing is sent to Graph)"
        )
    ident = f" [id {change.graph_id}]" if change.graph_id else ""
    via = f" (Graph {change.api_version})" if change.api_version else ""
    return inline(f"{change.address}{ident} {what}{via}")


def _change_lines(change: Change, paint: Any) -> list[str]:
    symbol = change.action.value
    lines = [paint(_COLORS[change.action], f"  {symbol:>3} ") + _headline(change)]
    lines += [f"        # {inline(note)}" for note in change_notes(change)]
    if change.desired is not None and change.desired.protected and change.action.destructive:
        lines.append(paint("31", "        # protected: refused without removing protection"))
    for field in change.fields:
        lines += _field_lines(field, change.action, paint)
    return lines


def _field_lines(field: FieldChange, action: Action, paint: Any) -> list[str]:
    pad = " " * 8
    name = inline(field.name)  # a plan file's field names are outside text too
    note = f"  # {inline(field.note)}" if field.note else ""
    if field.state_only:
        body = f"{name}: {format_value(field.before)} -> {format_value(field.after)}"
        return [pad + paint("33", "~ ") + body + note]
    if field.sensitive:
        sign = "+" if action is Action.CREATE else "~"
        return [pad + paint(_COLORS[Action.UPDATE], f"{sign} ") + f"{name}: (sensitive)" + note]
    if action is Action.CREATE or (field.before is None and field.after is not None):
        return [pad + paint("32", "+ ") + f"{name}: {format_value(field.after)}" + note]
    if isinstance(field.before, Mapping) and isinstance(field.after, Mapping):
        return [
            pad + paint("33", "~ ") + f"{name}:" + note,
            *_member_lines(field.before, field.after, pad + "    ", paint),
        ]
    return [
        pad + paint("33", "~ ") + f"{name}: {format_value(field.before)} -> "
        f"{format_value(field.after)}" + note
    ]


def _member_lines(
    before: Mapping[str, Any], after: Mapping[str, Any], pad: str, paint: Any
) -> list[str]:
    """Member-level lines of a complex value; members the user left out are removed."""
    lines = []
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        if key == "@odata.type" and (old is None or new is None):
            continue  # only one side names the type: not a difference
        if old is None and new is not None:
            lines.append(pad + paint("32", "+ ") + f"{key}: {format_value(new)}")
        elif new is None:
            if old is not None and old is not UNKNOWN:
                lines.append(
                    pad + paint("31", "- ") + f"{key}: {format_value(old)}"
                    "  # not in the configuration: removed"
                )
        elif isinstance(old, Mapping) and isinstance(new, Mapping):
            inner = _member_lines(old, new, pad + "    ", paint)
            if inner:
                lines += [pad + paint("33", "~ ") + f"{key}:", *inner]
        elif not _same(old, new):
            lines.append(
                pad + paint("33", "~ ") + f"{key}: {format_value(old)} -> {format_value(new)}"
            )
    return lines


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, Secret | SecretRef | SecretPlaceholder) or old is UNKNOWN:
        return True
    if isinstance(old, str) and isinstance(new, str) and old.startswith("#"):
        return old.lstrip("#").casefold() == new.lstrip("#").casefold()
    return bool(old == new)
