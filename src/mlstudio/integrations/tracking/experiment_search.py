"""MLflow's ``search_experiments``: filter, view type, order and pages over experiments.

Grammar (MLflow's)::

    filter := clause ( AND clause )*
    clause := [attribute.]name | creation_time | last_update_time | experiment_id
              | tags.KEY   comparator value

``name`` and tags take ``= != LIKE ILIKE``; the times and the id take ``= != < <= > >=``.
Experiments are few (one per workflow and team), so the filter runs over the list in Python;
the tokenizer is the run search's, so quoting rules are the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.tracking.search import _tokens

_NUMERIC = {"creation_time", "last_update_time", "experiment_id"}
_STRINGS = {"name"}
_NUM_OPS = {"=", "!=", "<", "<=", ">", ">="}
_STR_OPS = {"=", "!=", "LIKE", "ILIKE"}
VIEW_TYPES = {
    "ACTIVE_ONLY": ("active",),
    "DELETED_ONLY": ("deleted",),
    "ALL": ("active", "deleted"),
}
MAX_RESULTS = 50_000


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid experiment filter: {message}",
        hint="e.g. \"name LIKE 'churn%' AND tags.team = 'growth'\"",
    )


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("^" + "".join(parts) + "$", flags | re.DOTALL)


def _field(word: str) -> tuple[str, str]:
    prefix, dot, rest = word.partition(".")
    if dot and prefix.lower() in ("tags", "tag"):
        return "tag", rest
    name = rest if dot and prefix.lower() in ("attribute", "attributes", "attr") else word
    if name in _NUMERIC or name in _STRINGS:
        return "attr", name
    raise _bad(f"unknown key {word!r}; use name, creation_time, last_update_time or tags.KEY")


def parse(text: str | None) -> list[Callable[[dict[str, Any]], bool]]:
    """The filter as predicates over an experiment view (all must hold)."""
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    out: list[Callable[[dict[str, Any]], bool]] = []
    i = 0

    def take() -> tuple[str, Any]:
        nonlocal i
        if i >= len(tokens):
            raise _bad("it ends too early")
        i += 1
        return tokens[i - 1]

    while True:
        kind, word = take()
        if kind not in ("word", "quoted"):
            raise _bad(f"expected a key, got {word!r}")
        if kind == "word" and word.lower() in ("tags", "tag") and i < len(tokens):
            if tokens[i][0] == "dot":
                i += 1
            kind, key = take()
            word = f"tags.{key}"
        where, name = _field(str(word))
        kind, op = take()
        if kind == "word":
            op = str(op).upper()
        if kind not in ("op", "word") or op not in (_NUM_OPS | _STR_OPS):
            raise _bad(f"expected a comparator after {word}, got {op!r}")
        vkind, value = take()
        numeric = where == "attr" and name in _NUMERIC
        if numeric:
            if op not in _NUM_OPS or vkind != "number":
                raise _bad(f"{name} is a number: compare it with =, !=, <, <=, >, >= and a number")
            out.append(_numeric(name, op, float(value)))
        else:
            if op not in _STR_OPS or vkind not in ("string", "quoted"):
                raise _bad(f"{word} is a string: compare it with =, !=, LIKE or ILIKE and 'text'")
            out.append(_string(where, name, op, str(value)))
        if i >= len(tokens):
            return out
        kind, word = take()
        if kind != "word" or str(word).upper() != "AND":
            raise _bad(f"expected AND, got {word!r}")


def _numeric(name: str, op: str, value: float) -> Callable[[dict[str, Any]], bool]:
    compare = {
        "=": lambda a: a == value,
        "!=": lambda a: a != value,
        "<": lambda a: a < value,
        "<=": lambda a: a <= value,
        ">": lambda a: a > value,
        ">=": lambda a: a >= value,
    }[op]
    key = "id" if name == "experiment_id" else name
    return lambda e: e.get(key) is not None and compare(float(e[key]))


def _string(where: str, name: str, op: str, value: str) -> Callable[[dict[str, Any]], bool]:
    def get(e: dict[str, Any]) -> str | None:
        return e.get("name") if where == "attr" else (e.get("tags") or {}).get(name)

    if op in ("LIKE", "ILIKE"):
        pattern = _like(value, re.IGNORECASE if op == "ILIKE" else 0)
        return lambda e: get(e) is not None and bool(pattern.match(str(get(e))))
    if op == "=":
        return lambda e: get(e) == value
    return lambda e: get(e) is not None and get(e) != value


def _order(entries: list[str] | None) -> list[tuple[str, bool]]:
    out = []
    for entry in entries or []:
        parts = str(entry).split()
        if (
            not parts
            or len(parts) > 2
            or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC"))
        ):
            raise _bad(f"invalid order_by {entry!r}; e.g. 'name ASC' or 'creation_time DESC'")
        _, name = _field(parts[0])
        out.append((name, len(parts) == 1 or parts[1].upper() == "ASC"))
    return out


def search(
    experiments: list[dict[str, Any]],
    *,
    filter_string: str | None = None,
    view_type: str | None = None,
    order_by: list[str] | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The page of ``experiments`` the search asks for, and the next page's token (or None).
    Default order: newest first (MLflow's), then by id."""
    stages = VIEW_TYPES.get((view_type or "ACTIVE_ONLY").upper())
    if stages is None:
        raise _bad(f"unknown view_type {view_type!r}; use ACTIVE_ONLY, DELETED_ONLY or ALL")
    predicates = parse(filter_string)
    limit = int(max_results or 1000)
    if not 1 <= limit <= MAX_RESULTS:
        raise _bad(f"max_results must be between 1 and {MAX_RESULTS}")
    offset = 0
    if page_token:
        if not str(page_token).isdigit():
            raise _bad("invalid page_token")
        offset = int(page_token)
    found = [
        e for e in experiments if e["lifecycle_stage"] in stages and all(p(e) for p in predicates)
    ]
    keys = _order(order_by) or [("creation_time", False)]
    for name, ascending in reversed([*keys, ("experiment_id", True)]):
        field = "id" if name == "experiment_id" else name
        found.sort(key=lambda e, f=field: (e.get(f) is None, e.get(f)), reverse=not ascending)
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return page, str(offset + limit) if more else None
