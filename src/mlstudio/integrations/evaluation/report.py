"""An evaluation report as Markdown and as a self-contained HTML page (an inline SVG forest plot
of each Δ with its CI, and per-slice deltas): what ``eval compare --report`` writes and what
the evaluation's tracking run keeps as artifacts."""

from __future__ import annotations

import html
from typing import Any


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _p(value: Any) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _ci(ci: Any) -> str:
    if not ci:
        return "-"
    return f"[{_num(ci['low'])}, {_num(ci['high'])}]"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (the terminal table's content, plus slices and notes)."""
    out = [
        f"# Evaluation {report['id']} — {report['dataset']}",
        "",
        f"{report['n_items']} items, label `{report['label']}` ({report['task']}), domain "
        f"{report['domain']}; baseline **{report['baseline']}**; {report['confidence']:.0%} "
        f"intervals from a paired bootstrap (BCa, {report['resamples']} resamples) unless the "
        f"test column says otherwise; margin {report['margin']}.",
        "",
        "| metric | candidate | n | baseline mean | candidate mean | Δ | Δ CI | p | test | verdict "
        "| MDE | n for margin/Δ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["comparisons"]:
        out.append(
            f"| {c['metric']} | {c['candidate']} | {c['n']} | {_num(c['a']['mean'])} "
            f"{_ci(c['a']['ci'])} | {_num(c['b']['mean'])} {_ci(c['b']['ci'])} | "
            f"{_num(c['delta'])} | {_ci(c['delta_ci'])} | {_p(c['p_value'])} | {c['test']} | "
            f"**{c['verdict']}** | {_num(c['mde'])} | {c['required_n'] or '-'} |"
        )
    if report.get("ranking"):
        out += ["", f"## Ranking ({report['ranking_metric']})", ""]
        out += ["| rank | candidate | mean | CI | rank interval |", "|---|---|---|---|---|"]
        for r in report["ranking"]:
            out.append(
                f"| {r['rank']} | {r['name']} | {_num(r['mean'])} | {_ci(r['ci'])} | "
                f"{r['rank_ci'][0]}-{r['rank_ci'][1]} |"
            )
    if report["slices"]:
        out += [
            "",
            f"## Slices ({report['correction']} correction over {report['family_size']} tests)",
            "",
            "| slice | metric | candidate | n | Δ | Δ CI | p | adjusted p | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in report["slices"]:
            verdict = s["verdict"] if s["tested"] else (s.get("note") or "not tested")
            out.append(
                f"| {s['column']}={s['value']} | {s['metric']} | {s['candidate']} | {s['n']} | "
                f"{_num(s['delta'])} | {_ci(s['delta_ci'])} | {_p(s['p_value'])} | "
                f"{_p(s['adjusted_p'])} | {verdict} |"
            )
    notes = list(report.get("notes") or []) + [
        f"{c['metric']} / {c['candidate']}: {n}" for c in report["comparisons"] for n in c["notes"]
    ]
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if report.get("scores"):
        out += ["", f"Item-level scores: dataset `{report['scores']}`."]
    return "\n".join(out) + "\n"


def _forest(rows: list[tuple[str, float, float, float]], title: str) -> str:
    """An SVG forest plot: one row per (label, Δ, low, high), a line at 0."""
    if not rows:
        return ""
    width, left, right, row_h = 640, 260, 20, 22
    lows = [r[2] for r in rows] + [0.0]
    highs = [r[3] for r in rows] + [0.0]
    lo, hi = min(lows), max(highs)
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (width - left - right)

    height = 30 + row_h * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="4" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{x(0):.1f}" y1="20" x2="{x(0):.1f}" y2="{height}" stroke="#999" '
        'stroke-dasharray="3,3"/>',
    ]
    for i, (label, delta, low, high) in enumerate(rows):
        y = 30 + row_h * i + row_h / 2
        parts += [
            f'<text x="4" y="{y + 4:.1f}" font-size="11">{html.escape(label)}</text>',
            f'<line x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" '
            'stroke="#1f5fa8" stroke-width="2"/>',
            f'<circle cx="{x(delta):.1f}" cy="{y:.1f}" r="4" fill="#1f5fa8"/>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def html_page(report: dict[str, Any]) -> str:
    """A self-contained HTML report: the Markdown tables as preformatted text plus forest plots."""
    overall = [
        (
            f"{c['metric']}: {c['candidate']}",
            c["delta"],
            c["delta_ci"]["low"],
            c["delta_ci"]["high"],
        )
        for c in report["comparisons"]
        if c["delta"] is not None and c["delta_ci"]
    ]
    slices = [
        (
            f"{s['column']}={s['value']} {s['metric']}: {s['candidate']}",
            s["delta"],
            s["delta_ci"]["low"],
            s["delta_ci"]["high"],
        )
        for s in report["slices"]
        if s["tested"] and s["delta"] is not None and s["delta_ci"]
    ]
    body = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Evaluation {html.escape(report['id'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;"
        "overflow-x:auto}</style></head><body>",
        f"<h1>Evaluation {html.escape(report['id'])}</h1>",
        _forest(overall, "Δ vs baseline with CI"),
        _forest(slices, "Δ per slice with CI"),
        f"<pre>{html.escape(markdown(report))}</pre>",
        "</body></html>",
    ]
    return "\n".join(part for part in body if part)
