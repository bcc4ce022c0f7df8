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
            result = con.execute(query).fetch_arrow_table()
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"SQL failed: {str(exc).splitlines()[0]}", hint="fix the query"
            ) from exc
    finally:
        con.close()
    return Dataset(result)
