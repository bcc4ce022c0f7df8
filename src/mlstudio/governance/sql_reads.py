"""Which input columns a SQL query reads anywhere (SELECT, WHERE, JOIN, GROUP BY, ...).

The engine hands an SQL task only these columns, so it asks before any data moves. The answer
is fail-closed: ``None`` (every column counts as read) whenever the query cannot be analysed
exactly: it does not parse, is not one statement, has a ``*`` the schemas cannot expand, a
``COLUMNS(...)`` that cannot be expanded statically, or a ``PIVOT``/``UNPIVOT``.
``COLUMNS(...)`` and positional references (``#2``) are expanded to the columns they stand for
first (:mod:`mlstudio.governance.sql_expand`); the worker hands an SQL task its tables with
every other column present but all NULL, so positions and regexes mean the same there. ``* EXCLUDE`` / ``REPLACE`` / ``RENAME`` and ``USING`` /
``NATURAL`` joins are resolved by sqlglot's qualifier.

A table the query reads without naming any of its columns (``SELECT count(*) FROM t``) maps
to an empty set; a table it does not read at all is absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DIALECT = "duckdb"


def sql_columns_used(sql: str, schemas: Mapping[str, Sequence[str]]) -> dict[str, set[str]] | None:
    """Input table -> the columns of it the query reads; ``None`` when that is not knowable."""
    try:
        return _columns_used(sql, schemas)
    except Exception:  # any analysis failure: every column counts as read
        return None


def _columns_used(sql: str, schemas: Mapping[str, Sequence[str]]) -> dict[str, set[str]] | None:
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify

    from mlstudio.governance.sql_expand import expand_implicit_columns, has_implicit_columns

    statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None
    tree = statements[0]
    if any(True for _ in tree.find_all(exp.Pivot)):
        return None
    lowered = {t.lower(): t for t in schemas}
    spelling = {c.lower(): c for cols in schemas.values() for c in cols}
    mapping = {t: {c.lower(): "VARCHAR" for c in cols} for t, cols in schemas.items()}
    if has_implicit_columns(tree):
        tree = expand_implicit_columns(tree, mapping, DIALECT, spelling)
    tree = qualify(tree, schema=mapping, dialect=DIALECT, validate_qualify_columns=False)
    if any(not isinstance(star.parent, exp.Count) for star in tree.find_all(exp.Star)):
        return None  # a star the schema could not expand: count every column as read
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    aliases: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for table in tree.find_all(exp.Table):
        name = lowered.get(table.name.lower())
        if name is None or (table.name.lower() in ctes and not table.args.get("db")):
            continue
        aliases[table.alias_or_name] = name
        used.setdefault(name, set())
    for column in tree.find_all(exp.Column):
        source = aliases.get(column.table)
        if source is None:
            continue
        for original in schemas[source]:
            if original.lower() == column.name.lower():
                used[source].add(original)
                break
    return used
