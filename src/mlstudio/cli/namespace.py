"""``mlstudio namespace …``: team spaces, their roles and their quotas."""

from __future__ import annotations

from types import EllipsisType
from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Create team namespaces, grant their roles, set their quotas.",
    add_completion=False,
    no_args_is_help=True,
)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Namespace, e.g. churn")],
    owner: Annotated[str | None, typer.Option("--owner", help="Owning user (default: you)")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Create a namespace (admins only); OWNER gets the owner role."""
    data = context.studio().namespaces.create(name, owner, description)
    emit(
        data,
        json_output,
        lambda d: console().print(f"[green]✓[/] namespace {d['name']} created, owner {d['owner']}"),
    )


@app.command("grant")
def grant(
    name: Annotated[str, typer.Argument(help="Namespace")],
    user: Annotated[str, typer.Argument(help="User to grant")],
    role: Annotated[str, typer.Argument(help="owner | maintainer | reader")],
    json_output: JsonFlag = False,
) -> None:
    """Grant a namespace role (owners and admins only)."""
    data = context.studio().namespaces.grant(name, user, role)
    emit(
        data,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] {d['user']} is {d['role']} of {d['namespace']}"
            + ("" if d["added"] else " (already)")
        ),
    )


@app.command("list")
def list_namespaces(json_output: JsonFlag = False) -> None:
    """Every namespace with its members."""

    def human(rows: list[dict[str, Any]]) -> None:
        table(
            None,
            ["namespace", "members", "created by", "max runs", "max tasks"],
            [
                [
                    r["name"],
                    ", ".join(f"{m['user']} ({m['role']})" for m in r["members"]),
                    r["created_by"],
                    _limit(r.get("max_running_runs")),
                    _limit(r.get("max_running_tasks")),
                ]
                for r in rows
            ],
        )

    rows = context.studio().namespaces.list()
    emit(rows, json_output, human)


@app.command("quota")
def quota(
    name: Annotated[str, typer.Argument(help="Namespace")],
    runs: Annotated[
        str | None,
        typer.Option("--runs", metavar="N|none", help="Runs driven at once (none: unlimited)"),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks", metavar="N|none", help="Tasks claimed by workers at once (none: unlimited)"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Show a namespace's quotas, or set them (admins); every server and worker applies a
    change at its next claim."""
    changes = {
        key: value
        for key, value in (
            ("max_running_runs", _parse_limit(runs, "--runs")),
            ("max_running_tasks", _parse_limit(tasks, "--tasks")),
        )
        if value is not ...
    }
    namespaces = context.studio().namespaces
    data = namespaces.set_quota(name, **changes) if changes else namespaces.quota(name)

    def human(d: dict[str, Any]) -> None:
        mark = "[green]✓[/] " if changes else ""
        console().print(
            f"{mark}namespace {d['namespace']}: "
            f"runs {d['running_runs']}/{_limit(d['max_running_runs'])} running, "
            f"tasks {d['running_tasks']}/{_limit(d['max_running_tasks'])} claimed"
        )

    emit(data, json_output, human)


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def _parse_limit(text: str | None, option: str) -> int | EllipsisType | None:
    """``--runs N|none``: a number, None for none (unlimited), ``...`` when not given."""
    if text is None:
        return ...
    if text.strip().lower() in ("none", "unlimited"):
        return None
    try:
        return int(text.strip())  # a negative number is refused by the service, as over HTTP
    except ValueError:
        from mlstudio.errors import InvalidInputError

        raise InvalidInputError(
            f"{option} takes a whole number or none, got {text!r}",
            hint=f"e.g. {option} 4, or {option} none for unlimited",
        ) from None


@app.command("budget")
def budget(
    name: Annotated[str, typer.Argument(help="Namespace")],
    usd: Annotated[
        str | None,
        typer.Option("--usd", metavar="USD|none", help="USD per period (none: remove it)"),
    ] = None,
    period: Annotated[
        str, typer.Option("--period", help="Rolling period: hours, days or weeks, e.g. 30d")
    ] = "30d",
    json_output: JsonFlag = False,
) -> None:
    """Show a namespace's money budget, or set it (admins): GenAI work reserves its estimated
    cost before it starts and is refused, with the numbers, when it does not fit."""
    genai = context.studio().genai
    if usd is None:
        data = genai.budget(name)
    else:
        amount: float | None
        if usd.strip().lower() in ("none", "unlimited"):
            amount = None
        else:
            try:
                amount = float(usd)
            except ValueError:
                from mlstudio.errors import InvalidInputError

                raise InvalidInputError(
                    f"--usd takes an amount or none, got {usd!r}", hint="e.g. --usd 200"
                ) from None
        data = genai.set_budget(name, amount, period)

    def human(d: dict[str, Any]) -> None:
        mark = "[green]✓[/] " if usd is not None else ""
        if d["usd"] is None:
            console().print(
                f"{mark}namespace {d['namespace']}: no budget; spent ${d['spent_usd']:.4f} in "
                f"the last 30d, ${d['reserved_usd']:.4f} reserved"
            )
            return
        console().print(
            f"{mark}namespace {d['namespace']}: ${d['usd']:.2f} per {d['period']}; spent "
            f"${d['spent_usd']:.4f}, reserved ${d['reserved_usd']:.4f}, "
            f"${d['remaining_usd']:.4f} left"
        )

    emit(data, json_output, human)
