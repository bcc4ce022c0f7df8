"""Live run progress on stderr and the end-of-run summary."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from textwrap import shorten
from typing import Any

from rich.markup import escape

from mlstudio.cli.output import console, table
from mlstudio.cli.tables import Col

_ORDER = (
    "succeeded",
    "cached",
    "running",
    "pending",
    "failed",
    "upstream_failed",
    "skipped",
    "cancelled",
)


def describe_counts(counts: dict[str, int]) -> str:
    done = counts.get("succeeded", 0)
    parts = [
        f"{done} done",
        f"{counts.get('cached', 0)} cached",
        f"{counts.get('running', 0)} running",
    ]
    for state in ("failed", "upstream_failed", "skipped", "cancelled"):
        if counts.get(state):
            parts.append(f"{counts[state]} {state.replace('_', ' ')}")
    return ", ".join(parts)


@contextmanager
def live_progress(enabled: bool, label: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    if not enabled or not sys.stderr.isatty():
        yield lambda _snapshot: None
        return
    from rich.live import Live
    from rich.text import Text

    with Live(
        Text(f"{label}: planning…"),
        console=console(stderr=True),
        refresh_per_second=8,
        transient=True,
    ) as live:

        def update(snapshot: dict[str, Any]) -> None:
            counts = snapshot["counts"]
            total = snapshot["total"] or 1
            finished = sum(
                counts.get(s, 0)
                for s in (
                    "succeeded",
                    "cached",
                    "failed",
                    "upstream_failed",
                    "skipped",
                    "cancelled",
                )
            )
            bar = int(30 * finished / total)
            live.update(
                Text(
                    f"{label} [{'█' * bar}{'·' * (30 - bar)}] {finished}/{total}  {describe_counts(counts)}  {snapshot['elapsed_s']:.1f}s"
                )
            )

        yield update


def print_run(data: dict[str, Any]) -> None:
    c = console()
    tasks = data.get("tasks", [])
    counts: dict[str, int] = {}
    for t in tasks:
        if t.get("kind", "task") == "task":
            counts[t["state"]] = counts.get(t["state"], 0) + 1
    color = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(
        data["state"], "cyan"
    )
    duration = f" in {data['duration_s']:.2f}s" if data.get("duration_s") is not None else ""
    c.print(
        f"[{color}]{data['state']}[/] run [bold]{data['id']}[/] {data['workflow']}{duration} — {describe_counts(counts)}"
    )
    if data.get("engine_note"):
        c.print(f"[yellow]engine gone:[/] {escape(data['engine_note'])}", highlight=False)
    cost = data.get("cost")
    if cost:
        ahead = cost["estimate_to_finish_usd"] + cost["reserved_usd"]
        c.print(
            f"cost: ${cost['spent_usd']:.4f} spent"
            + (f", about ${ahead:.4f} to finish" if ahead > 0 else ""),
            markup=False,
            highlight=False,
        )
    cause = data.get("triggered_by")
    if cause and cause.get("monitor"):
        c.print(f"triggered by monitor {cause['monitor']} (alert {cause.get('alert')})",
                markup=False, highlight=False)  # fmt: skip
    if len(tasks) <= 40:
        rows = []
        for t in tasks:
            if t.get("kind", "task") != "task":
                continue
            note = "cache hit" if t["cache_hit"] else (t["error"] or "")
            dur = f"{t['duration_s']:.3f}s" if t.get("duration_s") is not None else ""
            rows.append([t["node"], t["state"], t["attempt"], dur, shorten(note, 200)])
            if t.get("explain"):
                reasons = "; ".join(t["explain"]["reasons"])
                rows.append(["", "", "", "", "↳ " + shorten(reasons, 300)])
        columns = [
            Col("task", key=True),
            Col("state"),
            Col("attempt", drop=2),
            Col("time", drop=1),
            Col("note"),
        ]
        table(None, columns, rows)
    if data.get("error"):  # errors go to stderr, with the other error lines
        console(stderr=True).print(f"[red]error:[/] {escape(data['error'])}")
    if data.get("output_value") is not None:
        import json

        text = json.dumps(data["output_value"], default=str)
        c.print(f"output: {text if len(text) < 2000 else text[:2000] + '…'}")
