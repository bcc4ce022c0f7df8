"""``mlstudio audit``: filter the append-only audit log."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col, WideFlag

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


def _nothing_matched(
    audit_log: Any, since: str | None, actor: str | None, action: str | None
) -> str:
    """What to say when no event matched: the filters, and the closest action in the log."""
    filters = [
        f"{flag} {value}"
        for flag, value in (("--since", since), ("--actor", actor), ("--action", action))
        if value
    ]
    text = f"no audit events matched {' '.join(filters)}" if filters else "no audit events yet"
    if not action:
        return text
    import difflib

    known = sorted({e["action"] for e in audit_log.list(limit=1000)})
    prefixes = sorted({a.split(".")[0] for a in known})
    if any(a == action or a.startswith(f"{action}.") for a in known):
        return text
    close = difflib.get_close_matches(action, [*prefixes, *known], n=2)
    if close:
        return f"{text} (did you mean {' or '.join(close)}?)"
    return f"{text} (actions in the log: {', '.join(prefixes) or 'none yet'})"


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
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Show audit events, newest first (admins see all)."""
    audit_log = context.studio().audit
    rows = audit_log.list(since=parse_since(since), actor=actor, action=action, limit=limit)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print(_nothing_matched(audit_log, since, actor, action), markup=False)
            return
        table(
            None,
            [
                Col("at", drop=2),
                Col("actor", key=True),
                Col("action", key=True),
                Col("resource", key=True),
                Col("decision"),
                Col("details", drop=1),
            ],
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
            wide=wide,
        )

    emit(rows, json_output, human)
