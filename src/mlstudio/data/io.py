"""The governance enforcement point of the execution layer.

Before a task is dispatched (or a cached result reused), the engine asks ``check_reads``
whether the run's domain may read every column the task will be handed; the worker hands over
only the declared columns. After the task returns a table, the worker asks
``classify_output`` for each output column's classification (propagated through SQL lineage or
the Python rules, declared, declassified) and ``check_write`` whether the domain may hold it,
*before* anything is stored. Tasks get data no other way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlstudio.governance.classification import UNCLASSIFIED, Classification, Level
from mlstudio.governance.policy import DomainPolicy, Violation, evaluate_read, evaluate_write
from mlstudio.governance.propagation import PropagatedColumn, propagate_python, propagate_sql

FIELD_KEY = b"mlstudio.classification"


def field_classifications(table: Any) -> dict[str, Classification]:
    """Each field's classification from an Arrow table's field metadata (unclassified when
    a field carries none)."""
    out = {}
    for f in table.schema:
        meta = f.metadata or {}
        out[f.name] = (
            Classification.from_dict(json.loads(meta[FIELD_KEY]))
            if FIELD_KEY in meta
            else UNCLASSIFIED
        )
    return out


AUDITED_LEVEL = Level.CONFIDENTIAL


@dataclass(frozen=True)
class Read:
    """One table a task is about to be handed."""

    arg: str
    label: str  # "churn/customers@2" or "output of features"
    domain: str | None
    columns: dict[str, Classification]  # only the columns the task will get
    missing: tuple[str, ...] = ()  # declared (``columns=``) but not in the table
    known: tuple[str, ...] = ()  # the table's columns (named when one is missing)


def schema_columns(schema: Sequence[Mapping[str, Any]] | None) -> dict[str, Classification]:
    if not schema:
        return {}
    return {c["name"]: Classification.from_dict(c["classification"]) for c in schema}


def _walk_refs(inputs: Mapping[str, Any], visit: Any) -> None:
    """Call ``visit(arg, spec)`` for every stored value an input carries (through lists/dicts)."""

    def walk(arg: str, spec: Any) -> None:
        if not isinstance(spec, dict):
            return
        if "v" in spec:
            visit(arg, spec)
        elif "l" in spec:
            for item in spec["l"]:
                walk(arg, item)
        elif "d" in spec:
            for item in spec["d"].values():
                walk(arg, item)

    for arg, spec in inputs.items():
        walk(arg, spec)


def _is_table(spec: Mapping[str, Any]) -> bool:
    return spec["v"].get("format") == "parquet" and not spec.get("p")


def table_inputs(inputs: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """arg -> every table spec it carries (a table, or a list/dict of tables)."""
    found: dict[str, list[dict[str, Any]]] = {}
    _walk_refs(
        inputs,
        lambda arg, spec: found.setdefault(arg, []).append(spec) if _is_table(spec) else None,
    )
    return found


def derived_inputs(inputs: Mapping[str, Any]) -> dict[str, Classification]:
    """arg -> the classification of non-table values derived from tables (split sets, models)."""
    found: dict[str, list[Classification]] = {}

    def visit(arg: str, spec: dict[str, Any]) -> None:
        if spec["v"].get("classification") and not _is_table(spec):
            found.setdefault(arg, []).append(Classification.from_dict(spec["v"]["classification"]))

    _walk_refs(inputs, visit)
    return {arg: Classification.join_all(items) for arg, items in found.items()}


def sql_columns_used(sql: str, schemas: Mapping[str, Sequence[str]]) -> dict[str, set[str]] | None:
    """Columns each table contributes anywhere in the query (SELECT, WHERE, JOIN, GROUP BY);
    None when the SQL cannot be analysed (then every column counts as read)."""
    from mlstudio.governance.sql_reads import sql_columns_used as analyse

    return analyse(sql, schemas)


def projected(
    arg: str,
    columns: dict[str, Classification],
    options: Mapping[str, Any],
    used: dict[str, set[str]] | None,
    policy: DomainPolicy | None = None,
) -> dict[str, Classification]:
    """The columns of input ``arg`` the task is handed: those it declares, else those its SQL
    reads (none of a table the SQL does not read), else all of them.

    A table the SQL reads without naming a column (``SELECT count(*) FROM t``) is handed one
    column, so that its rows are there: :func:`row_count_column`."""
    declared = (options.get("columns") or {}).get(arg)
    if declared:
        return {c: columns.get(c, UNCLASSIFIED) for c in declared}
    if used is not None and "*" not in columns:  # "*": a table of unknown schema
        if arg not in used:
            return {}
        if not used[arg] and columns:
            name = row_count_column(columns, policy)
            return {name: columns[name]}
        return {c: columns[c] for c in sorted(used[arg]) if c in columns}
    return columns


def row_count_column(
    columns: Mapping[str, Classification], policy: DomainPolicy | None = None
) -> str:
    """The column to hand a query that only counts rows: one ``policy`` may read, the least
    classified (level, then number of labels, then schema order). If the domain may read none,
    the least classified one, whose read the policy then refuses like any other."""

    def rank(item: tuple[int, tuple[str, Classification]]) -> tuple[int, int, int, int]:
        index, (name, classification) = item
        readable = policy is None or not evaluate_read(policy, "", None, {name: classification})
        labels = len(classification.labels or ())
        return (0 if readable else 1, int(classification.effective_level), labels, index)

    _, (name, _) = min(enumerate(columns.items()), key=rank)
    return name


def placeholder_columns(
    inputs: Mapping[str, Mapping[str, Classification]], specs: Mapping[str, Any]
) -> dict[str, list[str]]:
    """arg -> every column of the table, in its order, for each input of which an SQL task
    gets some columns as all-NULL placeholders (see ``runtime._project``)."""
    out: dict[str, list[str]] = {}
    for arg, handed in inputs.items():
        spec = specs.get(arg)
        if not isinstance(spec, dict) or "v" not in spec or not _is_table(spec):
            continue
        every = [c["name"] for c in spec["v"].get("schema") or []]
        if any(name not in handed for name in every):
            out[arg] = every
    return out


def handed_tables(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Input name (``arg``, or ``arg[i]`` in a list) -> the Arrow table a task is handed,
    taken before user code runs (Arrow tables are immutable)."""
    from mlstudio.data.dataset import Dataset

    out: dict[str, Any] = {}
    for arg, value in kwargs.items():
        if isinstance(value, Dataset):
            out[arg] = value.to_arrow()
        elif isinstance(value, list | tuple):
            tables = [v for v in value if isinstance(v, Dataset)]
            if len(tables) == len(value) and tables:
                for index, item in enumerate(tables):
                    out[arg if len(tables) == 1 else f"{arg}[{index}]"] = item.to_arrow()
    return out


