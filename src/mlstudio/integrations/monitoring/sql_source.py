"""A monitor whose source is an SQL query over datasets: ``--source "sql:SELECT …"``.

The query names each dataset it reads as a double-quoted table, ``"NS/NAME"`` (its latest
version at each run) or ``"NS/NAME@V"`` (pinned); a ``WITH`` name may be used unquoted. Each
dataset is read through the governed read in the monitor's domain, then the query runs in the
DuckDB sandbox (:mod:`mlstudio.data.sql`: one SELECT, no file or network access). So a join of
the prediction log with account attributes, or a daily aggregate, is monitored like a dataset.
"""

from __future__ import annotations

from mlstudio.errors import InvalidInputError

_FORM = 'name each dataset as a double-quoted table: SELECT … FROM "NS/NAME"'
_LABEL_MAX = 160  # the monitors.source column


def tables_of(query: str) -> list[str]:
    """The dataset references ``query`` reads, in order of first appearance; refuses a query
    that does not parse, reads no dataset, or names a table that is not a dataset reference."""
    import sqlglot
    from sqlglot import exp

    from mlstudio.data.catalog import parse_dataset_ref

    if not query:
        raise InvalidInputError("the monitor's SQL is empty", hint=_FORM)
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInputError(f"the monitor's SQL does not parse: {first}", hint=_FORM) from exc
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    refs: list[str] = []
    for table in tree.find_all(exp.Table):
        name = table.name
        if not name or (name in ctes and not table.db):
            continue
        if table.db or not table.this.quoted or "/" not in name:
            shown = ".".join(p for p in (table.db, name) if p)
            raise InvalidInputError(f"the monitor's SQL reads {shown!r}, not a dataset", hint=_FORM)
        parse_dataset_ref(name)  # NS/NAME[@V], refused in one line otherwise
        if name not in refs:
            refs.append(name)
    if not refs:
        raise InvalidInputError("the monitor's SQL reads no dataset", hint=_FORM)
    return refs


def label(refs: list[str]) -> str:
    """What ``monitor list`` shows as the source: ``sql:`` and the datasets read."""
    text = "sql:" + ",".join(refs)
    if len(text) > _LABEL_MAX:
        raise InvalidInputError(
            f"the monitor's SQL reads {len(refs)} datasets, too many to name in its source",
            hint="monitor a saved dataset built from them instead",
        )
    return text
