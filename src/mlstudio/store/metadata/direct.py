"""Hot statements without SQLAlchemy's per-execution machinery.

An engine step writes the same few statements every time (task runs' new states, a cache entry,
a tracked run and its tags). ``Connection.execute`` re-derives a statement's cache key, looks up
its compiled form and rebuilds every parameter through its generic path on each call: 50-100 µs
a statement here, several times what SQLite itself takes, and most of a 100-task chain's time.

:func:`execute` compiles a statement once per dialect and set of columns, applies SQLAlchemy's
own bind processors to the values (the same JSON, datetime and JSONB conversions, so the driver
receives what ``Connection.execute`` would have sent it) and runs the compiled SQL with
``Connection.exec_driver_sql``: the same connection and transaction, the same exception wrapping
(``IntegrityError``, ``DataError``) and cursor events. On SQLite, when no cursor listener or
echo is on, it goes to the driver's cursor itself (the same statement and values, errors
wrapped the same way). A statement it cannot run that way (a
default computed in Python, an expanding ``IN``, ``RETURNING``, rows of different columns)
goes through ``Connection.execute`` as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind names, in their positional order when positional
    positional: bool
    processors: dict[str, Callable[[Any], Any]]
    escaped: dict[str, str]  # bind name -> the name the driver sees (named paramstyles)


_UNUSABLE = object()
_MAX_PLANS = 512
# (statement id, dialect, row keys) -> (the statement, its plan): holding the statement keeps
# its id from being reused by another object while the plan is kept
_PLANS: dict[tuple[int, str, tuple[str, ...]], tuple[Any, Any]] = {}
_STATEMENTS: dict[tuple[Callable[[str], Any], str], Any] = {}


def statement_for(build: Callable[[str], Any], dialect_name: str) -> Any:
    """``build(dialect_name)``, built once per dialect (for dialect-specific constructs such as
    an upsert); pass the same ``build`` every time."""
    key = (build, dialect_name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(dialect_name)
    return stmt


def execute(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute ``stmt`` (built once and reused: plans are kept per statement object) for
    ``rows``, dicts with the same keys: one row is an ``execute``, several an
    ``executemany``."""
    if not rows:
        return
    keys = tuple(rows[0])
    plan_key = (id(stmt), conn.dialect.name, keys)
    entry = _PLANS.get(plan_key)
    if entry is None or entry[0] is not stmt:
        if len(_PLANS) >= _MAX_PLANS:  # statements built per call: plans are not reused
            _PLANS.clear()
        entry = _PLANS[plan_key] = (stmt, _compile(conn, stmt, keys))
    plan = entry[1]
    if plan is _UNUSABLE or any(len(row) != len(keys) for row in rows):
        conn.execute(stmt, list(rows) if len(rows) > 1 else rows[0])
        return
    try:
        params = [_params(plan, row) for row in rows]
    except KeyError:  # rows of different columns: SQLAlchemy's path says what is wrong
        conn.execute(stmt, list(rows) if len(rows) > 1 else rows[0])
        return
    if conn.dialect.name == "sqlite" and _quiet(conn):
        _on_cursor(conn, plan.sql, params)
        return
    conn.exec_driver_sql(plan.sql, params[0] if len(params) == 1 else params)


def _quiet(conn: Connection) -> bool:
    """Whether nothing would see the difference between ``exec_driver_sql`` and the driver's
    cursor: inside a transaction (no autobegin to do), no cursor listeners, no echo."""
    dispatch = conn.dispatch
    return (
        conn.in_transaction()
        and not dispatch.before_cursor_execute
        and not dispatch.after_cursor_execute
        and not conn._echo
    )


def _on_cursor(conn: Connection, sql: str, params: list[Any]) -> None:
    """SQLite (an in-process library, no connection to lose): the statement on the driver's
    cursor, ~9 µs less than ``exec_driver_sql``; a driver error is raised as SQLAlchemy's
    wrapping of it (``IntegrityError``, ``OperationalError``...) like ``exec_driver_sql``."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)
    except dbapi.Error as err:
        raise sa_exc.DBAPIError.instance(
            sql, params[0] if len(params) == 1 else params, err, dbapi.Error, dialect=conn.dialect
        ) from err
    finally:
        cursor.close()


def _params(plan: _Compiled, row: Mapping[str, Any]) -> Any:
    processors = plan.processors
    if plan.positional:
        return tuple(
            processors[name](row[name]) if name in processors else row[name] for name in plan.names
        )
    escaped = plan.escaped
    return {
        escaped.get(name, name): processors[name](row[name]) if name in processors else row[name]
        for name in plan.names
    }


def _compile(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> Any:
    """The compiled form of ``stmt`` for rows of ``keys``, or _UNUSABLE when running it needs
    more than binding the rows' values."""
    try:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True)
    except sa_exc.CompileError:
        return _UNUSABLE
    binds = compiled.bind_names  # BindParameter -> name
    names = tuple(compiled.positiontup) if compiled.positional else tuple(binds.values())
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.implicit_returning
        or compiled.returning
        or set(names) - set(keys)  # a bind the rows do not fill (a value in the statement)
        or len(set(names)) != len(names)
    ):
        return _UNUSABLE
    processors = dict(compiled._bind_processors)
    if any(not callable(p) for p in processors.values()):  # tuple types
        return _UNUSABLE
    return _Compiled(
        sql=compiled.string,
        names=names,
        positional=bool(compiled.positional),
        processors=processors,
        escaped=dict(compiled.escaped_bind_names),
    )
