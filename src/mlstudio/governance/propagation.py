"""Classification propagation through SQL tasks, Python tasks and model training.

The rule everywhere: an output column's classification is the join (max level, union of labels)
of the classifications of every input column it derives from; an unclassified source makes the
output unclassified (enforced as restricted). What differs is how "derives from" is known:

* SQL tasks: exact column lineage from :mod:`mlstudio.governance.sql_lineage`. Sources reached
  only through a hash keep their labels, marked pseudonymous; ``dataset`` outputs (``COUNT(*)``,
  literals) also inherit every column of their ``dataset_tables``; ``coarse`` outputs every
  input column.
* Python tasks: a column named like an input column keeps that column's classification
  (``passthrough``) when its values are proven to be that column's (``proven``: same buffers,
  row-aligned equal values, or a sub-multiset; joined with every other input column they
  could be a copy of); any other column gets the join of every input column (``union``),
  unless the task declares the column's sources (``declared``).
* Models: the join of every column of every training input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mlstudio.errors import InvalidInputError
from mlstudio.governance.classification import UNCLASSIFIED, Classification

if TYPE_CHECKING:  # sqlglot is imported lazily: it costs ~80 ms at import time
    from mlstudio.governance.sql_lineage import ColumnSource

Inputs = Mapping[str, Mapping[str, Classification]]

RULES = (
    "identity",
    "transformation",
    "masking",
    "aggregation",
    "dataset",
    "coarse",
    "passthrough",
    "declared",
    "union",
)


@dataclass(frozen=True, slots=True)
class ColumnProvenance:
    """Why a column got its classification: the rule and the ``table.column`` sources joined."""

    rule: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PropagatedColumn:
    """One output column with its computed classification and provenance."""

    name: str
    classification: Classification
    provenance: ColumnProvenance


def model_classification(inputs: Inputs) -> Classification:
    """A trained model's classification: the join of every column of every training input."""
    return Classification.join_all(_all_classifications(inputs))


def propagate_sql(
    sql: str,
    inputs: Inputs,
    output_columns: Sequence[str] | None = None,
    placeholders: Mapping[str, Sequence[str]] | None = None,
) -> list[PropagatedColumn]:
    """Classify the output columns of ``sql`` run over ``inputs`` (table -> column -> tags).

    ``output_columns``, when given, are the names of the columns the query actually returned
    (e.g. from DuckDB). They replace the statically derived names by position; if their number
    differs from the lineage's, or a column the analysis names by a column name or alias has
    another name there, every output column falls back to the coarse rule. Without
    them, a coarse query whose output names cannot be known (``SELECT *`` over an unknown
    table) yields an empty list, so callers that execute the query should pass them.

    ``placeholders`` (table -> every column, in order) names the columns the task got as
    all-NULL placeholders besides ``inputs``: the SQL sees them, so lineage is computed
    over them too, but they hold no value: they add no tag and are never listed as sources.
    """
    from mlstudio.governance.sql_lineage import sql_column_lineage

    _check_inputs(inputs)
    schemas = {table: list(cols) for table, cols in inputs.items()}
    for table, every in (placeholders or {}).items():
        if table in schemas:
            schemas[table] = list(dict.fromkeys([*every, *schemas[table]]))
    lineage = sql_column_lineage(sql, schemas)
    columns = list(lineage.columns)
    if output_columns is not None:
        names = list(output_columns)
        if len(names) != len(columns) or any(
            col.named and col.name.lower() != name.lower()
            for col, name in zip(columns, names, strict=True)
        ):
            # the static analysis and DuckDB disagree on the output columns: fail closed
            return _all_coarse(inputs, names)
        columns = [replace(col, name=name) for name, col in zip(names, columns, strict=True)]

    dataset_cache: dict[tuple[str, ...], tuple[Classification, tuple[str, ...]]] = {}
    out: list[PropagatedColumn] = []
    for col in columns:
        if col.kind == "coarse":
            out.extend(_all_coarse(inputs, [col.name]))
            continue
        real = [s for s in col.sources if s.column in inputs.get(s.table, {})]
        masked = set(col.masked_sources)
        direct = [_lookup(inputs, s) for s in real if s not in masked]
        hashed = [_lookup(inputs, s) for s in real if s in masked]
        classification = Classification.join_all(direct)
        if hashed:
            classification = classification.join(Classification.join_all(hashed).pseudonymize())
        sources = tuple(str(s) for s in real)
        if col.kind == "dataset":
            tables = col.dataset_tables or lineage.tables
            cached = dataset_cache.get(tables)
            if cached is None:
                scanned = {table: inputs[table] for table in tables if table in inputs}
                cached = dataset_cache[tables] = (
                    Classification.join_all(_all_classifications(scanned)),
                    _source_names(scanned),
                )
            classification = classification.join(cached[0])
            sources = tuple(dict.fromkeys((*sources, *cached[1])))
        out.append(PropagatedColumn(col.name, classification, ColumnProvenance(col.kind, sources)))
    return out


