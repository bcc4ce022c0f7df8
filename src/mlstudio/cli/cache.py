"""``mlstudio cache …``: what the cache saved, and clearing it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(help="Cache statistics and clearing.", add_completion=False, no_args_is_help=True)


@app.command("stats")
def stats(json_output: JsonFlag = False) -> None:
    """Hits, misses and compute time saved, overall and per workflow."""
    data = context.studio().cache.stats()

    def human(d: dict[str, Any]) -> None:
        console().print(
            f"{d['hits']} hits, {d['misses']} misses ({d['hit_ratio']:.0%} hit ratio); "
            f"{d['saved_s']:.2f}s of compute saved; {d['entries']} entries"
        )
        if d["per_workflow"]:
            table(
                None,
                ["workflow", "hits", "misses", "hit ratio", "saved"],
                [
                    [wf, v["hits"], v["misses"], f"{v['hit_ratio']:.0%}", f"{v['saved_s']:.2f}s"]
                    for wf, v in d["per_workflow"].items()
                ],
            )

    emit(data, json_output, human)


@app.command("clear")
def clear(
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only entries of this workflow (prefix)")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only entries of this task")] = None,
    older_than_days: Annotated[float | None, typer.Option("--older-than-days", min=0)] = None,
    json_output: JsonFlag = False,
) -> None:
    """Forget cache entries (the next runs recompute them)."""

    def human(d: dict[str, Any]) -> None:
        if d["removed"]:
            console().print(f"removed {d['removed']} cache entries")
            return
        filters = [
            f"{flag} {value}"
            for flag, value in (
                ("--workflow", workflow),
                ("--task", task),
                ("--older-than-days", older_than_days),
            )
            if value is not None
        ]
        matched = f"matched {' '.join(filters)}" if filters else "to remove"
        console().print(
            f"no cache entries {matched}; nothing removed (see: mlstudio cache stats)",
            markup=False,
        )

    emit(context.studio().cache.clear(workflow, task, older_than_days), json_output, human)
