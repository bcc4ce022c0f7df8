"""Rewrite DuckDB's implicit column references into plain columns, before lineage analysis.

``COLUMNS('regex')``, ``COLUMNS(*)``, ``COLUMNS(['a', 'b'])`` and positional references
(``#2``) name columns without writing them, so a walk over column nodes would miss them (and
call the output "no source"). :func:`expand_implicit_columns` replaces each with the columns it
stands for, computed the way DuckDB does: the select's ``*`` expansion (sqlglot's, against the
known schemas), filtered by a regex (a partial, case-sensitive match, as DuckDB's RE2 does), by
a list of names, or picked by 1-based position. A projection ``f(COLUMNS(...))`` becomes one
projection per matched column, named like the column (as DuckDB names it).

Anything it cannot reproduce exactly (a lambda, ``*COLUMNS`` unpacking, two ``COLUMNS`` in one
projection, a regex Python cannot compile, a position out of range) raises
:class:`Unresolvable`; callers fall back to coarse lineage. The caller still checks the result
against the names DuckDB actually returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

_PROBE = "mlstudio_probe"


class Unresolvable(Exception):
    """The query uses an implicit column reference that cannot be expanded statically."""


def has_implicit_columns(tree: exp.Expression) -> bool:
    return any(True for _ in tree.find_all(exp.Columns, exp.PositionalColumn))


def expand_implicit_columns(
    tree: exp.Expression, schema: Any, dialect: str, spelling: Mapping[str, str]
) -> exp.Expression:
    """A copy of ``tree`` with every ``COLUMNS(...)`` and ``#n`` replaced by plain columns.

    ``spelling`` maps a lower-cased column name or alias to its spelling (sqlglot lower-cases
    identifiers; DuckDB's regex match is case-sensitive). A name whose spelling is not known
    is matched both ways, so it may be included when DuckDB would not: more sources, never
    fewer.
    """
    tree = tree.copy()
    while True:
        target = _innermost_select_with_implicit(tree)
        if target is None:
            return tree
        expansion = _star_expansion(tree, target, schema, dialect)
        _rewrite_select(target, [(spelling.get(n, n), v) for n, v in expansion], spelling)


def _innermost_select_with_implicit(tree: exp.Expression) -> exp.Select | None:
    found: exp.Select | None = None
    depth = -1
    for node in tree.find_all(exp.Columns, exp.PositionalColumn):
        select = node.find_ancestor(exp.Select)
        if select is None:
            raise Unresolvable(f"{node.sql()} outside a SELECT")
        d = select.depth
        if d > depth:
            found, depth = select, d
    return found


def _star_expansion(
    tree: exp.Expression, target: exp.Select, schema: Any, dialect: str
) -> Expansion:
    """(name, expression) of what ``*`` stands for in ``target``'s FROM clause."""
    target.meta[_PROBE] = True
    try:
        probe = tree.copy()
    finally:
        target.meta.pop(_PROBE, None)
    (select,) = [s for s in probe.find_all(exp.Select) if s.meta.get(_PROBE)]
    select.set("expressions", [exp.Star()])
    for node in list(select.find_all(exp.Columns, exp.PositionalColumn)):
        node.replace(exp.null())  # in WHERE/ORDER BY: irrelevant to what * expands to
    qualified = qualify(
        probe,
        dialect=dialect,
        schema=schema,
        validate_qualify_columns=False,
        quote_identifiers=False,
        identify=False,
    )
    (expanded,) = [s for s in qualified.find_all(exp.Select) if s.meta.get(_PROBE)]
    out: list[tuple[str, exp.Expression]] = []
    for projection in expanded.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            raise Unresolvable("the FROM clause's columns are not known")
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        out.append((projection.alias_or_name, inner))
    if not out:
        raise Unresolvable("the FROM clause has no known columns")
    return out


Expansion = list[tuple[str, exp.Expression]]


def _rewrite_select(select: exp.Select, expansion: Expansion, spelling: Mapping[str, str]) -> None:
    projections: list[exp.Expression] = []
    for projection in select.expressions:
        implicit = _implicit_in(projection)
        if not implicit:
            projections.append(projection)
            continue
        columns = [n for n in implicit if isinstance(n, exp.Columns)]
        if len(columns) > 1:
            raise Unresolvable("several COLUMNS(...) in one expression")
        if columns:
            projections.extend(_expand_columns(projection, columns[0], expansion, spelling))
            continue
        bare = not isinstance(projection, exp.Alias) and isinstance(
            projection, exp.PositionalColumn
        )
        for node in implicit:
            name, value = _positional(node, expansion)
            if node is projection:
                projection = value.copy()
            else:
                node.replace(value.copy())
        projections.append(exp.alias_(projection, name) if bare else projection)
    select.set("expressions", projections)
    # outside the projections (WHERE, GROUP BY, ORDER BY, QUALIFY): only which columns are read
    # matters, so each becomes the tuple of the columns it stands for
    order = select.args.get("order")
    for node in _implicit_in(select, projections=False):
        if (
            isinstance(node, exp.PositionalColumn)
            and order is not None
            and any(n is node for n in order.walk())
        ):
            node.replace(exp.null())  # ORDER BY #n is the n-th projection: read already
            continue
        if isinstance(node, exp.Columns):
            matched = [v.copy() for _, v in _match(node, expansion, spelling)]
        else:
            matched = [_positional(node, expansion)[1].copy()]
        node.replace(exp.Tuple(expressions=matched))


def _implicit_in(node: exp.Expression, projections: bool = True) -> list[exp.Expression]:
    """``COLUMNS``/``#n`` nodes of this SELECT level (not of nested queries)."""
    found: list[exp.Expression] = []
    skip = set() if projections else {id(p) for p in node.expressions}

    def walk(n: exp.Expression) -> None:
        if id(n) in skip:
            return
        if isinstance(n, (exp.Columns, exp.PositionalColumn)):
            found.append(n)
            return
        for child in n.iter_expressions():
            if isinstance(child, exp.Query) and child is not node:
                continue
            walk(child)

    if isinstance(node, (exp.Columns, exp.PositionalColumn)):
        return [node]
    walk(node)
    return found


def _expand_columns(
    projection: exp.Expression,
    node: exp.Columns,
    expansion: Expansion,
    spelling: Mapping[str, str],
) -> list[exp.Expression]:
    if node.args.get("unpack"):
        raise Unresolvable("*COLUMNS(...) unpacking")
    matched = _match(node, expansion, spelling)
    aliased = isinstance(projection, exp.Alias)
    out: list[exp.Expression] = []
    for name, value in matched:
        if projection is node:
            out.append(exp.alias_(value.copy(), name))
            continue
        copy = projection.copy()
        (inner,) = [n for n in _implicit_in(copy) if isinstance(n, exp.Columns)]
        inner.replace(value.copy())
        out.append(copy if aliased else exp.alias_(copy, name))
    return out


def _match(node: exp.Columns, expansion: Expansion, spelling: Mapping[str, str]) -> Expansion:
    arg = node.this
    if isinstance(arg, exp.Star):
        if any(arg.args.get(k) for k in ("replace", "rename", "ilike")):
            raise Unresolvable("COLUMNS(* REPLACE/RENAME/ILIKE ...)")
        excluded = {e.name.lower() for e in arg.args.get("except_") or []}
        return [(n, v) for n, v in expansion if n.lower() not in excluded]
    if isinstance(arg, exp.Literal) and arg.is_string:
        try:
            pattern = re.compile(arg.this)
        except re.error as exc:
            raise Unresolvable(f"regex {arg.this!r}: {exc}") from exc
        known = set(spelling.values())
        matched = [
            (n, v)
            for n, v in expansion
            if pattern.search(n) or (n not in known and pattern.search(n.lower()))
        ]
    elif isinstance(arg, exp.Array) and all(
        isinstance(e, exp.Literal) and e.is_string for e in arg.expressions
    ):
        wanted = [e.this.lower() for e in arg.expressions]
        by_name = {n.lower(): (n, v) for n, v in reversed(expansion)}
        if any(w not in by_name for w in wanted):
            raise Unresolvable("COLUMNS([...]) names an unknown column")
        matched = [by_name[w] for w in wanted]
    else:
        raise Unresolvable(f"{node.sql()} cannot be expanded statically")
    if not matched:
        raise Unresolvable(f"{node.sql()} matches no column")
    return matched


def _positional(node: exp.Expression, expansion: Expansion) -> tuple[str, exp.Expression]:
    literal = node.this
    if not isinstance(literal, exp.Literal) or literal.is_string:
        raise Unresolvable(f"{node.sql()} is not a positional reference")
    index = int(literal.this)
    if not 1 <= index <= len(expansion):
        raise Unresolvable(f"{node.sql()} is out of range")
    return expansion[index - 1]