def prove_same_name(
    output: Any,
    inputs: Mapping[str, Mapping[str, Classification]],
    handed: Mapping[str, Any],
) -> dict[str, list[tuple[str, str]]]:
    """Which same-named output columns are provably copies of input columns (and of which)."""
    from mlstudio.governance.column_identity import proven_sources

    same_name: dict[str, list[tuple[str, str]]] = {}
    for arg, columns in inputs.items():
        for column in columns:
            if column in output.column_names:
                same_name.setdefault(column, []).append((arg, column))
    tables = {arg: table for arg, table in handed.items() if arg in inputs}
    return proven_sources(output, tables, same_name)


def read_of(
    arg: str,
    label: str,
    domain: str | None,
    columns: dict[str, Classification],
    options: Mapping[str, Any],
    used: dict[str, set[str]] | None,
    policy: DomainPolicy | None = None,
) -> Read:
    """The :class:`Read` of input ``arg``: the columns the task gets, and those it declares
    (``columns=``) that the table does not have (a table of unknown schema has none missing)."""
    declared = (options.get("columns") or {}).get(arg) or []
    missing = () if "*" in columns else tuple(c for c in declared if c not in columns)
    return Read(
        arg,
        label,
        domain,
        projected(arg, columns, options, used, policy),
        missing,
        tuple(columns) if missing else (),
    )


