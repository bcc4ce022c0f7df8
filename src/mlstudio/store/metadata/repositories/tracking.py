"""Experiments, tracked runs, params, tags, metric series, artifacts and logged models."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, tuple_, update

from mlstudio.core.clock import utcnow
from mlstudio.store.metadata.bulk import insert_rows, insert_tuples
from mlstudio.store.metadata.tables import (
    tracking_artifacts,
    tracking_experiments,
    tracking_latest_metrics,
    tracking_logged_models,
    tracking_metrics,
    tracking_params,
    tracking_runs,
    tracking_tags,
)

CHUNK = 500
_POINT_COLUMNS = ("run_id", "key", "value", "is_nan", "step", "timestamp")
Point = tuple[str, float, int, int]  # key, value, step, timestamp (ms)


def _value(row: Any) -> float:
    return math.nan if row.is_nan else float(row.value)


class TrackingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- experiments --------------------------------------------------------------------------
    def create_experiment(
        self, name: str, actor: str, tags: dict[str, str] | None = None, id: int | None = None
    ) -> int:
        now = utcnow()
        values: dict[str, Any] = {
            "name": name,
            "lifecycle_stage": "active",
            "tags": tags or {},
            "created_by": actor,
            "created_at": now,
            "updated_at": now,
        }
        if id is not None:
            values["id"] = id
        result = self.conn.execute(insert(tracking_experiments).values(**values))
        return int(id if id is not None else result.inserted_primary_key[0])

    def ensure_experiment(self, name: str, actor: str, id: int | None = None) -> dict[str, Any]:
        """Experiment ``name``, created unless it exists: safe when two engines race to create
        it (the loser's insert does nothing, it reads the winner's row)."""
        if self.conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        now = utcnow()
        values: dict[str, Any] = {
            "name": name,
            "lifecycle_stage": "active",
            "tags": {},
            "created_by": actor,
            "created_at": now,
            "updated_at": now,
        }
        if id is not None:
            values["id"] = id
        self.conn.execute(upsert(tracking_experiments).values(**values).on_conflict_do_nothing())
        found = (self.experiment(id) if id is not None else None) or self.experiment_by_name(name)
        assert found is not None  # inserted, or the row that made the insert a no-op
        return found

    def experiment(self, id: int) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(tracking_experiments).where(tracking_experiments.c.id == id)
        ).first()
        return dict(r._mapping) if r else None

    def experiment_by_name(self, name: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(tracking_experiments).where(tracking_experiments.c.name == name)
        ).first()
        return dict(r._mapping) if r else None

    def experiments(self, *, name_like: str | None = None) -> list[dict[str, Any]]:
        q = select(tracking_experiments).order_by(tracking_experiments.c.id)
        if name_like:
            q = q.where(tracking_experiments.c.name.like(name_like))
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def update_experiment(self, id: int, **values: Any) -> None:
        values["updated_at"] = utcnow()
        self.conn.execute(
            update(tracking_experiments).where(tracking_experiments.c.id == id).values(**values)
        )

    def run_counts(self) -> dict[int, int]:
        q = select(tracking_runs.c.experiment_id, func.count()).group_by(
            tracking_runs.c.experiment_id
        )
        return {int(e): int(n) for e, n in self.conn.execute(q)}

    # --- runs ---------------------------------------------------------------------------------
    def create_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.conn, tracking_runs, rows)

    def run(self, run_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(tracking_runs).where(tracking_runs.c.id == run_id)).first()
        return dict(r._mapping) if r else None

    def runs_by_ids(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), CHUNK):
            q = select(tracking_runs).where(tracking_runs.c.id.in_(ids[i : i + CHUNK]))
            out.update({r.id: dict(r._mapping) for r in self.conn.execute(q)})
        return [out[i] for i in ids if i in out]

    def runs_of_workflow_run(self, workflow_run_id: str) -> list[dict[str, Any]]:
        q = (
            select(tracking_runs)
            .where(tracking_runs.c.workflow_run_id == workflow_run_id)
            .order_by(tracking_runs.c.start_time, tracking_runs.c.node_id)
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def run_of_task_run(self, task_run_id: int) -> dict[str, Any] | None:
        """The tracked run of one engine task run, if it was tracked."""
        q = select(tracking_runs).where(tracking_runs.c.task_run_id == task_run_id)
        row = self.conn.execute(q).first()
        return dict(row._mapping) if row is not None else None

    def task_run_ids_tracked(self, task_run_ids: Sequence[int]) -> set[int]:
        if not task_run_ids:
            return set()
        q = select(tracking_runs.c.task_run_id).where(
            tracking_runs.c.task_run_id.in_(list(task_run_ids))
        )
        return {r.task_run_id for r in self.conn.execute(q)}

    def producers_of(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The tracked run that computed each (workflow run, cache key) pair (not a cache hit),
        in a query per workflow run."""
        out: dict[tuple[str, str], str] = {}
        by_run: dict[str, set[str]] = {}
        for run_id, key in pairs:
            by_run.setdefault(run_id, set()).add(key)
        for run_id, keys in by_run.items():
            listed = sorted(keys)
            for i in range(0, len(listed), CHUNK):
                q = select(tracking_runs.c.id, tracking_runs.c.cache_key).where(
                    tracking_runs.c.workflow_run_id == run_id,
                    tracking_runs.c.cache_key.in_(listed[i : i + CHUNK]),
                    tracking_runs.c.cache_hit.is_(False),
                )
                for r in self.conn.execute(q):
                    out.setdefault((run_id, r.cache_key), r.id)
        return out

    def update_run(self, run_id: str, **values: Any) -> None:
        self.conn.execute(
            update(tracking_runs).where(tracking_runs.c.id == run_id).values(**values)
        )

    def search(self, query: Select[Any]) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(query)]

    # --- params and tags ----------------------------------------------------------------------
    def params_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for i in range(0, len(run_ids), CHUNK):
            q = select(tracking_params).where(tracking_params.c.run_id.in_(run_ids[i : i + CHUNK]))
            for r in self.conn.execute(q):
                out[r.run_id][r.key] = r.value
        return out

    def insert_params(self, run_id: str, params: dict[str, str]) -> None:
        """Insert params the caller checked are new (see the service's conflict rule)."""
        if params:
            self.conn.execute(
                insert(tracking_params),
                [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()],
            )

    def insert_param_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """``{run_id, key, value}`` rows of new runs' params."""
        insert_rows(self.conn, tracking_params, rows)

    def insert_tag_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """``{run_id, key, value}`` rows of new runs' tags (nothing to replace)."""
        insert_rows(self.conn, tracking_tags, rows)

    def tags_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for i in range(0, len(run_ids), CHUNK):
            q = select(tracking_tags).where(tracking_tags.c.run_id.in_(run_ids[i : i + CHUNK]))
            for r in self.conn.execute(q):
                out[r.run_id][r.key] = r.value
        return out

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        self.conn.execute(
            delete(tracking_tags).where(
                tracking_tags.c.run_id == run_id, tracking_tags.c.key.in_(list(tags))
            )
        )
        self.conn.execute(
            insert(tracking_tags),
            [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
        )

    def delete_tag(self, run_id: str, key: str) -> bool:
        result = self.conn.execute(
            delete(tracking_tags).where(
                tracking_tags.c.run_id == run_id, tracking_tags.c.key == key
            )
        )
        return bool(result.rowcount)

    # --- metrics ------------------------------------------------------------------------------
    def log_metrics(self, run_id: str, points: Sequence[Point]) -> None:
        """Append ``points`` to the run's series and move each key's latest point."""
        if not points:
            return
        latest: dict[str, Point] = {}
        rows = []
        for point in points:
            key, value, step, ts = point
            nan = value != value
            rows.append((run_id, key, None if nan else value, nan, step, ts))
            best = latest.get(key)
            if best is None or (step, ts) >= (best[2], best[3]):
                latest[key] = point
        insert_tuples(self.conn, tracking_metrics, _POINT_COLUMNS, rows)
        known = select(tracking_latest_metrics).where(tracking_latest_metrics.c.run_id == run_id)
        if len(latest) <= 50:  # else the run's every latest point costs less than a long IN
            known = known.where(tracking_latest_metrics.c.key.in_(list(latest)))
        current = {r.key: r for r in self.conn.execute(known) if r.key in latest}
        moved = []
        for key, (_, value, step, ts) in latest.items():
            old = current.get(key)
            if old is None or (step, ts) >= (old.step, old.timestamp):
                nan = value != value
                moved.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "value": None if nan else value,
                        "is_nan": nan,
                        "step": step,
                        "timestamp": ts,
                    }
                )
        replaced = [m["key"] for m in moved if m["key"] in current]
        if replaced:  # one delete and one insert, not an update per key
            self.conn.execute(
                delete(tracking_latest_metrics).where(
                    tracking_latest_metrics.c.run_id == run_id,
                    tracking_latest_metrics.c.key.in_(replaced),
                )
            )
        insert_rows(self.conn, tracking_latest_metrics, moved)

    def latest_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in run_ids}
        for i in range(0, len(run_ids), CHUNK):
            q = select(tracking_latest_metrics).where(
                tracking_latest_metrics.c.run_id.in_(run_ids[i : i + CHUNK])
            )
            for r in self.conn.execute(q):
                out[r.run_id][r.key] = {
                    "key": r.key,
                    "value": _value(r),
                    "step": int(r.step),
                    "timestamp": int(r.timestamp),
                }
        return out

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        q = (
            select(tracking_metrics)
            .where(tracking_metrics.c.run_id == run_id, tracking_metrics.c.key == key)
            .order_by(tracking_metrics.c.step, tracking_metrics.c.timestamp, tracking_metrics.c.id)
        )
        return [
            {"key": r.key, "value": _value(r), "step": int(r.step), "timestamp": int(r.timestamp)}
            for r in self.conn.execute(q)
        ]

    def metric_keys(self, run_id: str) -> list[str]:
        q = select(tracking_latest_metrics.c.key).where(tracking_latest_metrics.c.run_id == run_id)
        return sorted(r.key for r in self.conn.execute(q))

    # --- artifacts ----------------------------------------------------------------------------
    def put_artifacts(self, owner: str, files: Iterable[tuple[str, str, int]]) -> None:
        rows = [
            {"owner": owner, "path": p, "digest": d, "size": s, "created_at": utcnow()}
            for p, d, s in files
        ]
        if not rows:
            return
        self.conn.execute(
            delete(tracking_artifacts).where(
                tuple_(tracking_artifacts.c.owner, tracking_artifacts.c.path).in_(
                    [(r["owner"], r["path"]) for r in rows]
                )
            )
        )
        self.conn.execute(insert(tracking_artifacts), rows)

    def artifact(self, owner: str, path: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(tracking_artifacts).where(
                tracking_artifacts.c.owner == owner, tracking_artifacts.c.path == path
            )
        ).first()
        return dict(r._mapping) if r else None

    def artifacts(self, owner: str, prefix: str = "") -> list[dict[str, Any]]:
        q = select(tracking_artifacts).where(tracking_artifacts.c.owner == owner)
        if prefix:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(tracking_artifacts.c.path.like(escaped.rstrip("/") + "/%", escape="\\"))
        return [dict(r._mapping) for r in self.conn.execute(q.order_by(tracking_artifacts.c.path))]

    # --- logged models ------------------------------------------------------------------------
    def create_logged_model(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(tracking_logged_models).values(**values))

    def logged_model(self, model_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            select(tracking_logged_models).where(tracking_logged_models.c.id == model_id)
        ).first()
        return dict(r._mapping) if r else None

    def update_logged_model(self, model_id: str, **values: Any) -> None:
        self.conn.execute(
            update(tracking_logged_models)
            .where(tracking_logged_models.c.id == model_id)
            .values(**values)
        )

    def logged_models(
        self,
        experiment_ids: Sequence[int],
        *,
        source_run_id: str | None = None,
        name: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        q = select(tracking_logged_models)
        if experiment_ids:
            q = q.where(tracking_logged_models.c.experiment_id.in_(list(experiment_ids)))
        if source_run_id is not None:
            q = q.where(tracking_logged_models.c.source_run_id == source_run_id)
        if name is not None:
            q = q.where(tracking_logged_models.c.name == name)
        q = q.order_by(tracking_logged_models.c.creation_timestamp.desc()).limit(limit)
        return [dict(r._mapping) for r in self.conn.execute(q)]
