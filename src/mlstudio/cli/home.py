"""``mlstudio init`` and ``mlstudio whoami``."""

from __future__ import annotations

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit

init_app = typer.Typer(add_completion=False)
whoami_app = typer.Typer(add_completion=False)


def safe_url(url: str) -> str:
    """A database URL fit to print: its password, if any, masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        import re

        # not a URL SQLAlchemy reads (the platform would have refused it); mask user:pass@
        return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


@init_app.command("init")
def init(json_output: JsonFlag = False) -> None:
    """Create $MLSTUDIO_HOME with a SQLite metadata DB and an artifact store; you become admin."""
    p = context.embedded_only("creates the local home")
    info = {
        "home": str(p.settings.home),
        "database": safe_url(p.settings.resolved_database_url),
        "artifacts": p.settings.resolved_artifact_url,
        **p.identity.whoami(p.actor),
    }
    emit(
        info,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] mlstudio home ready at [bold]{d['home']}[/]\n"
            f"  database   {d['database']}\n  artifacts  {d['artifacts']}\n"
            f"  you are    {d['user']} ({', '.join(g['role'] for g in d['grants']) or 'no roles'})"
        ),
    )


@whoami_app.command("whoami")
def whoami(json_output: JsonFlag = False) -> None:
    """Show the identity mlstudio uses and its roles."""
    info = context.studio().users.whoami()

    def human(d: dict) -> None:
        roles = [
            f"{g['role']}" + (f" on {g['scope_kind']} {g['scope']}" if g["scope"] else "")
            for g in d["grants"]
        ]
        console().print(f"{d['user']}: {', '.join(roles) or 'no roles'}")

    emit(info, json_output, human)
