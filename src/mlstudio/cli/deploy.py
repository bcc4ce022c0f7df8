"""``mlstudio deploy NAME …`` and ``deploy list | show NAME | remove NAME``: deployments the
server runs (one serving process each, restarted when it dies)."""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col

SUBCOMMANDS = ("list", "show", "remove")


class DeployGroup(TyperGroup):
    """``deploy NAME …`` is ``deploy create NAME …``; ``list``, ``show`` and ``remove`` are
    themselves (a model named like one of them: ``deploy create NAME``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in (*SUBCOMMANDS, "create"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DeployGroup,
    help="Deployments the server runs: deploy NAME --alias A [--also B] [--fallback F] "
    "[--domain D] [--port P]; list; show NAME; remove NAME.",
    add_completion=False,
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Registered model name (the deployment's name)")]


def _print(d: dict[str, Any]) -> None:
    c = console()
    aliases = ", ".join([d["alias"], *d["also"]])
    c.print(f"deployment {d['name']}: {d['status']} (revision {d['revision']})", markup=False)
    c.print(f"  model {d['model']} @ {aliases}, domain {d['domain']}", markup=False)
    if d["fallback"]:
        c.print(f"  fallback {d['fallback']}", markup=False)
    if d["url"]:
        c.print(f"  url {d['url']}  pid {d['pid'] or '-'}  restarts {d['restarts']}", markup=False)
    if d["reason"]:
        c.print(f"  reason: {d['reason']}", markup=False)
    c.print(f"  by {d['updated_by']} at {d['updated_at']}", markup=False)


@app.command("create", hidden=True)
def create(
    name: Name,
    alias: Annotated[str, typer.Option("--alias", help="Alias to serve and follow")] = "champion",
    also: Annotated[
        list[str] | None,
        typer.Option("--also", help="Another alias to load, for the route/shadow flags"),
    ] = None,
    fallback: Annotated[
        str | None,
        typer.Option(
            "--fallback",
            help="previous, column:NAME, constant:X, NS/MODULE/TASK (comma-separated)",
        ),
    ] = None,
    domain: Annotated[
        str, typer.Option("--domain", help="Domain the model is loaded under")
    ] = "production",
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default: a free one)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Deploy NAME@ALIAS on the server (or change the deployment). Audited."""
    result = context.studio().deployments.deploy(
        name, alias=alias, also=list(also or []), fallback=fallback, domain=domain, port=port
    )

    def human(d: dict[str, Any]) -> None:
        _print(d)
        console().print(f"  follow it: mlstudio deploy show {d['name']}", markup=False)

    emit(result, json_output, human)


@app.command("list")
def list_deployments(json_output: JsonFlag = False) -> None:
    """Every deployment with its status and url."""
    rows = context.studio().deployments.list()

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console().print("no deployments; add one with `mlstudio deploy NAME --alias champion`")
            return
        table(
            None,
            [
                Col("name", key=True),
                Col("aliases"),
                Col("domain", drop=2),
                Col("status"),
                Col("url"),
                Col("restarts", drop=1),
            ],
            [
                [
                    d["name"],
                    ",".join([d["alias"], *d["also"]]),
                    d["domain"],
                    d["status"],
                    d["url"] or "-",
                    str(d["restarts"]),
                ]
                for d in rows
            ],
        )

    emit(rows, json_output, human)


@app.command("show")
def show(name: Name, json_output: JsonFlag = False) -> None:
    """A deployment: desired state, status (and why), url, pid, restarts."""
    emit(context.studio().deployments.show(name), json_output, _print)


@app.command("remove")
def remove(name: Name, json_output: JsonFlag = False) -> None:
    """Stop and forget a deployment. Audited."""
    result = context.studio().deployments.remove(name)
    emit(result, json_output, lambda r: console().print(f"removing deployment {r['name']}"))
