"""MLflow's run-search grammar, parsed by a small tokenizer + recursive-descent parser and
compiled to one parameterized SQLAlchemy query over the tracking tables.

Grammar (MLflow's ``search_runs``)::

    filter     := clause ( AND clause )*
    clause     := identifier comparator value
    identifier := ( metrics | params | tags | attributes ) "." name      (also metric, param,
                  tag, attr, attribute, run; a name with spaces or symbols in `back ticks` or
                  "double quotes"; unquoted names may hold letters, digits, _ . / - :)
    comparator := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value      := number | 'string' | "string" | ( value, ... )

``order_by`` entries: ``identifier [ASC|DESC]``. Metrics compare their latest value (NaN never
matches); params, tags and string attributes take the string operators only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError

_PREFIXES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attr": "attributes",
    "attribute": "attributes",
    "attributes": "attributes",
    "run": "attributes",
}
# attribute name -> (tracking_runs column, numeric?)
ATTRIBUTES = {
    "run_id": ("id", False),
    "run_uuid": ("id", False),
    "run_name": ("name", False),
    "status": ("status", False),
    "user_id": ("user", False),
    "start_time": ("start_time", True),
    "created": ("start_time", True),
    "end_time": ("end_time", True),
    "lifecycle_stage": ("lifecycle_stage", False),
    "experiment_id": ("experiment_id", True),
    "source": ("source", False),
    "workflow_run_id": ("workflow_run_id", False),
    "duration_s": ("duration_s", True),
}
_NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,)
    | '(?P<sq>(?:[^'\\]|\\.|'')*)'
    | "(?P<dq>(?:[^"\\]|\\.)*)"
    | `(?P<bq>[^`]*)`
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
    | (?P<word>[A-Za-z_][A-Za-z0-9_./:\-]*)
    | (?P<dot>\.)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    kind: str  # metrics | params | tags | attributes
    key: str
    op: str
    value: Any  # float, str, or a tuple of them for IN


@dataclass(frozen=True)
class Order:
    kind: str
    key: str
    ascending: bool


def _bad(message: str, hint: str = "") -> InvalidInputError:
    return InvalidInputError(
        f"invalid filter: {message}",
        hint=hint or "e.g. \"metrics.auc > 0.8 and params.kind = 'gbm'\"",
    )


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _bad(f"unexpected {text[pos : pos + 12]!r} at character {pos + 1}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "sq":
            value = value.replace("''", "'").replace("\\'", "'")
            kind = "string"
        elif kind == "dq":
            value = value.replace('\\"', '"')
            kind = "quoted"  # a value, or a key after a prefix
        elif kind == "bq":
            kind = "quoted"
        elif kind == "op" and value == "<>":
            value = "!="
        out.append((kind, value))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(
        self, text: str, attributes: dict[str, tuple[str, bool]] | None = None, bare: bool = False
    ) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.attributes = ATTRIBUTES if attributes is None else attributes
        self.bare = bare  # an attribute may be named without ``attributes.`` (logged models)

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise _bad("it ends too early")
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.i += 1
            return token[1].upper()
        return None

    def identifier(self) -> tuple[str, str]:
        kind, value = self.take()
        if kind != "word":
            raise _bad(f"expected metrics./params./tags./attributes., got {value!r}")
        prefix, dot, rest = value.partition(".")
        if self.bare and not dot and value in self.attributes:
            return "attributes", value
        entity = _PREFIXES.get(prefix.lower())
        if entity is None:
            raise _bad(
                f"unknown entity {prefix!r}",
                hint="start each key with metrics., params., tags. or attributes.",
            )
        if not dot:
            if self.peek() and self.peek()[0] == "dot":  # type: ignore[index]
                self.i += 1
            else:
                raise _bad(f"expected a '.' after {prefix!r}")
        if not rest:
            kind, rest = self.take()
            if kind not in ("quoted", "word"):
                raise _bad(f"expected a key name after {prefix}.")
        if entity == "attributes" and rest not in self.attributes:
            raise _bad(
                f"unknown attribute {rest!r}",
                hint=f"use one of {', '.join(sorted(self.attributes))}",
            )
        return entity, rest

    def value(self) -> Any:
        kind, value = self.take()
        if kind == "number":
            return float(value)
        if kind in ("string", "quoted"):
            return str(value)
        raise _bad(f"expected a value, got {value!r}")

    def clause(self) -> Clause:
        entity, key = self.identifier()
        token = self.peek()
        op: str | None = None
        if token and token[0] == "op":
            op = self.take()[1]
        else:
            op = self.keyword("LIKE", "ILIKE", "IN")
            if op is None and self.keyword("NOT"):
                if not self.keyword("IN"):
                    raise _bad("expected IN after NOT")
                op = "NOT IN"
        if op is None:
            raise _bad(f"expected a comparator after {entity}.{key}")
        if op in ("IN", "NOT IN"):
            kind, _ = self.take()
            if kind != "lparen":
                raise _bad(f"{op} takes a list: ('a', 'b')")
            items = [self.value()]
            while True:
                kind, _ = self.take()
                if kind == "rparen":
                    break
                if kind != "comma":
                    raise _bad("expected ',' or ')' in a list")
                items.append(self.value())
            value: Any = tuple(items)
        else:
            value = self.value()
        numeric = entity == "metrics" or (entity == "attributes" and self.attributes[key][1])
        if numeric:
            if op not in _NUMERIC_OPS:
                raise _bad(f"{entity}.{key} is a number: use =, !=, <, <=, >, >= (not {op})")
            if not isinstance(value, float):
                raise _bad(f"{entity}.{key} is compared with a number, not {value!r}")
        else:
            if op not in _STRING_OPS:
                raise _bad(f"{entity}.{key} is a string: use =, !=, LIKE, ILIKE, IN (not {op})")
            items = value if isinstance(value, tuple) else (value,)
            if any(not isinstance(v, str) for v in items):
                raise _bad(f"{entity}.{key} is compared with a quoted string: '{_plain(value)}'")
        return Clause(entity, key, op, value)


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_filter(
    text: str | None, attributes: dict[str, tuple[str, bool]] | None = None, bare: bool = False
) -> list[Clause]:
    """The clauses of an MLflow filter string (empty: all runs); a one-line error if bad.
    ``attributes``: the attribute names allowed (default: a run's), ``bare``: whether they may
    be written without ``attributes.``."""
    if not text or not text.strip():
        return []
    parser = _Parser(text, attributes, bare)
    clauses = [parser.clause()]
    while parser.peek() is not None:
        if parser.keyword("AND") is None:
            token = parser.peek()
            word = token[1] if token else ""
            if str(word).upper() == "OR":
                raise _bad("OR is not supported (MLflow's grammar has AND only)")
            raise _bad(f"expected AND, got {word!r}")
        clauses.append(parser.clause())
    return clauses


def parse_order_by(entries: list[str] | None) -> list[Order]:
    out = []
    for entry in entries or []:
        parser = _Parser(entry)
        entity, key = parser.identifier()
        direction = parser.keyword("ASC", "DESC")
        if parser.peek() is not None:
            raise _bad(f"unexpected text in order_by {entry!r}", hint="e.g. 'metrics.auc DESC'")
        out.append(Order(entity, key, direction != "DESC"))
    return out


# --- compiling to SQL ---------------------------------------------------------------------------
def _like_sqlite(pattern: str) -> str:
    """A case-sensitive LIKE for SQLite (its LIKE ignores case): the same pattern as GLOB."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def _compare(column: Any, op: str, value: Any, dialect: str) -> Any:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "LIKE":
        return column.op("GLOB")(_like_sqlite(value)) if dialect == "sqlite" else column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise _bad(f"unknown comparator {op}")


def compile_search(
    clauses: list[Clause],
    orders: list[Order],
    *,
    experiment_ids: list[int] | None,
    dialect: str,
    include_deleted: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> Any:
    """One SELECT of run ids: each metric/param/tag clause is a join on (run, key) with the
    comparison in its ON clause (the (key, value) indexes serve it); ordered, paged."""
    from sqlalchemy import and_, select

    from mlstudio.store.metadata.tables import (
        tracking_latest_metrics,
        tracking_params,
        tracking_runs,
        tracking_tags,
    )

    runs = tracking_runs
    tables = {
        "metrics": tracking_latest_metrics,
        "params": tracking_params,
        "tags": tracking_tags,
    }
    source: Any = runs
    where = []
    if experiment_ids:
        where.append(runs.c.experiment_id.in_(experiment_ids))
    if not include_deleted:
        where.append(runs.c.lifecycle_stage == "active")
    joined: dict[tuple[str, str], Any] = {}  # (kind, key) -> the inner-joined alias
    for n, clause in enumerate(clauses):
        if clause.kind == "attributes":
            column = runs.c[ATTRIBUTES[clause.key][0]]
            where.append(_compare(column, clause.op, clause.value, dialect))
            continue
        alias = tables[clause.kind].alias(f"f{n}")
        condition = _compare(alias.c.value, clause.op, clause.value, dialect)
        source = source.join(
            alias, and_(alias.c.run_id == runs.c.id, alias.c.key == clause.key, condition)
        )
        joined.setdefault((clause.kind, clause.key), alias)
    order_columns = []
    for n, order in enumerate(orders):
        if order.kind == "attributes":
            column = runs.c[ATTRIBUTES[order.key][0]]
        elif (order.kind, order.key) in joined:  # filtered on: every row has it already
            column = joined[(order.kind, order.key)].c.value
        else:
            alias = tables[order.kind].alias(f"o{n}")
            source = source.outerjoin(
                alias, and_(alias.c.run_id == runs.c.id, alias.c.key == order.key)
            )
            column = alias.c.value
        # missing values last either way, as MLflow does
        order_columns.append(
            column.asc().nulls_last() if order.ascending else column.desc().nulls_last()
        )
    order_columns += [runs.c.start_time.desc(), runs.c.id]
    query = select(runs.c.id).select_from(source).where(*where).order_by(*order_columns)
    return query.limit(limit).offset(offset)
