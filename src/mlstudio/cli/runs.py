"""``mlstudio runs …``: inspect and control runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.progress import print_run
from mlstudio.cli.run import ParamOpt, finish
from mlstudio.cli.tables import Col, WideFlag

app = typer.Typer(
    help="List, inspect, cancel, clone and resume runs.", add_completion=False, no_args_is_help=True
)


def _counts(counts: dict[str, int]) -> str:
    """The task states of a run that have tasks, e.g. ``11 cached`` or ``3 done, 1 failed``."""
    shown = [(n, "done" if state == "succeeded" else state) for state, n in counts.items() if n]
    return ", ".join(f"{n} {state.replace('_', ' ')}" for n, state in shown) or "no tasks"


@app.command("list")
def list_runs(
    state: Annotated[str | None, typer.Option("--state")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Workflow name prefix")] = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    domain: Annotated[str | None, typer.Option("--domain")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Recent runs, newest first."""
    filters: dict[str, Any] = {"state": state, "workflow": workflow, "user": user, "domain": domain}
    rows = context.studio().runs.list(**filters, limit=limit, offset=offset)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no runs yet; start one with `mlstudio run WORKFLOW`")
            return
        table(
            None,
            [
                Col("run", key=True),
                Col("workflow", key=True),
                Col("state"),
                Col("tasks", drop=1),
                Col("by", drop=3),
                Col("created", drop=4),
                Col("time", drop=2),
                *([Col("cost", drop=2)] if any(r.get("cost") for r in data) else []),
            ],
            [
                [
                    r["id"],
                    r["workflow"],
                    _state(r),
                    _counts(r["tasks"]),
                    r["created_by"],
                    r["created_at"],
                    f"{r['duration_s']:.2f}s" if r.get("duration_s") is not None else "",
                    *([_cost(r.get("cost"))] if any(r.get("cost") for r in data) else []),
                ]
                for r in data
            ],
            wide=wide,
        )
        for r in data:
            if r.get("engine_note"):
                console().print(
                    f"[yellow]run {r['id']}:[/] {escape(r['engine_note'])}", highlight=False
                )

    emit(rows, json_output, human)


def _cost(cost: dict[str, float] | None) -> str:
    """``$0.42`` spent, with ``+ ~$1.10`` to finish while items remain."""
    if not cost:
        return ""
    text = f"${cost['spent_usd']:.4f}"
    ahead = cost["estimate_to_finish_usd"] + cost["reserved_usd"]
    return f"{text} + ~${ahead:.4f}" if ahead > 0 else text