def propagate_python(
    inputs: Inputs,
    output_columns: Sequence[str],
    declared: Mapping[str, Sequence[str]] | None = None,
    proven: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> list[PropagatedColumn]:
    """Classify a Python task's output columns (conservative, fail-closed).

    ``declared`` maps an output column to the ``"table.column"`` inputs it derives from; it wins
    over the passthrough rule. Unknown sources, unknown output columns or an empty declaration
    raise :class:`InvalidInputError`.

    ``proven`` (from :func:`mlstudio.governance.column_identity.proven_sources`) maps an output
    column to every ``(input, column)`` its values were shown to be a copy of. When given, a
    same-named column is a ``passthrough`` (the join of those sources) only if it is in
    ``proven``; any other gets the ``union``. Without it, the name alone decides.
    """
    _check_inputs(inputs)
    declared_sources = _resolve_declared(inputs, output_columns, declared or {})

    by_name: dict[str, list[tuple[str, Classification]]] = {}
    for table, cols in inputs.items():
        for column, classification in cols.items():
            by_name.setdefault(column, []).append((f"{table}.{column}", classification))

    union: PropagatedColumn | None = None
    out: list[PropagatedColumn] = []
    for name in output_columns:
        if name in declared_sources:
            pairs = declared_sources[name]
            classification = Classification.join_all(c for _, c in pairs)
            provenance = ColumnProvenance("declared", tuple(s for s, _ in pairs))
            out.append(PropagatedColumn(name, classification, provenance))
            continue
        same = by_name.get(name)
        if same and proven is not None:
            sources = proven.get(name)
            if sources:
                pairs = [
                    (f"{table}.{column}", inputs.get(table, {}).get(column, UNCLASSIFIED))
                    for table, column in sources
                ]
                classification = Classification.join_all(c for _, c in pairs)
                provenance = ColumnProvenance("passthrough", tuple(s for s, _ in pairs))
                out.append(PropagatedColumn(name, classification, provenance))
                continue
            same = None  # named like an input column, but not its values: the union
        if same:
            if len(same) == 1:
                classification = same[0][1]
            else:
                classification = Classification.join_all(c for _, c in same)
            provenance = ColumnProvenance("passthrough", tuple(s for s, _ in same))
            out.append(PropagatedColumn(name, classification, provenance))
            continue
        if union is None:
            union = PropagatedColumn(
                "",
                Classification.join_all(_all_classifications(inputs)),
                ColumnProvenance("union", _source_names(inputs)),
            )
        out.append(PropagatedColumn(name, union.classification, union.provenance))
    return out


# --- helpers -------------------------------------------------------------------------------------
def _check_inputs(inputs: Inputs) -> None:
    if not isinstance(inputs, Mapping) or not all(isinstance(c, Mapping) for c in inputs.values()):
        raise InvalidInputError(
            "inputs must map table names to {column: Classification}",
            hint='pass {"customers": {"email": Classification.parse("confidential+pii")}}',
        )


def _all_classifications(inputs: Inputs) -> Iterable[Classification]:
    for cols in inputs.values():
        yield from cols.values()


def _source_names(inputs: Inputs) -> tuple[str, ...]:
    return tuple(f"{table}.{column}" for table, cols in inputs.items() for column in cols)


def _lookup(inputs: Inputs, source: ColumnSource) -> Classification:
    return inputs[source.table][source.column]


def _all_coarse(inputs: Inputs, names: Sequence[str]) -> list[PropagatedColumn]:
    classification = Classification.join_all(_all_classifications(inputs))
    provenance = ColumnProvenance("coarse", _source_names(inputs))
    return [PropagatedColumn(name, classification, provenance) for name in names]


def _resolve_declared(
    inputs: Inputs, output_columns: Sequence[str], declared: Mapping[str, Sequence[str]]
) -> dict[str, list[tuple[str, Classification]]]:
    """Check a task's declared lineage and resolve each ``table.column`` to its classification."""
    outputs = set(output_columns)
    hint = "declare sources as 'table.column' using the task's input names and their columns"
    resolved: dict[str, list[tuple[str, Classification]]] = {}
    for column, sources in declared.items():
        if column not in outputs:
            raise InvalidInputError(
                f"declared lineage names output column {column!r}, which the task does not produce",
                hint=f"output columns are: {', '.join(output_columns) or '(none)'}",
            )
        if isinstance(sources, str):
            sources = [sources]
        if not sources:
            raise InvalidInputError(
                f"declared lineage of column {column!r} names no source",
                hint="list at least one 'table.column', or leave the column undeclared "
                "to get the union of all inputs",
            )
        pairs: list[tuple[str, Classification]] = []
        for source in sources:
            pairs.append((source, _resolve_source(inputs, column, source, hint)))
        resolved[column] = pairs
    return resolved


def _resolve_source(inputs: Inputs, column: str, source: str, hint: str) -> Classification:
    """Find ``table.column`` in ``inputs``; table names may themselves contain dots."""
    if isinstance(source, str):
        for table, cols in inputs.items():
            if source.startswith(table + "."):
                found = cols.get(source[len(table) + 1 :])
                if found is not None:
                    return found
    known = ", ".join(inputs) or "(no inputs)"
    raise InvalidInputError(
        f"declared lineage of column {column!r} names unknown source {source!r}",
        hint=f"{hint}; inputs are: {known}",
    )
