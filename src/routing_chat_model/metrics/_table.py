"""Plain-text rendering of a `RoutingMetrics.to_dict()` snapshot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_report", "render_table"]

_ROUTE_HEADERS = (
    "route", "calls", "selected", "fallbacks", "abstained", "restricted", "errors", "cost_usd",
    "cost?", "attempts", "failed", "call p50 ms", "call p95 ms",
)  # fmt: skip
_SELECTOR_HEADERS = (
    "selector", "calls", "abstained", "fallbacks", "restricted", "errors", "cost_usd",
    "decide p50 ms", "decide p95 ms",
)  # fmt: skip


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned first column, right-aligned others, a rule under the header."""
    cells = [[_cell(c) for c in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]] or ["(none)"]
    return "\n".join(out)


def format_report(snap: Mapping[str, Any]) -> str:
    """A totals line, the per-route and per-selector tables, then the non-empty breakdowns."""
    cost = f"${snap['cost_usd']:.6f}"
    if snap["cost_unknown"]:
        cost += f" (+{snap['cost_unknown']} calls of unknown cost)"
    route_rows = [
        [
            name,
            *(r[k] for k in ("calls", "selected", "fallbacks", "abstentions", "restricted")),
            r["errors"],
            _money(r["cost_usd"]),
            r["cost_unknown"],
            r["attempts"],
            r["failed_attempts"],
            _ms(r["attempt_latency_ms"]["p50"]),
            _ms(r["attempt_latency_ms"]["p95"]),
        ]
        for name, r in snap["routes"].items()
    ]
    selector_rows = [
        [
            name,
            *(s[k] for k in ("calls", "abstentions", "fallbacks", "restricted", "errors")),
            _money(s["cost_usd"]),
            _ms(s["decision_latency_ms"]["p50"]),
            _ms(s["decision_latency_ms"]["p95"]),
        ]
        for name, s in snap["selectors"].items()
    ]
    lines = [
        f"{snap['calls']} calls answered, {snap['errors']} failed; "
        f"{snap['fallbacks']} fallbacks, {snap['abstentions']} abstentions, "
        f"{snap['restricted']} restricted; cost {cost}",
        "",
        render_table(_ROUTE_HEADERS, route_rows),
        "",
        render_table(_SELECTOR_HEADERS, selector_rows),
    ]
    for title, counts in (
        ("failed attempts by kind", snap["failed_attempts_by_kind"]),
        ("restrictions by gate", snap["restrictions_by_gate"]),
        ("errors by type", snap["errors_by_type"]),
    ):
        if counts:
            lines.append(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines)


def _money(value: float) -> str:
    return f"{value:.6f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cell(value: object) -> str:
    """A cell on one line (a route or selector name could hold a newline)."""
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
