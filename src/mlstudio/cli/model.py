"""``mlstudio model …``: the model registry from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col, WideFlag

app = typer.Typer(
    help="Register, show, alias, approve and protect models.",
    add_completion=False,
    no_args_is_help=True,
)

ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded)")]


def _parse_at(text: str | None) -> Any:
    if text is None:
        return None
    from datetime import UTC, datetime

    from mlstudio.errors import InvalidInputError

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"invalid --at {text!r}", hint="use an ISO time, e.g. 2026-11-03T14:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _print_version(v: dict[str, Any]) -> None:
    c = console()
    approval = v["approval"]
    by = f" by {approval['by']} ({approval['reason']})" if approval["by"] else ""
    c.print(f"[bold]{v['ref']}[/]  digest {v['digest'][:12]}  {approval['state']}{by}", markup=True)
    c.print(f"  classification {v['classification']}", markup=False)
    if v["run_id"]:
        c.print(f"  from run {v['run_id']} task {v['node']} ({v['module'] or '-'})", markup=False)
    else:
        c.print(f"  source {v['source']}", markup=False)
    for ds in (v["lineage"] or {}).get("datasets", []):
        c.print(f"  trained on {ds['name']}@{ds['version']} ({ds['classification']})", markup=False)
    if v["aliases"]:
        c.print(f"  aliases {', '.join(v['aliases'])}", markup=False)


def _print_move(m: dict[str, Any]) -> None:
    if not m["moved"]:
        console().print(f"{m['model']}@{m['alias']} already at {m['to_version']}", markup=False)
        return
    to = m["to_version"] if m["to_version"] is not None else "(removed)"
    console().print(f"{m['model']}@{m['alias']}: {m['from_version'] or '∅'} → {to}", markup=False)


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Model name, e.g. churn-model")],
    run: Annotated[str, typer.Option("--run", help="Run whose task returned the Model")],
    task: Annotated[
        str | None, typer.Option("--task", help="Task (or node) that returned it")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace of a new model")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Register the Model a run's task returned as the model's next version."""
    result = context.studio().models.register(
        name, run, task=task, namespace=namespace, description=description
    )
    emit(result, json_output, _print_version)


