"""The benchmark's one table (Markdown, so it pastes into the README) and the targets."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["render", "targets"]

HEADER = (
    "| work | N | latency | idpctl s | idpctl req | baseline s | baseline req | floor req "
    "| speed-up | fewer req | peak MB |"
)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or bottom == 0:
        return "-"
    return f"{top / bottom:.1f}x"


def _line(row) -> str:
    latency = "-" if row.latency_ms is None else f"{row.latency_ms} ms"
    return (
        f"| {row.work} | {_int(row.n) if row.n else '-'} | {latency} | {_num(row.seconds)} "
        f"| {_int(row.requests)} | {_num(row.base_seconds)} | {_int(row.base_requests)} "
        f"| {_int(row.floor)} | {_ratio(row.base_seconds, row.seconds)} "
        f"| {_ratio(row.base_requests, row.requests)} | {_num(row.peak_mb, 1)} |"
    )


def render(rows: Sequence, *, header: str = "") -> str:
    lines = [header, ""] if header else []
    lines += [HEADER, _rule()]
    lines += [_line(r) for r in rows]
    lines += ["", "Targets (ratios from this run):", ""]
    lines += [f"- {'PASS' if ok else 'FAIL'} {text}" for ok, text in targets(rows)]
    return "\n".join(lines)


def _rule() -> str:
    return "|" + "---|" * (HEADER.count("|") - 1)


def _find(rows: Sequence, work: str, n: int, latency: int | None):
    return next((r for r in rows if r.work == work and r.n == n and r.latency_ms == latency), None)


def targets(rows: Sequence) -> list[tuple[bool, str]]:
    """(met, description with the measured numbers) for each target the rows cover."""
    out: list[tuple[bool, str]] = []
    plan0, plan30 = _find(rows, "plan", 1000, 0), _find(rows, "plan", 1000, 30)
    if plan0 and plan30:
        extra, allowed = plan30.seconds - plan0.seconds, 1.5 * plan30.floor * 0.030
        out.append(
            (
                extra <= allowed,
                f"plan network cost at N=1,000: {extra:.3f} s at 30 ms "
                f"<= 1.5 x {plan30.floor} round trips x 30 ms "
                f"= {allowed:.3f} s",
            )
        )
    apply100 = _find(rows, "apply", 100, 0)
    if apply100:
        out.append(
            (
                apply100.requests <= 6,
                f"apply of 100 creates: {apply100.requests} Graph requests <= 6",
            )
        )
    for work in ("apply", "plan", "plan 1 change"):
        row = _find(rows, work, 1000, 30)
        if row:
            fewer = row.base_requests / row.requests
            faster = row.base_seconds / row.seconds
            out.append(
                (
                    fewer >= 10 and faster >= 10,
                    f"{work} at N=1,000, 30 ms: {fewer:.1f}x fewer requests and "
                    f"{faster:.1f}x faster than the baseline (both >= 10x)",
                )
            )
    for prefix, limit in (("idpctl --help", 6.0), ("validate", 3.0)):
        row = next(
            (
                r
                for r in rows
                if r.work.startswith(prefix) and (r.n in (0, 1000)) and r.base_seconds
            ),
            None,
        )
        if row:
            ratio = row.seconds / row.base_seconds
            out.append(
                (ratio <= limit, f"{row.work} at N={row.n or '-'}: {ratio:.1f}x <= {limit:g}x")
            )
    for work in ("plan, all adopted (memory)", "validate (memory)"):
        row = next((r for r in rows if r.work == work), None)
        if row:
            verb = work.split()[0].rstrip(",")
            out.append(
                (
                    row.peak_mb <= 150,
                    f"{verb} of {row.n:,} providers: peak {row.peak_mb:.0f} MB <= 150 MB",
                )
            )
    return out
