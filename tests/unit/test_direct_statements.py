"""Hot statements compiled once (store.metadata.direct) send the driver exactly what
SQLAlchemy's ``Connection.execute`` sends, fall back to it when they cannot, and keep its error
wrapping; a held connection's transactions commit and roll back like the store's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstudio.store.metadata import direct, schema
from mlstudio.store.metadata.engine import make_engine
from mlstudio.store.metadata.repositories.runs import _cache_upsert
from mlstudio.store.metadata.store import MetadataStore
from mlstudio.store.metadata.tables import cache_entries, task_runs, tracking_tags
from mlstudio.testing.databases import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{(tmp_path / 'db' / 'studio.db').as_posix()}")
        schema.upgrade(eng)
        yield eng
        eng.dispose()
    else:
        with fresh_postgres_database() as url:
            eng = make_engine(url)
            schema.upgrade(eng)
            yield eng
            eng.dispose()


def sent(engine: Engine, run: Any) -> list[tuple[str, str, bool]]:
    """The statements ``run(conn)`` hands the driver (rolled back), parameters as text."""
    seen: list[tuple[str, str, bool]] = []

    def listen(conn, cursor, statement, parameters, context, many):
        if not statement.startswith("BEGIN"):
            seen.append((statement, repr(parameters), many))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.connect() as conn:
            run(conn)
            conn.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


UPDATE = (
    update(task_runs)
    .where(task_runs.c.id == bindparam("_id"))
    .values({k: bindparam(f"_{k}") for k in ("state", "output", "finished_at", "read_set")})
)


def update_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "_id": i + 1,
            "_state": "succeeded",
            "_output": {"v": {"digest": "ab" * 32, "p": ["é"]}},
            "_finished_at": datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
            "_read_set": None,
        }
        for i in range(n)
    ]


CACHE_ROW = {
    "key": "k" * 64,
    "output": {"v": {"digest": "d" * 64}},
    "workflow": "flows:chain",
    "module": None,
    "task": "inc",
    "domain": "experimentation",
    "run_id": "run-1",
    "duration_s": 0.001,
    "created_at": datetime(2024, 1, 2, tzinfo=UTC),
    "read_set": {"files": []},
    "hits": 0,
}


@pytest.mark.parametrize("rows", [1, 3])
def test_the_driver_gets_what_sqlalchemy_would_send(engine, rows):
    cases = [
        (UPDATE, update_rows(rows)),
        (
            insert(tracking_tags),
            [{"run_id": "r", "key": f"k{i}", "value": "v"} for i in range(rows)],
        ),
        (
            direct.statement_for(_cache_upsert, engine.dialect.name),
            [{**CACHE_ROW, "key": f"{i}" * 64} for i in range(rows)],
        ),
    ]
    for stmt, values in cases:
        expected = sent(engine, lambda c: c.execute(stmt, values if rows > 1 else values[0]))  # noqa: B023
        assert sent(engine, lambda c: direct.execute(c, stmt, values)) == expected  # noqa: B023
        assert len(expected) == 1 and expected[0][2] == (rows > 1)
        plan = direct._PLANS[(id(stmt), engine.dialect.name, tuple(values[0]))][1]
        assert plan is not direct._UNUSABLE  # compiled once, not SQLAlchemy's path


def test_a_statement_needing_more_than_the_rows_takes_sqlalchemys_path(engine):
    # cache_entries.hits has a Python-side default: not bound from rows without it
    stmt = insert(cache_entries)
    row = {k: v for k, v in CACHE_ROW.items() if k != "hits"}
    assert sent(engine, lambda c: direct.execute(c, stmt, [row])) == sent(
        engine, lambda c: c.execute(stmt, row)
    )
    # a value written into the statement itself
    fixed = update(task_runs).where(task_runs.c.id == bindparam("_id")).values(state="failed")
    assert sent(engine, lambda c: direct.execute(c, fixed, [{"_id": 1}])) == sent(
        engine, lambda c: c.execute(fixed, {"_id": 1})
    )
    plans = {id(s): plan for (s, plan) in direct._PLANS.values()}
    assert plans[id(stmt)] is direct._UNUSABLE and plans[id(fixed)] is direct._UNUSABLE


def failure(engine: Engine, run: Any) -> type[BaseException]:
    with engine.connect() as conn, conn.begin(), pytest.raises(sa_exc.SQLAlchemyError) as info:
        run(conn)
    return info.type


def test_errors_are_wrapped_and_rows_of_other_columns_fail_like_before(engine):
    stmt = insert(tracking_tags)
    for rows in (
        [{"run_id": "r", "key": "k", "value": "v"}] * 2,  # a duplicate
        [{"run_id": "r", "key": "k", "value": "v"}, {"run_id": "r", "key": "j"}],
        [{"run_id": "r", "key": "k", "nope": "v"}],
    ):
        raised = failure(engine, lambda c: direct.execute(c, stmt, rows))  # noqa: B023
        assert raised is failure(engine, lambda c: c.execute(stmt, rows))  # noqa: B023
    with engine.connect() as conn, conn.begin(), pytest.raises(sa_exc.IntegrityError):
        direct.execute(conn, stmt, [{"run_id": "r", "key": "k", "value": "v"}] * 2)


def test_a_held_connections_transactions_commit_and_roll_back(engine):
    store = MetadataStore(engine)
    held = store.held()
    try:
        with held.transaction() as uow:
            uow.runs.cache_put([CACHE_ROW])
        with pytest.raises(RuntimeError), held.transaction() as uow:
            uow.runs.cache_put([{**CACHE_ROW, "key": "x" * 64}])
            raise RuntimeError("the step failed")
        held.IDLE_S = 0.0  # the next one checks a connection out again: same outcome
        with held.transaction() as uow:
            uow.runs.cache_put([{**CACHE_ROW, "key": "y" * 64}, CACHE_ROW])  # CACHE_ROW stays
    finally:
        held.close()
    with store.read() as uow:
        keys = sorted(r.key for r in uow.conn.execute(select(cache_entries.c.key)))
    assert keys == ["k" * 64, "y" * 64]


def test_without_listeners_the_rows_written_are_the_same(engine, monkeypatch):
    """On SQLite, with nothing listening, the statement goes to the driver's cursor: what it
    stores is what SQLAlchemy's path stores."""
    on_cursor = []
    real = direct._on_cursor
    monkeypatch.setattr(direct, "_on_cursor", lambda *a: on_cursor.append(1) or real(*a))

    def stored(run: Any) -> list[tuple]:
        with engine.connect() as conn:
            conn.begin()
            run(conn)
            rows = [tuple(r) for r in conn.execute(select(cache_entries).order_by("key"))]
            conn.rollback()
        return rows

    stmt = direct.statement_for(_cache_upsert, engine.dialect.name)
    values = [{**CACHE_ROW, "key": f"{i}" * 64} for i in range(3)]
    for rows in (values[:1], values):
        by_sqlalchemy = stored(lambda c: c.execute(stmt, rows if len(rows) > 1 else rows[0]))  # noqa: B023
        assert stored(lambda c: direct.execute(c, stmt, rows)) == by_sqlalchemy  # noqa: B023
        assert len(by_sqlalchemy) == len(rows)
    assert len(on_cursor) == (2 if engine.dialect.name == "sqlite" else 0)
