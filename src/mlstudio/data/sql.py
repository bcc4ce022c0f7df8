"""SQL over datasets with DuckDB (in-process, Arrow in and out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstudio.errors import InvalidInputError


def run_sql(query: str, tables: Mapping[str, Any]) -> Any:
    """Execute ``query`` with each of ``tables`` registered under its name; returns a Dataset."""
    import duckdb

    from mlstudio.data.dataset import Dataset

    con = duckdb.connect(database=":memory:")
    try:
        for name, value in tables.items():
            table = value.to_arrow() if isinstance(value, Dataset) else value
            con.register(name, table)
        try:
            # a relation, not a DB-API cursor: its Arrow result is not copied again (duckdb
            # warns about that copy, and the warning landed in every SQL task's log)
            relation = con.sql(query)
            if relation is None:
                raise InvalidInputError(
                    "SQL returned no table", hint="make the statement a query (SELECT …)"
                )
            # duckdb >= 1.4 names it to_arrow_table; 2.0 dropped fetch_arrow_table
            fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            result = fetch()
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"SQL failed: {str(exc).splitlines()[0]}", hint="fix the query"
            ) from exc
    finally:
        con.close()
    return Dataset(result)