@app.command("list")
def list_models(
    search: Annotated[str | None, typer.Option("--search", "-s")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Every registered model with its aliases."""
    rows = context.studio().models.list(search, limit=limit, offset=offset)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no models; register one with `mlstudio model register NAME --run RUN`")
            return
        table(
            None,
            [Col("model", key=True), Col("versions"), Col("aliases"), Col("owner", drop=1)],
            [
                [
                    m["name"],
                    m["latest_version"],
                    ", ".join(f"{k}→{v}" for k, v in sorted(m["aliases"].items())),
                    m["owner"],
                ]
                for m in data
            ],
            wide=wide,
        )

    emit(rows, json_output, human)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@ALIAS or NAME/VERSION")],
    at: Annotated[
        str | None, typer.Option("--at", help="Where NAME@ALIAS pointed at this ISO time")
    ] = None,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """A model: the selected version with lineage and approval, versions, alias history."""
    data = context.studio().models.show(ref, at=_parse_at(at))

    def human(d: dict[str, Any]) -> None:
        m = d["model"]
        console().print(
            f"{m['name']}  owner {m['owner']}  protected: {', '.join(m['protected_aliases']) or '-'}",
            markup=False,
        )
        if d["selected"]:
            _print_version(d["selected"])
        table(
            "versions",
            [
                Col("version", key=True),
                Col("aliases"),
                Col("approval"),
                Col("classification"),
                Col("by", drop=1),
                Col("at", drop=2),
            ],
            [
                [
                    v["version"],
                    ", ".join(v["aliases"]),
                    v["approval"],
                    v["classification"],
                    v["created_by"],
                    v["created_at"],
                ]
                for v in d["versions"]
            ],
            wide=wide,
        )
        if d["alias_history"]:
            table(
                "alias history",
                [Col("at"), Col("alias", key=True), Col("move"), Col("by")],
                [
                    [
                        e["at"],
                        e["alias"],
                        f"{e['from_version'] or '∅'} → {e['to_version'] or '∅'}",
                        e["actor"],
                    ]
                    for e in d["alias_history"]
                ],
                wide=wide,
            )

    emit(data, json_output, human)


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="Model name")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion")],
    version: Annotated[int | None, typer.Argument(help="Version to point it at")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias")] = False,
    override_reason: Annotated[
        str | None,
        typer.Option(
            "--override-reason",
            help="Move a gated alias without a passing evaluation (an approver; audited)",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Point ALIAS at VERSION (recorded; a protected alias needs an approved version, a gated
    one an evaluation that shows the version non-inferior)."""
    from mlstudio.errors import InvalidInputError

    models = context.studio().models
    if delete:
        if version is not None:
            raise InvalidInputError("--delete takes no VERSION", hint="drop the VERSION")
        result = models.unalias(name, alias_name)
    else:
        if version is None:
            raise InvalidInputError(
                "missing VERSION", hint=f"mlstudio model alias {name} {alias_name} N"
            )
        result = models.alias(name, alias_name, version, override_reason=override_reason)
    emit(result, json_output, _print_move)


@app.command("gate")
def gate(
    name: Annotated[str, typer.Argument(help="Model name")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion")],
    on: Annotated[
        str | None, typer.Option("--on", help="Evaluation set NS/NAME (its latest version)")
    ] = None,
    metric: Annotated[str | None, typer.Option("--metric", "-m", help="e.g. auc")] = None,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Non-inferiority margin")
    ] = 0.0,
    slices: Annotated[
        list[str] | None, typer.Option("--slice", help="Slice column that must not regress")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Drop the gate")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Require an evaluation (mlstudio eval compare) before ALIAS moves: the new version must be
    non-inferior to the current one on METRIC within MARGIN, and no slice worse."""
    result = context.studio().models.gate(
        name, alias_name, on=on, metric=metric, margin=margin, slices=slices, remove=remove
    )

    def show(r: dict[str, Any]) -> None:
        g = r["gate"]
        if g is None:
            console().print(f"{r['model']}@{r['alias']}: no gate", markup=False)
            return
        console().print(
            f"{r['model']}@{r['alias']} moves only after an evaluation on {g['on']}: "
            f"non-inferior on {g['metric']} within {g['margin']}"
            + (f", slices {', '.join(g['slices'])}" if g["slices"] else ""),
            markup=False,
        )

    emit(result, json_output, show)


@app.command("approve")
def approve(
    name: Annotated[str, typer.Argument(help="Model name")],
    version: Annotated[int, typer.Argument(help="Version number")],
    reason: ReasonOption,
    json_output: JsonFlag = False,
) -> None:
    """Approve a version (not your own), bound to its digest."""
    emit(context.studio().models.approve(name, version, reason), json_output, _print_version)


@app.command("reject")
def reject(
    name: Annotated[str, typer.Argument(help="Model name")],
    version: Annotated[int, typer.Argument(help="Version number")],
    reason: ReasonOption,
    json_output: JsonFlag = False,
) -> None:
    """Reject a version (not your own): protected aliases then refuse it."""
    emit(context.studio().models.reject(name, version, reason), json_output, _print_version)


@app.command("protect")
def protect(
    name: Annotated[str, typer.Argument(help="Model name")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    off: Annotated[bool, typer.Option("--off", help="Unprotect it instead")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Make ALIAS protected: it may then point at approved versions only."""
    result = context.studio().models.protect(name, alias_name, not off)
    emit(
        result,
        json_output,
        lambda m: console().print(
            f"{m['name']}: protected aliases {', '.join(m['protected_aliases']) or '(none)'}",
            markup=False,
        ),
    )
