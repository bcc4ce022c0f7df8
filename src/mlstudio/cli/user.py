"""``mlstudio user …``: users and their roles."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Add, disable and enable users; grant and revoke roles.",
    add_completion=False,
    no_args_is_help=True,
)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name")],
    role: Annotated[
        str | None, typer.Option("--role", help="Platform role: admin | steward")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Register a user (admins only)."""
    data = context.studio().users.add(name, role)
    emit(
        data,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] user {d['name']} added" + (f" as {role}" if role else "")
        ),
    )


@app.command("list")
def list_users(json_output: JsonFlag = False) -> None:
    """Every user with their grants."""
    rows = context.studio().users.list()

    def human(data: list[dict[str, Any]]) -> None:
        table(
            None,
            ["user", "state", "roles", "added"],
            [
                [
                    u["name"],
                    "disabled" if u["disabled"] else "active",
                    ", ".join(
                        g["role"] + (f"@{g['scope_kind']}:{g['scope']}" if g["scope"] else "")
                        for g in u["grants"]
                    ),
                    u["created_at"],
                ]
                for u in data
            ],
        )

    emit(rows, json_output, human)


@app.command("grant")
def grant(
    user: Annotated[str, typer.Argument(help="User")],
    role: Annotated[
        str, typer.Argument(help="admin | steward | owner | maintainer | reader | runner | viewer")
    ],
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Grant on this namespace")
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Grant on this domain")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Grant a platform role, or a role on a namespace or domain."""
    data = context.studio().users.grant(user, role, namespace=namespace, domain=domain)
    emit(
        data,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] {d['user']} has {d['role']}"
            + (f" on {d['scope_kind']} {d['scope']}" if d["scope"] else "")
        ),
    )


@app.command("revoke")
def revoke(
    user: Annotated[str, typer.Argument(help="User")],
    role: Annotated[
        str, typer.Argument(help="admin | steward | owner | maintainer | reader | runner | viewer")
    ],
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Revoke on this namespace")
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Revoke on this domain")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Remove a platform role, or a role on a namespace or domain."""
    data = context.studio().users.revoke(user, role, namespace=namespace, domain=domain)
    emit(
        data,
        json_output,
        lambda d: console().print(
            (
                f"[green]✓[/] {d['user']} no longer has"
                if d["removed"]
                else f"{d['user']} did not have"
            )
            + f" {d['role']}"
            + (f" on {d['scope_kind']} {d['scope']}" if d["scope"] else "")
        ),
    )


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="User to disable")],
    json_output: JsonFlag = False,
) -> None:
    """Disable a user (admins only): their tokens stop working and they may not act."""
    data = context.studio().users.disable(name)
    emit(
        data,
        json_output,
        lambda d: console().print(f"[green]✓[/] user {d['name']} disabled"),
    )


@app.command("enable")
def enable(
    name: Annotated[str, typer.Argument(help="User to enable")],
    json_output: JsonFlag = False,
) -> None:
    """Enable a disabled user again (admins only); their grants are kept."""
    data = context.studio().users.enable(name)
    emit(
        data,
        json_output,
        lambda d: console().print(f"[green]✓[/] user {d['name']} enabled"),
    )
