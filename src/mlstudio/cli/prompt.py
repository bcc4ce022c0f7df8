"""``mlstudio prompt …``: the prompts modules define, versioned with their module."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="Prompts: versioned with the module that defines them (list, show).",
    add_completion=False,
    no_args_is_help=True,
)


@app.command("list")
def list_prompts(
    module: Annotated[str | None, typer.Argument(help="Only this module (NS/MODULE)")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The newest version of every prompt."""

    def human(rows: list[dict[str, Any]]) -> None:
        table(
            None,
            ["prompt", "variables", "digest", "aliases", "description"],
            [
                [
                    r["ref"],
                    ", ".join(f"{k}: {v}" for k, v in r["variables"].items()),
                    r["digest"][:12],
                    ", ".join(r.get("aliases") or []),
                    r["description"],
                ]
                for r in rows
            ],
        )

    emit(context.studio().genai.prompts(module), json_output, human)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NS/MODULE/PROMPT, optionally :TAG or @VERSION")],
    json_output: JsonFlag = False,
) -> None:
    """A prompt's template, typed variables, digest and the module versions it changed in."""

    def human(d: dict[str, Any]) -> None:
        out = console()
        out.print(f"[bold]{d['ref']}[/]  digest {d['digest'][:12]}  ({d['file']})")
        if d["description"]:
            out.print(d["description"])
        variables = ", ".join(f"{k}: {v}" for k, v in d["variables"].items()) or "none"
        out.print(f"variables: {variables}")
        if d["system"]:
            out.print("system:", markup=False)
            out.print(d["system"], markup=False, highlight=False)
        out.print("template:", markup=False)
        out.print(d["template"], markup=False, highlight=False)
        changed = ", ".join(f"@{v['module_version']}" for v in d["versions"])
        out.print(f"changed in module versions: {changed}")
        alias = d.get("alias")
        if alias:
            report = alias.get("report") or {}
            out.print(
                f"alias {alias['name']}, set by {alias['set_by']} at {alias['set_at']}: "
                f"{report.get('stopped', '')} ({report.get('items', '?')} items)",
                markup=False,
                highlight=False,
            )

    emit(context.studio().genai.prompt(ref), json_output, human)