def check_reads(policy: DomainPolicy, reads: Iterable[Read]) -> list[Violation]:
    out: list[Violation] = []
    for read in reads:
        for column in read.missing:  # not "unclassified": it does not exist
            out.append(
                Violation(
                    read.label,
                    column,
                    "missing",
                    f"{read.label} has no column {column} (its columns: {', '.join(read.known)})",
                    f"fix columns={{{read.arg.split('[')[0]!r}: [...]}} of the task",
                )
            )
        present = {c: k for c, k in read.columns.items() if c not in read.missing}
        out.extend(evaluate_read(policy, read.label, read.domain, present))
    return out


def sensitive(columns: Mapping[str, Classification]) -> dict[str, str]:
    """Columns worth an audit event on read: confidential or above (unclassified included)."""
    return {c: k.spec() for c, k in columns.items() if k.effective_level >= AUDITED_LEVEL}


def classify_output(
    *,
    sql: str | None,
    inputs: Mapping[str, Mapping[str, Classification]],
    output_columns: Sequence[str],
    options: Mapping[str, Any],
    placeholders: Mapping[str, Sequence[str]] | None = None,
    proven: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> list[PropagatedColumn]:
    """Each output column's classification and where it came from (DESIGN.md §3 rules).

    ``placeholders``: see :func:`propagate_sql` (SQL tasks only); ``proven``: see
    :func:`propagate_python` (Python tasks only; :func:`prove_same_name` computes it)."""
    from mlstudio.governance.propagation import ColumnProvenance

    declared = {k: Classification.parse(v) for k, v in (options.get("classify") or {}).items()}
    if sql is not None and inputs:
        propagated = propagate_sql(
            sql, inputs, output_columns=list(output_columns), placeholders=placeholders
        )
    elif inputs:
        propagated = propagate_python(
            inputs, list(output_columns), options.get("lineage"), proven=proven
        )
    else:
        # A table made from nothing but code and parameters: its columns are unclassified
        # (enforced as restricted) unless the task declares their classification.
        propagated = [
            PropagatedColumn(c, UNCLASSIFIED, ColumnProvenance("unclassified", ()))
            for c in output_columns
        ]
    out = []
    default = declared.get("*")
    for column in propagated:
        chosen = declared.get(column.name) or default
        if chosen is not None:
            # A declaration names a generated column's tags; on a propagated column it may only
            # raise (an unclassified or labelled source is lowered only by a declassifier).
            generated = column.provenance.rule == "unclassified"
            value = chosen if generated else column.classification.join(chosen)
            out.append(
                PropagatedColumn(
                    column.name, value, ColumnProvenance("declared", column.provenance.sources)
                )
            )
        else:
            out.append(column)
    return out


def check_write(
    policy: DomainPolicy, label: str, columns: Mapping[str, Classification], persist_named: bool
) -> list[Violation]:
    return evaluate_write(policy, label, columns, persist_named)


def schema_entry(name: str, arrow_type: str, column: PropagatedColumn) -> dict[str, Any]:
    return {
        "name": name,
        "type": arrow_type,
        "classification": column.classification.to_dict(),
        "provenance": {"rule": column.provenance.rule, "sources": list(column.provenance.sources)},
    }


def with_field_metadata(table: Any, schema: Sequence[Mapping[str, Any]]) -> Any:
    """The table with each column's classification in its Arrow field metadata."""
    import pyarrow as pa

    by_name = {c["name"]: c for c in schema}
    fields = []
    for field in table.schema:
        meta = dict(field.metadata or {})
        if field.name in by_name:
            meta[FIELD_KEY] = json.dumps(
                by_name[field.name]["classification"], sort_keys=True
            ).encode()
        fields.append(field.with_metadata(meta))
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))
