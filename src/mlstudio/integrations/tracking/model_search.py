"""``logged-models/search`` filters: MLflow's grammar over a logged model's attributes, params
and tags (``name = 'm' and params.alpha = '0.5'``), evaluated on the experiment's models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.tracking.search import Clause, parse_filter

# name -> (column of tracking_logged_models, numeric)
LOGGED_MODEL_ATTRIBUTES = {
    "name": ("name", False),
    "model_id": ("id", False),
    "source_run_id": ("source_run_id", False),
    "status": ("status", False),
    "model_type": ("model_type", False),
    "experiment_id": ("experiment_id", True),
    "creation_timestamp": ("creation_timestamp", True),
    "creation_time": ("creation_timestamp", True),
    "last_updated_timestamp": ("last_updated_timestamp", True),
}


def parse_model_filter(text: str | None) -> list[Clause]:
    clauses = parse_filter(text, LOGGED_MODEL_ATTRIBUTES, bare=True)
    for clause in clauses:
        if clause.kind == "metrics":
            raise InvalidInputError(
                f"invalid filter: logged models have no metrics here (metrics.{clause.key})",
                hint="filter on name, status, source_run_id, params.K or tags.K",
            )
    return clauses


def matching(rows: Sequence[dict[str, Any]], clauses: Sequence[Clause]) -> list[dict[str, Any]]:
    return [row for row in rows if all(_holds(row, c) for c in clauses)]


def _holds(row: dict[str, Any], clause: Clause) -> bool:
    if clause.kind == "attributes":
        value = row.get(LOGGED_MODEL_ATTRIBUTES[clause.key][0])
    else:
        value = (row.get(clause.kind) or {}).get(clause.key)
    if value is None:
        return clause.op in ("!=", "NOT IN")  # an absent value differs from every value
    op, wanted = clause.op, clause.value
    if isinstance(wanted, float) and not isinstance(value, int | float):
        return False
    if isinstance(wanted, str):
        value = str(value)
    if op == "=":
        return value == wanted
    if op == "!=":
        return value != wanted
    if op in ("LIKE", "ILIKE"):
        flags = re.IGNORECASE if op == "ILIKE" else 0
        return re.fullmatch(_like(str(wanted)), str(value), flags | re.DOTALL) is not None
    if op == "IN":
        return str(value) in wanted
    if op == "NOT IN":
        return str(value) not in wanted
    return {
        "<": value < wanted,
        "<=": value <= wanted,
        ">": value > wanted,
        ">=": value >= wanted,
    }[op]


def _like(pattern: str) -> str:
    return "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
