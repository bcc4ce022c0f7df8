"""``mlstudio features …``: feature views, point-in-time training sets, the online store."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col, WideFlag
from mlstudio.errors import InvalidInputError

app = typer.Typer(
    help="Feature views (versioned on module push), point-in-time training sets, online reads.",
    add_completion=False,
    no_args_is_help=True,
)

View = Annotated[str, typer.Argument(help="Feature view NS/VIEW or NS/VIEW@VERSION")]
Store = Annotated[str, typer.Option("--store", help="Online store: sqlite (embedded) or redis")]


@app.command("list")
def list_views(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    search: Annotated[str | None, typer.Option("--search")] = None,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Every feature view at its newest version: owner, classification, the models that use
    it, when it was last materialized. --search matches names, descriptions, owners and
    feature names."""
    rows = context.studio().features.list(namespace=namespace, search=search)

    def human(rows: list[dict[str, Any]]) -> None:
        table(
            None,
            [
                Col("view", key=True),
                Col("entity", drop=5),
                Col("features", drop=4),
                Col("max age", drop=3),
                Col("owner", drop=2),
                Col("classification"),
                Col("models"),
                Col("materialized", drop=1),
            ],
            [
                [
                    r["ref"],
                    r["entity"],
                    str(len(r["features"])),
                    _age(r["max_age_s"]),
                    r.get("owner") or "-",
                    r.get("classification") or "-",
                    ", ".join(r.get("models") or []) or "-",
                    r.get("materialized_at") or "never",
                ]
                for r in rows
            ],
            wide=wide,
        )

    emit(rows, json_output, human)


@app.command("show")
def show(ref: View, json_output: JsonFlag = False) -> None:
    """A view version: keys, times, features with their classification, consumers."""
    data = context.studio().features.show(ref)

    def human(d: dict[str, Any]) -> None:
        keys = ", ".join(f"{k}:{t}" for k, t in d["join_keys"])
        console().print(
            f"[bold]{escape(d['ref'])}[/]  "
            + escape(
                f"entity {d['entity']} ({keys})  event time {d['event_time']}  "
                f"knowledge time {d['knowledge_time'] or '-'}  max age {_age(d['max_age_s'])}  "
                f"versions {d['versions']}"
            )
        )
        table(
            None,
            [Col("feature", key=True), Col("type"), Col("classification")],
            [[f, t, d["classification"].get(f, "")] for f, t in d["features"]],
        )

    emit(data, json_output, human)


@app.command("diff")
def diff(a: View, b: View, json_output: JsonFlag = False) -> None:
    """What changed between two view versions."""
    data = context.studio().features.diff(a, b)

    def human(d: dict[str, Any]) -> None:
        con = console()
        if d["same"]:
            con.print(escape(f"{d['from']} and {d['to']} are the same"))
            return
        for label in ("features_added", "features_removed"):
            if d[label]:
                con.print(escape(f"{label.replace('_', ' ')}: {', '.join(d[label])}"))
        for name, change in {**d["features_retyped"], **d["changed"]}.items():
            con.print(escape(f"{name}: {change['from']} -> {change['to']}"))

    emit(data, json_output, human)


@app.command("training-set")
def training_set(
    entities: Annotated[str, typer.Argument(help="Entity dataset NS/NAME[@V] (keys + label time)")],
    features: Annotated[
        list[str], typer.Option("--features", "-f", help="NS/VIEW[@V][:F1,F2] (repeatable)")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="The label-time column")],
    domain: Annotated[str, typer.Option("--domain")] = "experimentation",
    inclusive: Annotated[
        bool, typer.Option("--inclusive", help="Also use values stamped exactly at label time")
    ] = False,
    ignore_knowledge_time: Annotated[
        bool,
        typer.Option(
            "--ignore-knowledge-time", help="Use values not yet known at label time (leaks!)"
        ),
    ] = False,
    save: Annotated[str | None, typer.Option("--save", help="Save as dataset NS/NAME")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write a file")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Build a point-in-time training set (latest value strictly before each label time)."""
    data = context.studio().features.training_set(
        entities,
        features,
        as_of=as_of,
        domain=domain,
        inclusive=inclusive,
        known_by=not ignore_knowledge_time,
        save=save,
        file=output,
    )

    def human(d: dict[str, Any]) -> None:
        console().print(
            escape(
                f"{d['rows']} rows from {d['entities']} with {', '.join(d['views'])}"
                + (f" -> {d['dataset']}" if d.get("dataset") else "")
                + (f" -> {d['file']}" if d.get("file") else "")
            )
        )

    emit(data, json_output, human)


@app.command("materialize")
def materialize(
    ref: View,
    store: Store = "sqlite",
    domain: Annotated[str, typer.Option("--domain")] = "production",
    full: Annotated[bool, typer.Option("--full", help="Rewrite every key")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Write the newest value per key to the online store (incremental by default)."""
    data = context.studio().features.materialize(ref, store=store, domain=domain, full=full)
    emit(
        data,
        json_output,
        lambda d: console().print(escape(f"{d['view']}: {d['written']} keys to {d['store']}")),
    )


def _key(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text.split(",")
    return value if isinstance(value, list) else [value]


@app.command("get")
def get(
    ref: View,
    key: Annotated[
        list[str], typer.Option("--key", "-k", help="Key value; composite: a,b or JSON list")
    ],
    store: Store = "sqlite",
    domain: Annotated[str, typer.Option("--domain")] = "production",
    feature: Annotated[list[str] | None, typer.Option("--feature")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Read features of keys from the online store (expired values are missing)."""
    if not key:
        raise InvalidInputError("no --key given", hint="pass --key VALUE")
    data = context.studio().features.get(
        ref, [_key(k) for k in key], domain=domain, store=store, features=feature
    )

    def human(d: dict[str, Any]) -> None:
        table(
            None,
            [Col("key", key=True), Col("status"), Col("values")],
            [
                [json.dumps(r["key"]), r["status"], json.dumps(r["values"], default=str)]
                for r in d["results"]
            ],
        )

    emit(data, json_output, human)


@app.command("check")
def check(
    ref: View,
    store: Store = "sqlite",
    sample: Annotated[int, typer.Option("--sample")] = 100,
    domain: Annotated[str, typer.Option("--domain")] = "production",
    json_output: JsonFlag = False,
) -> None:
    """Training-serving consistency: online values vs offline point-in-time values now."""
    data = context.studio().features.check(ref, store=store, sample=sample, domain=domain)
    emit(
        data,
        json_output,
        lambda d: console().print(
            escape(f"{d['view']}: {d['checked']} keys checked, {d['mismatches']} mismatches")
        ),
    )
    if not data["consistent"]:
        raise typer.Exit(1)


def _age(seconds: int | None) -> str:
    """``1209600`` -> ``14d`` (the largest unit that divides it), ``-`` for no bound."""
    if not seconds:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
