"""The Markdown rendering of a Plan, for a pull-request comment or a job summary.

A summary counts table, flags for deletes, replaces and secret rotations, then one folded
`<details>` section per provider holding a table of its field changes. Pure; secrets show as
`(sensitive)`, never by value.

Text from outside (names, values, messages, notes, warnings) is only ever shown inside a code
span (`span`), HTML-escaped inside `<code>` on one line (`html`), or, when it spans lines, in a
code fence it cannot close (`fenced`): no raw HTML, @mention, link, image or table cell break
from a pull request's files or a discovery document (docs/security.md, control 2).
"""

from __future__ import annotations

import re

from idpctl.model import Action, Change, FieldChange, Plan
from idpctl.output import inline
from idpctl.render.plans import change_notes, format_value, summary_line

__all__ = ["fenced", "html", "markdown", "span"]

_TITLES = {
    Action.CREATE: "Create",
    Action.UPDATE: "Update",
    Action.REPLACE: "Replace",
    Action.DELETE: "Delete",
    Action.ADOPT: "Adopt",
}
# GitHub refuses comments over 65,536 characters; leave room for a header a workflow adds
MAX_CHARS = 60_000
_BACKTICKS = re.compile("`+")
LIST_LIMIT = 200  # entries of the unchanged and unmanaged lists shown


def markdown(plan: Plan) -> str:
    head = _header(plan)
    sections = [_section(change) for change in plan.changes]
    tail = _tail(plan)
    out = "\n".join([*head, *sections, *tail])
    if len(out) <= MAX_CHARS:
        return out + "\n"
    note = [
        "_Field tables left out: the full plan is longer than a comment allows. "
        "Run `idpctl show PLANFILE` for every field._",
        "",
    ]
    budget = MAX_CHARS - len("\n".join([*head, *note, *tail])) - 200
    short: list[str] = []
    for i, change in enumerate(plan.changes):
        section = _section(change, folded_only=True)
        budget -= len(section) + 1
        if budget < 0:
            short.append(f"_... and {len(plan.changes) - i} more change(s) not shown._\n")
            break
        short.append(section)
    return "\n".join([*head, *note, *short, *tail]) + "\n"


def _header(plan: Plan) -> list[str]:
    title = "## idpctl plan" + (f" for {span(plan.tenant)}" if plan.tenant else "")
    lines = [title, "", f"**{summary_line(plan)}**", ""]
    if plan.changes:
        counts = plan.counts()
        lines += ["| Action | Count |", "|---|---:|"]
        lines += [f"| `{a.value}` {_TITLES[a]} | {counts[a.name.lower()]} |" for a in Action]
        lines += [
            f"| Unchanged | {len(plan.unchanged)} |",
            f"| Unmanaged (left alone) | {len(plan.unmanaged)} |",
            "",
        ]
    lines += _flags(plan)
    lines += _findings(plan)
    return lines


def _findings(plan: Plan) -> list[str]:
    """Preflight findings: a reviewer must see them even when the field tables are cut."""
    if not plan.findings:
        return []
    errors = sum(1 for f in plan.findings if f.severity == "error")
    lines = [
        "> [!CAUTION]" if errors else "> [!NOTE]",
        f"> **Preflight**: {errors} error(s), {len(plan.findings) - errors} warning(s)",
        "",
        "| Provider | Severity | Check | Finding |",
        "|---|---|---|---|",
    ]
    for f in plan.findings[:LIST_LIMIT]:
        mark = "❌ error" if f.severity == "error" else "⚠️ warning"
        lines.append(f"| {span(f.address)} | {mark} | {span(f.check)} | {_cell(f.message)} |")
    return [*lines, *_more(len(plan.findings)), ""]


def _flags(plan: Plan) -> list[str]:
    deletes = [c.address for c in plan.changes if c.action is Action.DELETE]
    replaces = [c.address for c in plan.changes if c.action is Action.REPLACE]
    rotations = [
        f"{span(c.address)} {span(f.name)} ({_cell(f.note or '')})"
        for c in plan.changes
        for f in c.fields
        if f.sensitive and f.note and f.note.startswith("rotate")
    ]
    flags = []
    if deletes:
        flags.append(f"**Deletes** (need `--allow-destroy`): {_list(deletes)}")
    if replaces:
        flags.append(
            f"**Replaces** (deleted, then created again; need `--allow-destroy`): {_list(replaces)}"
        )
    if rotations:
        flags.append(f"**Secret rotations**: {', '.join(rotations)}")
    if not flags:
        return []
    return ["> [!WARNING]", *(f"> - {flag}" for flag in flags), ""]


