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
    client = context.remote()
    if client is not None:
        data = client.add_user(name, role)
    else:
        p = context.platform()
        data = {**p.identity.add_user(p.actor, name, role).to_dict(), "role": role}
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
    client = context.remote()
    if client is not None:
        rows = client.list_users()
    else:
        rows = [
            {**u.to_dict(), "grants": [g.to_dict() for g in grants]}
            for u, grants in context.platform().identity.list_users()
        ]

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
    kind, scope = _scope(namespace, domain)
    client = context.remote()
    if client is not None:
        data = client.grant(user, role, namespace=namespace, domain=domain)
    else:
        p = context.platform()
        added = p.identity.grant(p.actor, user, role, kind, scope)
        data = {"user": user, "role": role, "scope_kind": kind, "scope": scope, "added": added}
    emit(
        data,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] {d['user']} has {d['role']}"
            + (f" on {d['scope_kind']} {d['scope']}" if d["scope"] else "")
        ),
    )


def _scope(namespace: str | None, domain: str | None) -> tuple[str, str]:
    from mlstudio.errors import InvalidInputError

    if namespace and domain:
        raise InvalidInputError("pass either --namespace or --domain, not both")
    if namespace:
        return "namespace", namespace
    if domain:
        return "domain", domain
    return "platform", ""


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
    kind, scope = _scope(namespace, domain)
    client = context.remote()
    if client is not None:
        data = client.revoke(user, role, namespace=namespace, domain=domain)
    else:
        p = context.platform()
        removed = p.identity.revoke(p.actor, user, role, kind, scope)
        data = {"user": user, "role": role, "scope_kind": kind, "scope": scope, "removed": removed}
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
    client = context.remote()
    if client is not None:
        data = client.disable_user(name)
    else:
        p = context.platform()
        data = p.identity.disable(p.actor, name).to_dict()
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
    client = context.remote()
    if client is not None:
        data = client.enable_user(name)
    else:
        p = context.platform()
        data = p.identity.enable(p.actor, name).to_dict()
    emit(
        data,
        json_output,
        lambda d: console().print(f"[green]✓[/] user {d['name']} enabled"),
    )
