"""``mlstudio schedule …``: cron schedules that start runs (fired by the server's scheduler).

Every command works embedded and against a server (``MLSTUDIO_URL``), with the same output."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Start runs on a cron schedule: add, list, show, pause, resume, remove.",
    add_completion=False,
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Schedule id (or a unique prefix)")]


def _recent(fires: list[dict[str, Any]]) -> str:
    parts = []
    for f in fires:
        if f["run_id"]:
            parts.append(f"{f['run_id']} ({f['run_state'] or '?'})")
        else:
            parts.append(f"error: {f['error']}")
    return ", ".join(parts)


def _print_one(d: dict[str, Any], verb: str) -> None:
    out = console()
    out.print(f"[green]✓[/] schedule {d['id']} {verb}: {d['workflow']}", markup=True)
    out.print(
        f"  cron {d['cron']} ({d['timezone']}), catch-up {d['catchup']}, domain {d['domain']}",
        markup=False,
    )
    nxt = d["next_fire_at"] or ("paused" if d["state"] == "paused" else "never")
    out.print(f"  next fire {nxt}", markup=False)


@app.command("add")
def add(
    workflow: Annotated[
        str, typer.Argument(help="NS/MODULE/WORKFLOW[:TAG|@N] or PATH.py:FUNCTION")
    ],
    cron: Annotated[
        str, typer.Option("--cron", help='Cron expression, 5 fields, e.g. "0 6 * * 1-5"')
    ],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of the cron expression")] = "UTC",
    catchup: Annotated[
        str,
        typer.Option("--catchup", help="Ticks missed while down: none | latest | all"),
    ] = "none",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Workflow parameter NAME=VALUE (repeatable)"),
    ] = None,
    domain: Annotated[str, typer.Option("--domain", help="Execution domain")] = "experimentation",
    json_output: JsonFlag = False,
) -> None:
    """Start WORKFLOW on every cron tick, as you (you need the runner role in the domain)."""
    from mlstudio.workflows.service import parse_params

    params = parse_params(param or [])
    data = context.studio().schedules.add(
        workflow, cron, tz=tz, catchup=catchup, params=params, domain=domain
    )
    emit(data, json_output, lambda d: _print_one(d, "added"))


@app.command("list")
def list_schedules(
    workflow: Annotated[str | None, typer.Option("--workflow", help="Workflow prefix")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_output: JsonFlag = False,
) -> None:
    """Schedules with their next and last fire and the runs they created."""
    rows = context.studio().schedules.list(workflow=workflow, limit=limit, offset=offset)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no schedules; add one with `mlstudio schedule add WORKFLOW --cron`")
            return
        table(
            None,
            ["id", "workflow", "cron", "tz", "catch-up", "state", "next fire", "last fire", "runs"],
            [
                [
                    d["id"],
                    d["workflow"],
                    d["cron"],
                    d["timezone"],
                    d["catchup"],
                    d["state"],
                    d["next_fire_at"] or "",
                    d["last_fire_at"] or "never",
                    f"{d['runs']}: {_recent(d['recent'][:3])}" if d["recent"] else "0",
                ]
                for d in data
            ],
        )

    emit(rows, json_output, human)


@app.command("show")
def show(schedule_id: IdArg, json_output: JsonFlag = False) -> None:
    """One schedule with its recent fires and their runs."""
    data = context.studio().schedules.show(schedule_id)

    def human(d: dict[str, Any]) -> None:
        _print_one(d, d["state"])
        if d["recent"]:
            table(
                None,
                ["tick", "run", "state", "error"],
                [[f["tick"], f["run_id"], f["run_state"], f["error"]] for f in d["recent"]],
            )

    emit(data, json_output, human)


def _control(action: str, schedule_id: str, json_output: bool) -> None:
    data = getattr(context.studio().schedules, action)(schedule_id)
    verb = {"pause": "paused", "resume": "resumed", "remove": "removed"}[action]
    suffix = "" if data.get("changed", True) else " (already)"

    def human(d: dict[str, Any]) -> None:
        console().print(f"[green]✓[/] schedule {d['id']} {verb}{suffix}")
        if action == "resume":
            console().print(f"  next fire {d['next_fire_at'] or 'never'}", markup=False)

    emit(data, json_output, human)


@app.command("pause")
def pause(schedule_id: IdArg, json_output: JsonFlag = False) -> None:
    """Stop firing until resumed."""
    _control("pause", schedule_id, json_output)


@app.command("resume")
def resume(schedule_id: IdArg, json_output: JsonFlag = False) -> None:
    """Fire again; ticks missed while paused follow the catch-up policy."""
    _control("resume", schedule_id, json_output)


@app.command("remove")
def remove(schedule_id: IdArg, json_output: JsonFlag = False) -> None:
    """Delete the schedule (the runs it created stay)."""
    _control("remove", schedule_id, json_output)