def _list(addresses: list[str]) -> str:
    return ", ".join(span(a) for a in addresses)


def _section(change: Change, *, folded_only: bool = False) -> str:
    flags = _change_flags(change)
    summary = (
        f"<code>{html(change.action.value)}</code> <b><code>{html(change.address)}"
        "</code></b>: "
        f"{_TITLES[change.action].lower()}{flags}"
    )
    lines = ["<details>", f"<summary>{summary}</summary>", ""]
    if change.graph_id:
        lines += [f"Graph id: {span(change.graph_id)}", ""]
    if change.api_version:
        lines += [f"Graph version: {span(change.api_version)}", ""]
    notes = change_notes(change)
    lines += [f"- {_cell(note)}" for note in notes]
    if notes:
        lines.append("")
    if change.fields and not folded_only:
        lines += ["| Field | Before | After | Note |", "|---|---|---|---|"]
        lines += [_row(field, change.action) for field in change.fields]
        lines.append("")
    lines += ["</details>", ""]
    return "\n".join(lines)


def _change_flags(change: Change) -> str:
    flags = []
    if change.action is Action.DELETE:
        flags.append("deletes a provider")
    if change.action is Action.REPLACE:
        flags.append("replaces a provider")
    if any(f.sensitive and f.note and f.note.startswith("rotate") for f in change.fields):
        flags.append("rotates a secret")
    if change.state_only:
        flags.append("state only")
    if change.desired is not None and change.desired.protected and change.action.destructive:
        flags.append("protected: refused")
    return "".join(f" ⚠️ {flag}" for flag in flags)


def _row(field: FieldChange, action: Action) -> str:
    if field.sensitive:
        before = "" if action is Action.CREATE else "(sensitive)"
        after = "(sensitive)"
    else:
        before = "" if action is Action.CREATE else format_value(field.before)
        after = format_value(field.after)
    note = field.note or ("state only" if field.state_only else "")
    return f"| {span(field.name)} | {_value_cell(before)} | {_value_cell(after)} | {_cell(note)} |"


def _value_cell(value: str) -> str:
    return span(value) if value else ""


def _tail(plan: Plan) -> list[str]:
    lines = []
    if plan.unchanged:
        lines += [
            f"<details><summary>Unchanged ({len(plan.unchanged)})</summary>",
            "",
            *(f"- {span(a)}" for a in plan.unchanged[:LIST_LIMIT]),
            *_more(len(plan.unchanged)),
            "",
            "</details>",
            "",
        ]
    if plan.unmanaged:
        lines += [
            f"<details><summary>Left alone, not managed by idpctl "
            f"({len(plan.unmanaged)})</summary>",
            "",
            "| Provider | Id | Reason |",
            "|---|---|---|",
        ]
        for item in plan.unmanaged[:LIST_LIMIT]:
            name = item.address or item.display_name or item.odata_type
            lines.append(f"| {span(name)} | {span(item.id)} | {_cell(item.reason)} |")
        lines += [*_more(len(plan.unmanaged)), "", "</details>", ""]
    if plan.warnings:
        lines += ["**Warnings**", "", *(f"- {_cell(w)}" for w in plan.warnings), ""]
    return lines


def _more(count: int) -> list[str]:
    return ["", f"_... and {count - LIST_LIMIT} more._"] if count > LIST_LIMIT else []


def _cell(value: str) -> str:
    """Free text from outside in a table cell or list item: a code span (nothing in it is
    markup); empty stays empty."""
    return span(value) if value else ""


def span(value: str) -> str:
    """`value` as one inline code span, whatever it holds: on one line, its delimiter longer
    than any backtick run inside, pipes escaped for tables (GFM unescapes them in cells)."""
    text = inline(value).replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(value: str) -> str:
    """Multi-line text from outside as a code block: its fence longer than any backtick run
    inside (at least three), so no line of it can close the block."""
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{value}\n{fence}"


def html(value: str) -> str:
    """Text inside an HTML element on one line: `&`, `<`, `>`, quotes and `@` escaped."""
    return (
        inline(value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("@", "&#64;")
    )
