"""Rows of evaluations and of the evaluation gates on model aliases (plain dicts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import evaluations, model_alias_gates


def _row(r: Any) -> dict[str, Any] | None:
    return dict(r._mapping) if r is not None else None


class EvaluationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- evaluations --------------------------------------------------------------------------
    def add(self, values: dict[str, Any]) -> dict[str, Any]:
        row = {"created_at": utcnow(), **values}
        self.conn.execute(insert(evaluations).values(**row))
        found = self.get(row["id"])
        assert found is not None
        return found

    def set_outputs(self, id: str, *, scores: str | None, tracking_run: str | None) -> None:
        self.conn.execute(
            update(evaluations)
            .where(evaluations.c.id == id)
            .values(scores=scores, tracking_run=tracking_run)
        )

    def get(self, id: str) -> dict[str, Any] | None:
        return _row(self.conn.execute(select(evaluations).where(evaluations.c.id == id)).first())

    def find(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix`` (at most 2: enough to tell unique from ambiguous)."""
        q = select(evaluations.c.id).where(evaluations.c.id.startswith(prefix, autoescape=True))
        return [r.id for r in self.conn.execute(q.limit(2))]

    def list(
        self, *, dataset: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        q = select(evaluations).order_by(evaluations.c.created_at.desc(), evaluations.c.id.desc())
        if dataset is not None:
            q = q.where(evaluations.c.dataset == dataset)
        return [dict(r._mapping) for r in self.conn.execute(q.limit(limit).offset(offset))]

    # --- gates --------------------------------------------------------------------------------
    def gate(self, model_id: int, alias: str) -> dict[str, Any] | None:
        q = select(model_alias_gates).where(
            model_alias_gates.c.model_id == model_id, model_alias_gates.c.alias == alias
        )
        return _row(self.conn.execute(q).first())

    def gates(self, model_id: int) -> list[dict[str, Any]]:
        q = (
            select(model_alias_gates)
            .where(model_alias_gates.c.model_id == model_id)
            .order_by(model_alias_gates.c.alias)
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_gate(self, model_id: int, alias: str, spec: dict[str, Any], actor: str) -> None:
        self.remove_gate(model_id, alias)
        self.conn.execute(
            insert(model_alias_gates).values(
                model_id=model_id, alias=alias, spec=spec, created_by=actor, created_at=utcnow()
            )
        )

    def remove_gate(self, model_id: int, alias: str) -> bool:
        result = self.conn.execute(
            delete(model_alias_gates).where(
                model_alias_gates.c.model_id == model_id, model_alias_gates.c.alias == alias
            )
        )
        return bool(result.rowcount)

    def remove_gates_of(self, model_id: int) -> None:
        self.conn.execute(delete(model_alias_gates).where(model_alias_gates.c.model_id == model_id))
