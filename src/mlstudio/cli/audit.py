"""``mlstudio audit``: filter the append-only audit log."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, emit, table

app = typer.Typer(add_completion=False)


def parse_since(text: str | None):
    """ISO timestamps or relative spans like 30m, 2h, 7d."""
    if not text:
        return None
    import re
    from datetime import UTC, datetime, timedelta

    from mlstudio.errors import InvalidInputError

    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(
            f"invalid --since {text!r}", hint="use an ISO time or a span like 2h or 7d"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("audit")
def audit(
    since: Annotated[
        str | None, typer.Option("--since", help="ISO time or span (30m, 2h, 7d)")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this user")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Action or prefix, e.g. tag or module.push")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 100,
    json_output: JsonFlag = False,
) -> None:
    """Show audit events, newest first (admins see all)."""
    rows = context.studio().audit.list(
        since=parse_since(since), actor=actor, action=action, limit=limit
    )

    def human(data: list[dict[str, Any]]) -> None:
        table(
            None,
            ["at", "actor", "action", "resource", "decision", "details"],
            [
                [
                    e["at"],
                    e["actor"],
                    e["action"],
                    e["resource"],
                    e["decision"],
                    ", ".join(f"{k}={v}" for k, v in e["details"].items()),
                ]
                for e in data
            ],
        )

    emit(rows, json_output, human)
