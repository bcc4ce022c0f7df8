"""Rows of the GenAI workloads (plain dicts): prompts, batch item results, budgets, ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.tables import (
    genai_budgets,
    genai_checkpoints,
    genai_items,
    genai_ledger,
    prompt_aliases,
    prompt_versions,
)

_KEYS_PER_QUERY = 500


def _upsert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    return upsert


class GenAIRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- prompts -------------------------------------------------------------------------
    def add_prompts(self, module: str, version: int, specs: list[dict[str, Any]]) -> None:
        now = utcnow()
        rows = [
            {
                "module": module,
                "module_version": version,
                "name": spec["name"],
                "digest": spec["digest"],
                "spec": spec,
                "created_at": now,
            }
            for spec in specs
        ]
        if rows:
            self.conn.execute(insert(prompt_versions), rows)

    def prompts(self, module: str | None = None, version: int | None = None) -> list[dict]:
        q = select(prompt_versions)
        if module is not None:
            q = q.where(prompt_versions.c.module == module)
        if version is not None:
            q = q.where(prompt_versions.c.module_version == version)
        q = q.order_by(
            prompt_versions.c.module, prompt_versions.c.name, prompt_versions.c.module_version
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def alias(self, module: str, alias: str) -> dict[str, Any] | None:
        q = select(prompt_aliases).where(
            (prompt_aliases.c.module == module) & (prompt_aliases.c.alias == alias)
        )
        r = self.conn.execute(q).first()
        return dict(r._mapping) if r is not None else None

    def aliases(self, module: str | None = None) -> list[dict[str, Any]]:
        q = select(prompt_aliases).order_by(prompt_aliases.c.module, prompt_aliases.c.alias)
        if module is not None:
            q = q.where(prompt_aliases.c.module == module)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_alias(
        self,
        module: str,
        alias: str,
        name: str,
        version: int,
        report: Any,
        actor: str,
        spec: dict[str, Any] | None = None,
    ) -> None:
        values = {
            "name": name,
            "module_version": version,
            "report": report,
            "spec": spec,
            "set_by": actor,
            "set_at": utcnow(),
        }
        if self.alias(module, alias) is None:
            self.conn.execute(insert(prompt_aliases).values(module=module, alias=alias, **values))
        else:
            self.conn.execute(
                update(prompt_aliases)
                .where((prompt_aliases.c.module == module) & (prompt_aliases.c.alias == alias))
                .values(**values)
            )

    # --- batch inference items -----------------------------------------------------------
    def items(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            chunk = unique[start : start + _KEYS_PER_QUERY]
            q = select(genai_items).where(genai_items.c.key.in_(chunk))
            found.update({r.key: dict(r._mapping) for r in self.conn.execute(q)})
        return found

    def put_items(self, rows: list[dict[str, Any]]) -> None:
        """Keep computed items; an item already kept stays (two runs may compute it at once)."""
        if rows:
            unique = list({r["key"]: r for r in rows}.values())
            self.conn.execute(_upsert(self.conn)(genai_items).on_conflict_do_nothing(), unique)

    # --- fine-tuning checkpoints ---------------------------------------------------------
    def checkpoint(self, key: str) -> dict[str, Any] | None:
        q = select(genai_checkpoints).where(genai_checkpoints.c.key == key)
        r = self.conn.execute(q).first()
        return dict(r._mapping) if r is not None else None

    def put_checkpoint(self, key: str, step: int, digest: str, run_id: str | None) -> None:
        values = {"step": step, "digest": digest, "run_id": run_id, "updated_at": utcnow()}
        c = genai_checkpoints.c
        changed = self.conn.execute(
            update(genai_checkpoints).where((c.key == key) & (c.step <= step)).values(**values)
        ).rowcount
        if not changed and self.checkpoint(key) is None:
            self.conn.execute(
                _upsert(self.conn)(genai_checkpoints)
                .values(key=key, **values)
                .on_conflict_do_nothing()
            )

    # --- budgets and their ledger --------------------------------------------------------
    def budget(self, namespace: str, *, for_update: bool = False) -> dict[str, Any] | None:
        q = select(genai_budgets).where(genai_budgets.c.namespace == namespace)
        if for_update and self.conn.dialect.name == "postgresql":
            q = q.with_for_update()  # SQLite: write transactions are serialized (BEGIN IMMEDIATE)
        r = self.conn.execute(q).first()
        return dict(r._mapping) if r is not None else None

    def any_budget(self) -> bool:
        return self.conn.execute(select(genai_budgets.c.namespace).limit(1)).first() is not None

    def put_budget(self, namespace: str, usd: float, period_s: int, actor: str) -> None:
        values = {"usd": usd, "period_s": period_s, "updated_by": actor, "updated_at": utcnow()}
        if self.budget(namespace, for_update=True) is None:
            self.conn.execute(insert(genai_budgets).values(namespace=namespace, **values))
        else:
            self.conn.execute(
                update(genai_budgets).where(genai_budgets.c.namespace == namespace).values(**values)
            )

    def remove_budget(self, namespace: str) -> bool:
        q = delete(genai_budgets).where(genai_budgets.c.namespace == namespace)
        return bool(self.conn.execute(q).rowcount)

    def ledger_totals(
        self, namespace: str, spent_since: datetime, reserved_since: datetime
    ) -> dict[str, float]:
        """USD spent since ``spent_since`` (the items computed and kept), and reserved (not yet
        settled) since ``reserved_since``."""
        i, c = genai_items.c, genai_ledger.c
        spent = self.conn.execute(
            select(func.coalesce(func.sum(i.cost_usd), 0.0))
            .where(i.namespace == namespace)
            .where(i.created_at >= spent_since)
        ).scalar_one()
        reserved = self.conn.execute(
            select(func.coalesce(func.sum(c.usd), 0.0))
            .where(c.namespace == namespace)
            .where(c.kind == "reserved")
            .where(c.created_at >= reserved_since)
        ).scalar_one()
        return {"spent": float(spent), "reserved": float(reserved)}

    def add_reservation(
        self,
        namespace: str,
        usd: float,
        run_id: str | None,
        node_id: str | None,
        note: str,
        items: int,
    ) -> int:
        row = {
            "namespace": namespace,
            "kind": "reserved",
            "usd": usd,
            "run_id": run_id,
            "node_id": node_id,
            "note": note,
            "item_count": items,
            "created_at": utcnow(),
        }
        return int(self.conn.execute(insert(genai_ledger).values(**row)).inserted_primary_key[0])

    def remove_entry(self, entry_id: int) -> bool:
        q = delete(genai_ledger).where(genai_ledger.c.id == entry_id)
        return bool(self.conn.execute(q).rowcount)

    def remove_reservations(self, run_id: str, node_id: str) -> int:
        c = genai_ledger.c
        q = delete(genai_ledger).where(
            (c.run_id == run_id) & (c.node_id == node_id) & (c.kind == "reserved")
        )
        return int(self.conn.execute(q).rowcount or 0)

    def set_progress(self, namespace: str, run_id: str, node_id: str, remaining: int) -> None:
        """A batch task's items still to compute (one row per task, replaced)."""
        c = genai_ledger.c
        self.conn.execute(
            delete(genai_ledger).where(
                (c.run_id == run_id) & (c.node_id == node_id) & (c.kind == "progress")
            )
        )
        self.conn.execute(
            insert(genai_ledger).values(
                namespace=namespace,
                kind="progress",
                usd=0.0,
                run_id=run_id,
                node_id=node_id,
                note="",
                item_count=0,
                remaining=remaining,
                created_at=utcnow(),
            )
        )

    def run_costs(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Per run with model calls: USD spent (its computed items), reserved now, and the
        estimate to finish (each task's items still to compute at its average cost so far)."""
        i, c = genai_items.c, genai_ledger.c
        ids = list(dict.fromkeys(run_ids))
        tasks: dict[tuple[str, str], dict[str, float]] = {}
        for start in range(0, len(ids), _KEYS_PER_QUERY):
            chunk = ids[start : start + _KEYS_PER_QUERY]
            spent = (
                select(i.run_id, i.node_id, func.sum(i.cost_usd), func.count())
                .where(i.run_id.in_(chunk))
                .group_by(i.run_id, i.node_id)
            )
            for run_id, node_id, usd, count in self.conn.execute(spent):
                task = tasks.setdefault((run_id, node_id or ""), {})
                task.update(spent=float(usd or 0), items=float(count))
            ledger = (
                select(c.run_id, c.node_id, c.kind, func.sum(c.usd), func.sum(c.remaining))
                .where(c.run_id.in_(chunk))
                .group_by(c.run_id, c.node_id, c.kind)
            )
            for run_id, node_id, kind, usd, remaining in self.conn.execute(ledger):
                task = tasks.setdefault((run_id, node_id or ""), {})
                if kind == "reserved":
                    task["reserved"] = float(usd or 0)
                else:
                    task["remaining"] = float(remaining or 0)
        out: dict[str, dict[str, float]] = {}
        for (run_id, _), task in tasks.items():
            run = out.setdefault(
                run_id, {"spent_usd": 0.0, "reserved_usd": 0.0, "estimate_to_finish_usd": 0.0}
            )
            run["spent_usd"] += task.get("spent", 0.0)
            run["reserved_usd"] += task.get("reserved", 0.0)
            if task.get("items"):
                run["estimate_to_finish_usd"] += (
                    task["spent"] / task["items"] * task.get("remaining", 0.0)
                )
        return out
