"""``mlstudio flag …``: feature flags (kill switches, canary splits, targeting rules)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col
from mlstudio.errors import InvalidInputError

app = typer.Typer(
    help="Feature flags with OpenFeature semantics: set, list, show, remove, eval.",
    add_completion=False,
    no_args_is_help=True,
)

Key = Annotated[str, typer.Argument(help="Flag key, e.g. serve.churn.kill")]


def _describe(f: dict[str, Any]) -> str:
    if not f["enabled"]:
        return "disabled (callers get their default)"
    parts = [f"default {f['default_variant']}={json.dumps(f['variants'][f['default_variant']])}"]
    if f["split"]:
        total = sum(s["weight"] for s in f["split"])
        parts.append(
            "split "
            + " / ".join(f"{s['variant']} {s['weight'] * 100 / total:g}%" for s in f["split"])
        )
    for r in f["rules"]:
        parts.append(f"{r['attribute']} in {','.join(map(str, r['in']))} -> {r['variant']}")
    return "; ".join(parts)


def _print_flag(f: dict[str, Any]) -> None:
    c = console()
    c.print(f"{f['key']} ({f['kind']}, revision {f['revision']}): {_describe(f)}", markup=False)
    c.print(f"  variants {json.dumps(f['variants'])}", markup=False)
    if f["namespace"]:
        c.print(f"  namespace {f['namespace']}", markup=False)
    c.print(f"  changed by {f['updated_by']} at {f['updated_at']}", markup=False)


def _variants(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    from mlstudio.integrations.serving.flag_service import parse_value

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError(
                f"invalid variant {item!r}", hint="NAME=VALUE, e.g. --variant on=true"
            )
        out[name.strip()] = parse_value(value)
    return out


@app.command("set")
def set_flag(
    key: Key,
    value: Annotated[
        str | None, typer.Option("--value", help="The value served (true/false, number, text)")
    ] = None,
    variants: Annotated[
        list[str] | None, typer.Option("--variant", help="NAME=VALUE (repeatable)")
    ] = None,
    default: Annotated[str | None, typer.Option("--default", help="Default variant")] = None,
    split: Annotated[
        list[str] | None,
        typer.Option("--split", help="VARIANT=WEIGHT (repeatable), by a sticky subject hash"),
    ] = None,
    no_split: Annotated[bool, typer.Option("--no-split", help="Remove the split")] = False,
    rules: Annotated[
        list[str] | None,
        typer.Option("--rule", help="ATTR=V1,V2->VARIANT (repeatable; first match wins)"),
    ] = None,
    enable: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="--disable: every caller gets its default"),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace that manages it")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create or change a flag; what is not given stays as it was. Audited."""
    from mlstudio.integrations.serving.flag_service import parse_value

    result = context.studio().flags.set(
        key,
        value=parse_value(value) if value is not None else None,
        variants=_variants(variants),
        default_variant=default,
        split=split or None,
        clear_split=no_split,
        rules=rules,
        enabled=enable,
        namespace=namespace,
        description=description,
    )
    emit(result, json_output, _print_flag)


@app.command("list")
def list_flags(
    prefix: Annotated[str | None, typer.Option("--prefix", help="Keys starting with")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Every flag and what it serves."""
    rows = context.studio().flags.list(prefix)

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console().print("no flags; add one with `mlstudio flag set KEY --value true`")
            return
        table(
            None,
            [Col("key", key=True), Col("kind"), Col("serves"), Col("rev", drop=1)],
            [[f["key"], f["kind"], _describe(f), str(f["revision"])] for f in rows],
        )

    emit(rows, json_output, human)


@app.command("show")
def show(key: Key, json_output: JsonFlag = False) -> None:
    """One flag's definition."""
    emit(context.studio().flags.show(key), json_output, _print_flag)


@app.command("remove")
def remove(key: Key, json_output: JsonFlag = False) -> None:
    """Remove a flag (callers then get their default with FLAG_NOT_FOUND). Audited."""
    result = context.studio().flags.remove(key)
    emit(result, json_output, lambda r: console().print(f"removed flag {r['key']}", markup=False))


@app.command("eval")
def evaluate(
    key: Key,
    default: Annotated[
        str | None, typer.Option("--default", help="The caller's default value")
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Targeting key (user, account)")
    ] = None,
    attributes: Annotated[
        list[str] | None, typer.Option("--attr", help="ATTR=VALUE for rules (repeatable)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """What the flag answers a subject, with the OpenFeature reason."""
    from mlstudio.integrations.serving.flag_service import parse_value

    ctx = {}
    for item in attributes or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(f"invalid --attr {item!r}", hint="ATTR=VALUE")
        ctx[name] = value
    result = context.studio().flags.evaluate(
        key, parse_value(default) if default is not None else None, subject=subject, context=ctx
    )

    def human(r: dict[str, Any]) -> None:
        extra = f" ({r['error_code']}: {r['error_message']})" if r["error_code"] else ""
        console().print(
            f"{r['key']} = {json.dumps(r['value'])} variant {r['variant'] or '-'} "
            f"reason {r['reason']}{extra}",
            markup=False,
        )

    emit(result, json_output, human)
