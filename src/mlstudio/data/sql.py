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
            cursor = con.execute(query)
            # duckdb >= 1.4 names it to_arrow_table; 2.0 dropped fetch_arrow_table
            fetch = getattr(cursor, "to_arrow_table", None) or cursor.fetch_arrow_table
            result = fetch()
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"SQL failed: {str(exc).splitlines()[0]}", hint="fix the query"
            ) from exc
    finally:
        con.close()
    return Dataset(result)
