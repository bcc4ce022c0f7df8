"""``mlstudio gc``: remove artifact blobs nothing needs (admins)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, emit

app = typer.Typer(add_completion=False)


@app.command("gc")
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing")
    ] = False,
    keep_runs_days: Annotated[
        float | None,
        typer.Option(
            "--keep-runs-days",
            help="Also release the outputs of finished, unpinned runs older than N days",
        ),
    ] = None,
    grace_hours: Annotated[
        float,
        typer.Option("--grace-hours", help="Keep unreferenced blobs written this recently"),
    ] = 1.0,
    json_output: JsonFlag = False,
) -> None:
    """Remove blobs no module, dataset, cache entry or kept run references.

    Blobs written within the grace period (default 1 h) are kept, so a concurrent push or run
    is safe; pinned runs and runs still going keep everything they need.
    """
    from mlstudio.cli.results import print_gc

    data = context.studio().storage.gc(
        dry_run=dry_run, keep_runs_days=keep_runs_days, grace_hours=grace_hours
    )
    emit(data, json_output, print_gc)
