"""``mlstudio namespace …``: team spaces and their roles."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Create team namespaces and grant their roles.", add_completion=False, no_args_is_help=True
)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Namespace, e.g. churn")],
    owner: Annotated[str | None, typer.Option("--owner", help="Owning user (default: you)")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Create a namespace (admins only); OWNER gets the owner role."""
    client = context.remote()
    if client is not None:
        data = client.create_namespace(name, owner, description)
    else:
        p = context.platform()
        record = p.modules.create_namespace(p.actor, name, owner, description)
        data = {**record.to_dict(), "owner": owner or p.actor}
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
    client = context.remote()
    if client is not None:
        data = client.grant_namespace(name, user, role)
    else:
        p = context.platform()
        added = p.modules.grant_namespace(p.actor, name, user, role)
        data = {"namespace": name, "user": user, "role": role, "added": added}
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
            ["namespace", "members", "created by"],
            [
                [
                    r["name"],
                    ", ".join(f"{m['user']} ({m['role']})" for m in r["members"]),
                    r["created_by"],
                ]
                for r in rows
            ],
        )

    client = context.remote()
    if client is not None:
        rows = client.list_namespaces()
    else:
        rows = context.platform().modules.list_namespaces()
    emit(rows, json_output, human)