def _state(run: dict[str, Any]) -> str:
    if run.get("engine_alive") is False:
        return f"{run['state']} (engine gone)"
    return f"{run['state']} ({run['waiting']})" if run.get("waiting") else run["state"]


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    explain: Annotated[
        bool, typer.Option("--explain", help="For cache misses, say which part of the key changed")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """A run's state, lock, tasks and output."""
    data = context.studio().runs.show(run_id, explain=explain)
    emit(data, json_output, print_run)


@app.command("logs")
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    task: Annotated[
        str | None, typer.Option("--task", help="Only this task (node id or task name)")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Print new output as it is written until the task (or run) ends"
        ),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Captured output of every task attempt (stdout, stderr, logging, tracebacks), also
    while it runs; --follow tails it (with --json: one JSON object per line and chunk)."""
    if follow:
        _follow(run_id, task, json_output)
        return
    entries = context.studio().runs.logs(run_id, task=task)

    def human(data: list[dict[str, Any]]) -> None:
        c = console()
        if not any(e["text"] or e.get("note") for e in data):
            c.print("no output captured")
        for e in data:
            if e["text"]:
                c.print(f"[bold]── {e['node']} (attempt {e['attempt']})[/]")
                c.print(e["text"].rstrip(), markup=False, highlight=False)
            elif e.get("note"):
                c.print(f"[bold]── {e['node']} (attempt {e['attempt']})[/] [dim]{e['note']}[/]")

    emit(entries, json_output, human)


FOLLOW_POLL_S = 0.25  # between two polls that brought nothing new


def _follow(run_id: str, task: str | None, json_output: bool) -> None:
    """Poll ``runs.log_tail`` with its cursor, printing what is new, until it is done."""
    import json
    import sys
    import time

    from mlstudio.errors import StateError

    runs = context.studio().runs
    cursor = None
    current = None  # the attempt whose text was printed last (a header starts another)
    open_line = False  # the last text printed did not end its line
    while True:
        chunk = runs.log_tail(run_id, task=task, cursor=cursor)
        for e in chunk["entries"]:
            if json_output:
                print(json.dumps(e), flush=True)
                continue
            here = (e["node"], e["attempt"])
            if here != current or e.get("note"):
                suffix = f" {e['note']}" if e.get("note") else ""
                start = "\n" if open_line else ""
                sys.stdout.write(f"{start}── {e['node']} (attempt {e['attempt']}){suffix}\n")
                current, open_line = (None if e.get("note") else here), False
            if e["text"]:
                sys.stdout.write(e["text"])
                open_line = not e["text"].endswith("\n")
            sys.stdout.flush()
        cursor = chunk["cursor"]
        if chunk["done"]:
            if not json_output:
                if open_line:
                    sys.stdout.write("\n")
                sys.stdout.flush()
                console(stderr=True).print(f"[dim]run {run_id}: {chunk['run']}[/]")
            return
        if chunk.get("engine_alive") is False:  # nothing more will come until it is resumed
            if open_line and not json_output:
                sys.stdout.write("\n")
            sys.stdout.flush()
            what, _, fix = chunk["engine_note"].partition(" — ")
            raise StateError(f"run {run_id} stopped: {what}", hint=fix or None)
        if not chunk["entries"]:
            time.sleep(FOLLOW_POLL_S)


@app.command("cancel")
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN")], json_output: JsonFlag = False
) -> None:
    """Cancel a queued or running run (running tasks are killed)."""
    data = context.studio().runs.cancel(run_id)
    emit(data, json_output, lambda d: console().print(f"run {d['id']}: {d['state']}"))


@app.command("clone")
def clone(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    param: ParamOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    detach: Annotated[bool, typer.Option("--detach")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Start a new run with RUN's resolved module versions (and changed parameters)."""
    from mlstudio.workflows.service import parse_params

    cloned = context.studio().runs.clone(run_id, parse_params(param or []), no_cache=no_cache)
    finish(cloned["id"], json_output, detach)


@app.command("resume")
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    detach: Annotated[bool, typer.Option("--detach")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Finish a run whose engine died, without redoing completed tasks."""
    finish(context.studio().runs.resume(run_id)["id"], json_output, detach)


@app.command("output")
def output(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    task: Annotated[
        str | None, typer.Option("--task", help="A task's output (node id or task name)")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="File to write: .csv/.parquet/.json for a table; a model as its pickle"
        ),
    ] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", help="Domain it is read under (default: the run's)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Download the workflow's output, or a task's (checked like any read of the data).

    Without --to a table is printed as CSV and JSON as JSON (so `> file` works); with --json
    the summary is printed, with the value (a table as records) when there is no --to.
    """
    from mlstudio.cli.results import download, print_saved

    if to is not None:
        data = context.studio().runs.output(run_id, to, task=task, domain=domain)
        emit(data, json_output, print_saved)
    else:
        download(run_id, task, domain, json_output)


@app.command("pin")
def pin(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    reason: Annotated[str, typer.Option("--reason", help="Why the run is kept")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Keep a run whatever its age: its code, inputs and outputs survive clean-up and gc."""
    from mlstudio.cli.results import print_pin

    emit(context.studio().runs.pin(run_id, reason), json_output, print_pin)


@app.command("unpin")
def unpin(
    run_id: Annotated[str, typer.Argument(metavar="RUN")], json_output: JsonFlag = False
) -> None:
    """Let clean-up and gc's retention treat a pinned run like any other again."""
    from mlstudio.cli.results import print_pin

    emit(context.studio().runs.unpin(run_id), json_output, print_pin)


# --- experiment tracking (tracked runs: task runs and MLflow runs) ----------------------------
@app.command("compare")
def compare(
    runs: Annotated[
        list[str], typer.Argument(metavar="RUN...", help="Tracked run ids or workflow run ids")
    ],
    only_differences: Annotated[
        bool, typer.Option("--only-differences", help="Only params and metrics that differ")
    ] = False,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Params and latest metrics side by side; the best value of each metric is marked *.

    A workflow run id stands for all its tracked task runs. Metrics named like a loss or an
    error are better low; every other metric is better high.
    """
    from mlstudio.cli.experiments import print_compare

    data = context.studio().tracking.compare(runs, only_differences=only_differences)
    emit(data, json_output, lambda d: print_compare(d, wide))


@app.command("search")
def search(
    filter: Annotated[
        str | None,
        typer.Option("--filter", help="MLflow filter: \"metrics.auc > 0.8 and params.k = 'gbm'\""),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", help="e.g. metrics.auc (best first for metrics) or 'x ASC'"),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Experiment name or id")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=50000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Tracked runs matching a filter (MLflow's grammar: metrics./params./tags./attributes.,
    = != < <= > >= LIKE ILIKE IN, joined by AND)."""
    from mlstudio.cli.experiments import print_runs

    data = context.studio().tracking.search(
        filter=filter, order_by=order_by, experiment=experiment, limit=limit, offset=offset
    )

    def human(found: dict[str, Any]) -> None:
        if not found["runs"]:
            console().print("no tracked runs match")
            return
        print_runs(found["runs"], wide)
        if found["next_offset"] is not None:
            console().print(f"more: --offset {found['next_offset']}")

    emit(data, json_output, human)


@app.command("plot")
def plot(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Tracked run or workflow run id")],
    metric: Annotated[str, typer.Option("--metric", help="The metric to plot")],
    to: Annotated[
        str | None, typer.Option("--to", help="PNG file (default RUN-METRIC.png)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Plot a metric against its step (one line per tracked run) to a PNG file."""
    from mlstudio.cli.experiments import plot_series

    series = context.studio().tracking.history(run, metric)
    path = to or f"{run}-{metric.replace('/', '_')}.png"
    data = plot_series(series, metric, path)
    emit(data, json_output, lambda d: console().print(f"wrote {d['path']} ({d['points']} points)"))


__all__ = ["app", "print_run"]
