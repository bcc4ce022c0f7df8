"""SQL over datasets with DuckDB (in-process, Arrow in and out), sandboxed.

A query sees only the tables it is handed. :func:`run_sql` opens an in-memory DuckDB with

* ``enable_external_access=false``: no file, directory or URL is read or written
  (``read_parquet``/``read_csv``/``read_json``/``read_text``/``read_blob``, ``glob``,
  ``FROM 'file.parquet'`` replacement scans, ``ATTACH``, ``COPY ... TO``, ``EXPORT DATABASE``,
  ``http(s)://`` and ``s3://`` URLs, persistent secrets, the extension directory);
* no extension install or autoload (``sqlite_scan``, ``httpfs``, ... stay unavailable), no
  community or unsigned extensions;
* no Python replacement scans (a query cannot name a Python variable of the caller);
* ``lock_configuration=true``: a query cannot ``SET`` any of this back.

The input tables are registered as Arrow views before the query runs. Only one statement of
type SELECT is executed (``WITH``, set operations, ``VALUES``, ``PIVOT``/``UNPIVOT``,
``DESCRIBE``/``SUMMARIZE`` of an input are SELECTs); several statements, ``PRAGMA``, ``SET``,
``CALL``, ``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``, ``CREATE``, ``EXPORT`` ... are refused
before anything runs, with a one-line error. DuckDB parses the statement itself, so what is
checked is exactly what runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstudio.errors import InvalidInputError, PolicyViolationError

#: DuckDB settings of every task connection, applied when it is opened (the lock goes last).
SANDBOX_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}

_ONE_SELECT = "an SQL task runs one SELECT query over its input tables"
_INPUTS_ONLY = "pass the data as a task input (dataset(...) or another task's output)"
# DuckDB rewrites a PIVOT whose IN list it must compute into a MULTI statement (an ENUM of the
# distinct values, then the SELECT); the user cannot write MULTI any other way.
_QUERY_TYPES = frozenset({"SELECT", "MULTI"})


def run_sql(query: str, tables: Mapping[str, Any]) -> Any:
    """Execute ``query`` with each of ``tables`` registered under its name; returns a Dataset.

    Raises :class:`InvalidInputError` for SQL that is not one SELECT or that fails, and
    :class:`PolicyViolationError` when the query reaches for anything but its tables.
    """
    import duckdb

    from mlstudio.data.dataset import Dataset

    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("the SQL is empty", hint=_ONE_SELECT)
    con = sandboxed_connection(tables)
    try:
        statement = _single_query(con, query)
        try:
            relation = con.sql(statement)
            # duckdb >= 1.4 names it to_arrow_table; older versions only have arrow()
            fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
            result = fetch()
        except duckdb.Error as exc:
            raise _sql_error(exc) from exc
    finally:
        con.close()
    return Dataset(result)


def sandboxed_connection(tables: Mapping[str, Any]) -> Any:
    """An in-memory DuckDB connection locked down by :data:`SANDBOX_CONFIG` that sees only
    ``tables`` (name -> Dataset or Arrow table)."""
    import duckdb

    from mlstudio.data.dataset import Dataset

    con = duckdb.connect(database=":memory:", config=SANDBOX_CONFIG)
    try:
        for name, value in tables.items():
            table = value.to_arrow() if isinstance(value, Dataset) else value
            if getattr(table, "num_columns", 1) == 0:
                continue  # handed no column: the query does not read it (DuckDB cannot hold it)
            con.register(name, table)
    except BaseException:
        con.close()
        raise
    return con


def _single_query(con: Any, query: str) -> Any:
    """DuckDB's own parse of ``query``: exactly one SELECT statement, or a one-line error."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise _sql_error(exc) from exc
    if not statements:
        raise InvalidInputError("the SQL is empty", hint=_ONE_SELECT)
    if len(statements) > 1:
        raise InvalidInputError(
            f"SQL tasks run one statement; got {len(statements)} statements",
            hint=f"{_ONE_SELECT}: remove the others (use WITH for intermediate steps)",
        )
    statement = statements[0]
    kind = getattr(statement.type, "name", str(statement.type))
    if kind not in _QUERY_TYPES:
        raise PolicyViolationError(
            f"SQL tasks may only query their input tables, not run {kind} statements",
            hint=f"{_ONE_SELECT}; PRAGMA, SET, COPY, ATTACH, INSTALL/LOAD, CREATE and EXPORT "
            "are not allowed",
        )
    return statement


def _sql_error(exc: Exception) -> Exception:
    """The one-line mlstudio error for a DuckDB failure; sandbox refusals are policy errors."""
    import duckdb

    first = _first_line(exc)
    if isinstance(exc, duckdb.PermissionException):
        return PolicyViolationError(
            f"SQL tasks may read only the tables they are handed: {first}", hint=_INPUTS_ONLY
        )
    if isinstance(exc, duckdb.CatalogException) and " extension" in first:
        return PolicyViolationError(
            f"SQL tasks cannot use DuckDB extensions: {first}", hint=_INPUTS_ONLY
        )
    if isinstance(exc, duckdb.InvalidInputException) and "configuration has been locked" in first:
        return PolicyViolationError(
            f"SQL tasks cannot change DuckDB's settings: {first}", hint=_ONE_SELECT
        )
    return InvalidInputError(f"SQL failed: {first}", hint="fix the query")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
