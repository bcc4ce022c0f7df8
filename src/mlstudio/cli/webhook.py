"""``mlstudio webhook …``: signed outbound webhooks on run and tag events (admins).

Every command works embedded and against a server (``MLSTUDIO_URL``), printing the same."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Send run and tag events to other services: add, list, remove, deliveries, attempts, "
    "replay.",
    add_completion=False,
    no_args_is_help=True,
)


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Receiver URL (http:// or https://)")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            "-e",
            help="run.started | run.succeeded | run.failed | run.cancelled | tag.moved | * "
            "(repeatable)",
        ),
    ],
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="Signing secret (default: generated, shown once)"),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Subscribe URL to events; deliveries are signed with the secret printed here."""
    data = context.studio().webhooks.add(url, event, secret=secret)

    def human(d: dict[str, Any]) -> None:
        out = console()
        out.print(f"[green]✓[/] webhook {d['id']} → {d['url']} on {', '.join(d['events'])}")
        out.print(f"  signing secret: {d['secret']}", markup=False)
        out.print("[yellow]![/] copy it now: it is not shown again (verify X-Mlstudio-Signature)")

    emit(data, json_output, human)


@app.command("list")
def list_webhooks(
    include_removed: Annotated[
        bool, typer.Option("--all", help="Include removed webhooks")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Webhooks and their deliveries by state."""
    rows = context.studio().webhooks.list(include_removed=include_removed)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no webhooks; add one with `mlstudio webhook add URL --event E`")
            return
        table(
            None,
            ["id", "url", "events", "active", "pending", "delivered", "failed"],
            [
                [
                    d["id"],
                    d["url"],
                    ", ".join(d["events"]),
                    "yes" if d["active"] else "removed",
                    d["deliveries"]["pending"],
                    d["deliveries"]["delivered"],
                    d["deliveries"]["failed"],
                ]
                for d in data
            ],
        )

    emit(rows, json_output, human)


@app.command("remove")
def remove(
    webhook_id: Annotated[str, typer.Argument(metavar="ID", help="Webhook id")],
    json_output: JsonFlag = False,
) -> None:
    """Stop a webhook: nothing more is sent; its delivery log stays."""
    data = context.studio().webhooks.remove(webhook_id)
    suffix = "" if data["changed"] else " (already)"
    emit(
        data,
        json_output,
        lambda d: console().print(f"[green]✓[/] webhook {d['id']} removed{suffix}"),
    )


@app.command("deliveries")
def deliveries(
    webhook_id: Annotated[str, typer.Argument(metavar="ID", help="Webhook id")],
    state: Annotated[
        str | None, typer.Option("--state", help="pending | delivered | failed")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_output: JsonFlag = False,
) -> None:
    """The delivery log, newest first: attempts, last status, error and latency."""
    rows = context.studio().webhooks.deliveries(webhook_id, state=state, limit=limit, offset=offset)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no deliveries yet")
            return
        table(
            None,
            ["id", "event", "state", "attempts", "status", "latency", "created", "error / next"],
            [
                [
                    d["id"],
                    d["event"],
                    d["state"],
                    d["attempts"],
                    d["last_status"],
                    f"{d['last_latency_ms']} ms" if d["last_latency_ms"] is not None else "",
                    d["created_at"],
                    d["last_error"]
                    or (f"next {d['next_attempt_at']}" if d["state"] == "pending" else ""),
                ]
                for d in data
            ],
        )

    emit(rows, json_output, human)


@app.command("attempts")
def attempts(
    delivery_id: Annotated[str, typer.Argument(metavar="DELIVERY", help="Delivery id")],
    json_output: JsonFlag = False,
) -> None:
    """Every attempt to post a delivery, first to last: status, latency, error."""
    rows = context.studio().webhooks.attempts(delivery_id)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no attempts yet")
            return
        table(
            None,
            ["attempt", "started", "status", "latency", "error"],
            [
                [
                    d["attempt"],
                    d["started_at"],
                    d["status"] if d["status"] is not None else "",
                    f"{d['latency_ms']} ms" if d["latency_ms"] is not None else "",
                    d["error"] or "",
                ]
                for d in data
            ],
        )

    emit(rows, json_output, human)


@app.command("replay")
def replay(
    delivery_id: Annotated[str, typer.Argument(metavar="DELIVERY", help="Delivery id")],
    json_output: JsonFlag = False,
) -> None:
    """Send a delivery again (a copy, queued behind the webhook's pending deliveries)."""
    data = context.studio().webhooks.replay(delivery_id)
    emit(
        data,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] delivery {d['replay_of']} queued again as {d['id']} ({d['event']})"
        ),
    )
