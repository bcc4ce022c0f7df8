"""``mlstudio data …``: the dataset catalog, classification, lineage, export, declassifiers."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col, WideFlag

app = typer.Typer(
    help="Import, classify, trace and export datasets; record and approve declassifiers.",
    add_completion=False,
    no_args_is_help=True,
)

Ref = Annotated[str, typer.Argument(help="Dataset NS/NAME or NS/NAME@VERSION")]


def _provenance(prov: dict[str, Any]) -> str:
    rule = prov.get("rule", "")
    if rule == "manual":
        return f"manual by {prov.get('actor')} at {prov.get('at')}"
    if prov.get("sources"):
        return f"{rule} from {', '.join(prov['sources'])}"
    return rule


def _print_dataset(d: dict[str, Any]) -> None:
    con = console()
    source = d["source"]
    origin = (
        f"imported from {source.get('file')}"
        if source.get("kind") == "import"
        else f"written by run {source.get('run_id')} ({source.get('task') or source.get('node')})"
    )
    con.print(
        f"[bold]{d['ref']}[/]  "
        + escape(
            f"domain {d['domain']}  {d['rows']} rows  {origin}  "
            f"by {d['created_by']} at {d['created_at']}"
        )
    )
    table(
        None,
        [
            Col("column", key=True),
            Col("type", drop=2),
            Col("classification", key=True),
            Col("enforced as", drop=1),
            Col("from", drop=3),
        ],
        [
            [
                c["name"],
                c["type"],
                c["classification"],
                c["effective_level"],
                _provenance(c["provenance"]),
            ]
            for c in d["columns"]
        ],
    )
    if d["unclassified"]:
        con.print(
            "[yellow]unclassified (enforced as restricted):[/] "
            + escape(", ".join(d["unclassified"]))
        )
    changes = d.get("schema_changes")
    if changes:
        from mlstudio.data.changes import any_change, describe_schema_changes

        mark = "[yellow]![/]" if any_change(changes) else "="
        con.print(
            f"{mark} since {escape(changes['previous'])}: "
            + escape(describe_schema_changes(changes))
        )


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="A .csv or .parquet file")],
    name: Annotated[str, typer.Option("--name", help="Dataset name NS/NAME")],
    domain: Annotated[
        str, typer.Option("--domain", help="Domain the dataset belongs to")
    ] = "production",
    classify: Annotated[
        list[str] | None,
        typer.Option("--classify", help="COL=LEVEL[+LABEL...] (repeatable; needs steward)"),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Import a file as the next version of a dataset; unclassified columns count as restricted."""
    data = context.studio().datasets.import_file(file, name, domain=domain, classify=classify or [])
    emit(data, json_output, _print_dataset)


@app.command("list")
def list_datasets(
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Only this namespace")
    ] = None,
    search: Annotated[str | None, typer.Option("--search", help="Name contains TEXT")] = None,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """The newest version of every dataset."""

    def human(rows: list[dict[str, Any]]) -> None:
        table(
            None,
            [
                Col("dataset", key=True),
                Col("domain"),
                Col("rows", drop=3),
                Col("columns", drop=4),
                Col("max level"),
                Col("labels", drop=1),
                Col("unclassified", drop=2),
            ],
            [
                [
                    r["ref"],
                    r["domain"],
                    r["rows"],
                    r["columns"],
                    r["max_level"],
                    ", ".join(r["labels"]),
                    r["unclassified"] or "",
                ]
                for r in rows
            ],
            wide=wide,
        )

    rows = context.studio().datasets.list(namespace=namespace, search=search)
    emit(rows, json_output, human)


@app.command("show")
def show(ref: Ref, json_output: JsonFlag = False) -> None:
    """A dataset version's columns with level, labels and where each tag came from."""
    data = context.studio().datasets.show(ref)
    emit(data, json_output, _print_dataset)


@app.command("classify")
def classify(
    ref: Ref,
    specs: Annotated[list[str], typer.Argument(help="COL=LEVEL[+LABEL...] ...")],
    json_output: JsonFlag = False,
) -> None:
    """Raise columns' classification (stewards only; lowering needs a declassifier)."""
    data = context.studio().datasets.classify(ref, specs)

    def human(d: dict[str, Any]) -> None:
        for change in d["changes"]:
            console().print(
                "[green]✓[/] "
                + escape(f"{d['ref']}.{change['column']}: {change['from']} → {change['to']}")
            )
        if not d["changes"]:
            console().print(f"{d['ref']}: nothing changed")

    emit(data, json_output, human)


