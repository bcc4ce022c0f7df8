"""``mlstudio token …``: API tokens for talking to a server (shown once, stored hashed)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Create, list and revoke API tokens.", add_completion=False, no_args_is_help=True
)


@app.command("create")
def create(
    user: Annotated[
        str | None, typer.Option("--user", help="Token owner (default: you; others: admins)")
    ] = None,
    ttl_days: Annotated[
        float, typer.Option("--ttl-days", help="Days until the token expires", min=0.0)
    ] = 90.0,
    description: Annotated[
        str, typer.Option("--description", "-d", help="What the token is for")
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """Create a token; its secret is printed once and never shown again."""
    data = context.studio().tokens.create(user, ttl_days=ttl_days, description=description)

    def human(d: dict[str, Any]) -> None:
        out = console()
        out.print(f"[green]✓[/] token {d['id']} for {d['user']}, expires {d['expires_at']}")
        out.print(d["token"], markup=False)
        out.print("[yellow]![/] copy it now: it is not shown again (use it as MLSTUDIO_TOKEN)")

    emit(data, json_output, human)


@app.command("list")
def list_tokens(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's tokens (admins)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Your tokens (admins: everyone's); secrets and hashes are never shown."""
    rows = context.studio().tokens.list(user)

    def human(data: list[dict[str, Any]]) -> None:
        table(
            None,
            ["id", "user", "state", "expires", "last used", "description"],
            [
                [
                    t["id"],
                    t["user"],
                    t["state"],
                    t["expires_at"],
                    t["last_used_at"] or "never",
                    t["description"],
                ]
                for t in data
            ],
        )

    emit(rows, json_output, human)


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="Token id, e.g. tok_0190f3a2b4c5d6e7f8a9b0")],
    json_output: JsonFlag = False,
) -> None:
    """Revoke a token now (your own; admins: anyone's)."""
    emit(
        context.studio().tokens.revoke(token_id),
        json_output,
        lambda d: console().print(f"[green]✓[/] token {d['id']} of {d['user']} revoked"),
    )