@app.command("lineage")
def lineage(
    ref: Ref,
    column: Annotated[str | None, typer.Option("--column", help="Only this column")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Upstream columns, tasks, runs and imports of each column."""

    def label(node: dict[str, Any]) -> str:
        kind = node["kind"]
        tag = f" {{{node['classification']}}}" if node.get("classification") else ""
        rule = f" ({node['rule']})" if node.get("rule") else ""
        if kind == "dataset":
            return f"{node['dataset']}@{node['version']}.{node['column']}{tag}{rule}"
        if kind == "task":
            return (
                f"task {node.get('module') or ''}:{node.get('task')} "
                f"(run {node['run']}, node {node['node']}).{node['column']}{tag}{rule}"
            )
        if kind == "import":
            return f"import of {node.get('file')} by {node.get('by')} at {node.get('at')}"
        if kind == "constant":
            return f"constant input of run {node.get('run')}"
        return f"unresolved: {node.get('reason')}"

    def text(node: dict[str, Any]):
        from rich.text import Text

        return Text(label(node), overflow="fold")  # a long label wraps, never cut

    def human(d: dict[str, Any]) -> None:
        from rich.tree import Tree

        for graph in d["columns"]:
            nodes = {n["id"]: n for n in graph["nodes"]}
            upstream: dict[str, list[str]] = {}
            for edge in graph["edges"]:
                upstream.setdefault(edge["to"], []).append(edge["from"])
            tree = Tree(text(nodes[graph["root"]]))
            stack = [(graph["root"], tree, frozenset([graph["root"]]))]
            while stack:
                node_id, branch, path = stack.pop()
                for up in upstream.get(node_id, []):
                    child = branch.add(text(nodes[up]))
                    if up not in path:
                        stack.append((up, child, path | {up}))
            console().print(tree, soft_wrap=False)  # soft wrap would crop the tree's lines

    graphs = context.studio().datasets.lineage(ref, column)
    emit(graphs, json_output, human)


@app.command("export")
def export(
    ref: Ref,
    file: Annotated[str, typer.Argument(help="Target .csv or .parquet file")],
    domain: Annotated[
        str, typer.Option("--domain", help="Domain whose policy the export is read under")
    ] = "experimentation",
    json_output: JsonFlag = False,
) -> None:
    """Write a dataset version to a file, if the domain may read every column."""
    data = context.studio().datasets.export(ref, file, domain=domain)
    emit(
        data,
        json_output,
        lambda d: console().print(
            "[green]✓[/] "
            + escape(f"{d['dataset']} → {d['file']} ({d['rows']} rows, domain {d['domain']})")
        ),
    )


@app.command("head")
def head(
    ref: Ref,
    rows: Annotated[int, typer.Option("-n", "--rows", help="Rows to show (1..1000)")] = 20,
    columns: Annotated[
        str | None, typer.Option("--columns", help="Only these columns: a,b")
    ] = None,
    domain: Annotated[
        str, typer.Option("--domain", help="Domain whose policy the rows are read under")
    ] = "experimentation",
    json_output: JsonFlag = False,
) -> None:
    """The first rows of a dataset version: only the columns the domain may read."""
    from mlstudio.cli.results import print_head

    wanted = [columns] if columns is not None else None
    data = context.studio().datasets.head(ref, rows=rows, columns=wanted, domain=domain)
    emit(data, json_output, print_head)


@app.command("delete")
def delete(ref: Ref, json_output: JsonFlag = False) -> None:
    """Delete a version (NS/NAME@V) or every version (NS/NAME) nothing needs any more."""
    from mlstudio.cli.results import print_deletion

    emit(context.studio().datasets.delete(ref), json_output, print_deletion)


# --- declassifiers -------------------------------------------------------------------------------
def _print_declassifier(d: dict[str, Any]) -> None:
    changes = []
    if d["lower_to"]:
        changes.append(f"lower to {d['lower_to']}")
    if d["remove_labels"]:
        changes.append(f"remove {', '.join(d['remove_labels'])}")
    console().print(
        escape(
            f"declassifier {d['id']} ({d['state']}): {d['module']}:{d['task']} "
            f"columns {', '.join(d['columns'])}: {'; '.join(changes)}"
        )
    )


@app.command("declassify")
def declassify(
    module: Annotated[str, typer.Argument(help="Module NS/MODULE[@N|:TAG] (default tag latest)")],
    task: Annotated[str, typer.Argument(help="Task of that module")],
    column: Annotated[
        list[str] | None, typer.Option("--column", help="Output column (repeatable)")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Lower the level to LEVEL")] = None,
    remove_label: Annotated[
        list[str] | None, typer.Option("--remove-label", help="Remove this label (repeatable)")
    ] = None,
    justification: Annotated[
        str, typer.Option("--justification", help="Why the columns are less sensitive")
    ] = "",
    json_output: JsonFlag = False,
) -> None:
    """Record a declassifier for a task's output columns (stewards; a second person approves)."""
    record = context.studio().declassifiers.create(
        module,
        task,
        column or [],
        lower_to=to,
        remove_labels=remove_label or [],
        justification=justification,
    )

    def human(d: dict[str, Any]) -> None:
        _print_declassifier(d)
        console().print(f"ask another steward to approve it: mlstudio data approve {d['id']}")

    emit(record, json_output, human)


@app.command("declassifiers")
def declassifiers(
    state: Annotated[
        str | None, typer.Option("--state", help="pending | approved | revoked")
    ] = None,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Every declassifier, oldest first."""

    def human(rows: list[dict[str, Any]]) -> None:
        table(
            None,
            [
                Col("id", key=True),
                Col("state"),
                Col("task", key=True),
                Col("columns"),
                Col("lower to", drop=2),
                Col("remove", drop=1),
                Col("by", drop=4),
                Col("approved by", drop=3),
            ],
            [
                [
                    r["id"],
                    r["state"],
                    f"{r['module']}:{r['task']}",
                    ", ".join(r["columns"]),
                    r["lower_to"] or "",
                    ", ".join(r["remove_labels"]),
                    r["created_by"],
                    r["approved_by"] or "",
                ]
                for r in rows
            ],
            wide=wide,
        )

    emit(context.studio().declassifiers.list(state), json_output, human)


@app.command("approve")
def approve(
    declassifier_id: Annotated[str, typer.Argument(metavar="ID", help="Declassifier id")],
    json_output: JsonFlag = False,
) -> None:
    """Approve a pending declassifier (a steward or admin who did not create it)."""
    emit(context.studio().declassifiers.approve(declassifier_id), json_output, _print_declassifier)


@app.command("revoke")
def revoke(
    declassifier_id: Annotated[str, typer.Argument(metavar="ID", help="Declassifier id")],
    json_output: JsonFlag = False,
) -> None:
    """Revoke a declassifier: it stops applying to new outputs."""
    emit(context.studio().declassifiers.revoke(declassifier_id), json_output, _print_declassifier)
