"""Experiment tracking: experiments, tracked runs, logging, search, comparison.

One store for everything: a task run of a workflow run becomes a tracked run when it ends
(:mod:`.ingest`, a subscriber of the engine's ``TaskTracked`` event), and an MLflow client's
runs (``mlstudio.api.mlflow``) are rows of the same tables, so ``runs compare``/``runs search``
treat both alike. Times are epoch milliseconds, as in MLflow.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlstudio.core.tracking import (
    MAX_TAG_VALUE,
    json_number,
    metric_value,
    param_value,
    validate_artifact_path,
    validate_key,
)
from mlstudio.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from mlstudio.store.artifacts.cas import ContentStore
    from mlstudio.store.metadata.store import MetadataStore, UnitOfWork

DEFAULT_EXPERIMENT = "Default"
STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
_LOWER_IS_BETTER = ("loss", "error", "err", "mse", "rmse", "mae", "mape", "perplexity", "time")
MAX_BATCH = 1000  # metrics per log-batch call (MLflow's limit)


def now_ms() -> int:
    return int(time.time() * 1000)


def new_run_id() -> str:
    return uuid.uuid4().hex


def lower_is_better(key: str) -> bool:
    """Which way a metric improves, from its name: losses and errors go down, the rest up."""
    last = key.lower().replace("-", "_").replace("/", "_").split("_")
    return any(part in _LOWER_IS_BETTER for part in last)


def experiment_id_for(uow: UnitOfWork, name: str, actor: str) -> int:
    """The id of experiment ``name``, created when it does not exist yet."""
    found = uow.tracking.experiment_by_name(name) or uow.tracking.ensure_experiment(name, actor)
    if found["lifecycle_stage"] != "active":
        uow.tracking.update_experiment(found["id"], lifecycle_stage="active")
    return int(found["id"])


def ensure_default(uow: UnitOfWork, actor: str) -> None:
    """The ``Default`` experiment (id 0), created by whichever engine needs it first."""
    if uow.tracking.experiment(0) is None:
        uow.tracking.ensure_experiment(DEFAULT_EXPERIMENT, actor, id=0)


class TrackingService:
    def __init__(self, store: MetadataStore, cas: ContentStore) -> None:
        self.store = store
        self.cas = cas

    # --- experiments --------------------------------------------------------------------------
    def create_experiment(
        self, actor: str, name: str, tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        name = _experiment_name(name)

        def work(uow: UnitOfWork) -> dict[str, Any]:
            ensure_default(uow, actor)
            if uow.tracking.experiment_by_name(name) is not None:
                raise ConflictError(
                    f"experiment {name!r} already exists", hint="use another name or that one"
                )
            exp_id = uow.tracking.create_experiment(name, actor, tags or {})
            return _experiment_view(uow.tracking.experiment(exp_id), 0)

        return self.store.retrying(work)

    def get_experiment(self, ref: str | int, *, by: str = "any") -> dict[str, Any]:
        """An experiment by id (``by="id"``), by name (``by="name"``) or either."""
        with self.store.read() as uow:
            found = None
            text = str(ref)
            if by in ("any", "id") and text.isdigit():
                found = uow.tracking.experiment(int(text))
            if found is None and by in ("any", "name"):
                found = uow.tracking.experiment_by_name(text)
            if found is None and text in ("0", DEFAULT_EXPERIMENT) and by != "name":
                found = {
                    "id": 0,
                    "name": DEFAULT_EXPERIMENT,
                    "lifecycle_stage": "active",
                    "tags": {},
                    "created_by": "",
                    "created_at": None,
                    "updated_at": None,
                }
            if found is None:
                names = [e["name"] for e in uow.tracking.experiments()]
                from difflib import get_close_matches

                close = get_close_matches(text, names, n=1)
                raise NotFoundError(
                    f"no experiment {text!r}",
                    hint=f"did you mean {close[0]!r}?"
                    if close
                    else "see `mlstudio experiments list`",
                )
            counts = uow.tracking.run_counts()
            return _experiment_view(found, counts.get(int(found["id"]), 0))

    def ensure_experiment(self, actor: str, name: str) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            exp_id = experiment_id_for(uow, _experiment_name(name), actor)
            return _experiment_view(uow.tracking.experiment(exp_id), 0)

        return self.store.retrying(work)

    def list_experiments(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            counts = uow.tracking.run_counts()
            return [
                _experiment_view(e, counts.get(int(e["id"]), 0))
                for e in uow.tracking.experiments()
                if include_deleted or e["lifecycle_stage"] == "active"
            ]

    def set_experiment_state(self, actor: str, exp_id: int, stage: str) -> None:
        """Delete (``stage="deleted"``) or restore (``"active"``) an experiment: its creator or
        an admin; the Default experiment stays. Audited."""
        if stage not in ("active", "deleted"):
            raise InvalidInputError(f"invalid lifecycle stage {stage!r}", hint="active or deleted")

        def work(uow: UnitOfWork) -> None:
            self._manageable(uow, actor, exp_id)
            if exp_id == 0 and stage == "deleted":
                raise InvalidInputError(
                    "the Default experiment cannot be deleted", hint="delete another experiment"
                )
            uow.tracking.update_experiment(exp_id, lifecycle_stage=stage)

        verb = "delete" if stage == "deleted" else "restore"
        self._guarded(actor, f"tracking.experiment.{verb}", f"experiment:{exp_id}", work)

    def update_experiment(
        self,
        actor: str,
        exp_id: int,
        *,
        name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Rename an experiment or set its tags (its creator or an admin). Audited."""
        new_name = _experiment_name(name) if name is not None else None
        clean = {validate_key(k, "tag"): _tag_value(v) for k, v in (tags or {}).items()}

        def work(uow: UnitOfWork) -> None:
            found = self._manageable(uow, actor, exp_id)
            values: dict[str, Any] = {}
            if new_name is not None and new_name != found["name"]:
                if uow.tracking.experiment_by_name(new_name) is not None:
                    raise ConflictError(
                        f"experiment {new_name!r} already exists", hint="pick another name"
                    )
                values["name"] = new_name
            if clean:
                values["tags"] = {**(found["tags"] or {}), **clean}
            if values:
                uow.tracking.update_experiment(exp_id, **values)

        self._guarded(actor, "tracking.experiment.update", f"experiment:{exp_id}", work)

    @staticmethod
    def _manageable(uow: UnitOfWork, actor: str, exp_id: int) -> dict[str, Any]:
        from mlstudio.governance.rbac import Authorizer

        found = uow.tracking.experiment(exp_id)
        if found is None:
            raise NotFoundError(f"no experiment {exp_id}", hint="see `mlstudio experiments list`")
        auth = Authorizer(uow.identity)
        if found["created_by"] != actor and not auth.is_admin(actor):
            raise PermissionDeniedError(
                f"{actor} may not change experiment {found['name']!r}: it belongs to "
                f"{found['created_by']}",
                hint="ask its creator or an admin",
            )
        return found

    # --- runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        actor: str,
        experiment_id: str | int | None,
        *,
        name: str | None = None,
        start_time: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        run_id = new_run_id()
        tags = {validate_key(k, "tag"): _tag_value(v) for k, v in (tags or {}).items()}
        run_name = name or tags.get("mlflow.runName") or f"run-{run_id[:8]}"
        tags["mlflow.runName"] = run_name
        tags.setdefault("mlflow.user", actor)

        def work(uow: UnitOfWork) -> dict[str, Any]:
            ensure_default(uow, actor)
            exp = int(experiment_id) if str(experiment_id or "0").isdigit() else None
            if exp is None or uow.tracking.experiment(exp) is None:
                raise NotFoundError(f"no experiment {experiment_id!r}")
            uow.tracking.create_runs(
                [
                    {
                        "id": run_id,
                        "experiment_id": exp,
                        "name": run_name[:256],
                        "user": actor,
                        "status": "RUNNING",
                        "start_time": start_time or now_ms(),
                        "end_time": None,
                        "lifecycle_stage": "active",
                        "source": "mlflow",
                        "cache_hit": False,
                    }
                ]
            )
            uow.tracking.set_tags(run_id, tags)
            return self._full(uow, [run_id])[0]

        return self.store.retrying(work)

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.store.read() as uow:
            return self._full(uow, [self._existing(uow, run_id)["id"]])[0]

    def update_run(
        self,
        actor: str,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise InvalidInputError(
                f"invalid run status {status!r}", hint=f"use one of {', '.join(STATUSES)}"
            )

        def work(uow: UnitOfWork) -> dict[str, Any]:
            self._writable(uow, actor, run_id)
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = status
                if status in ("FINISHED", "FAILED", "KILLED"):
                    values["end_time"] = end_time or now_ms()
            elif end_time is not None:
                values["end_time"] = end_time
            if name:
                values["name"] = name[:256]
                uow.tracking.set_tags(run_id, {"mlflow.runName": name})
            if values:
                uow.tracking.update_run(run_id, **values)
            return self._full(uow, [run_id])[0]

        return self._guarded(actor, "tracking.run.update", run_id, work)

    def set_lifecycle(self, actor: str, run_id: str, stage: str) -> None:
        def work(uow: UnitOfWork) -> None:
            self._writable(uow, actor, run_id)
            uow.tracking.update_run(run_id, lifecycle_stage=stage)

        self._guarded(actor, "tracking.run.delete", run_id, work)

    def log_batch(
        self,
        actor: str,
        run_id: str,
        *,
        metrics: Sequence[tuple[str, Any, int | None, int | None]] = (),
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """Log metric points ``(key, value, step, timestamp)``, params and tags in one
        transaction; a param already logged with another value refuses the whole batch."""
        if len(metrics) > MAX_BATCH or len(params or {}) > 100 or len(tags or {}) > 100:
            raise InvalidInputError(
                "a batch holds at most 1000 metrics, 100 params and 100 tags",
                hint="split it into several calls",
            )
        now = now_ms()
        points = [
            (
                validate_key(k, "metric"),
                metric_value(v),
                int(s or 0),
                int(t) if t is not None else now,
            )
            for k, v, s, t in metrics
        ]
        clean_params = {validate_key(k, "param"): param_value(v) for k, v in (params or {}).items()}
        clean_tags = {validate_key(k, "tag"): _tag_value(v) for k, v in (tags or {}).items()}

        def work(uow: UnitOfWork) -> None:
            self._writable(uow, actor, run_id)
            if clean_params:
                old = uow.tracking.params_of([run_id])[run_id]
                for key, value in clean_params.items():
                    if key in old and old[key] != value:
                        raise InvalidInputError(
                            f"param {key!r} of run {run_id} is {old[key]!r}; changing it to "
                            f"{value!r} is refused",
                            hint="params are logged once per run; use a tag or a metric",
                        )
                uow.tracking.insert_params(
                    run_id, {k: v for k, v in clean_params.items() if k not in old}
                )
            uow.tracking.set_tags(run_id, clean_tags)
            uow.tracking.log_metrics(run_id, points)

        self._guarded(actor, "tracking.run.log", run_id, work)

    def delete_tag(self, actor: str, run_id: str, key: str) -> None:
        def work(uow: UnitOfWork) -> None:
            self._writable(uow, actor, run_id)
            if not uow.tracking.delete_tag(run_id, key):
                raise NotFoundError(f"run {run_id} has no tag {key!r}")

        self._guarded(actor, "tracking.run.log", run_id, work)

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            self._existing(uow, run_id)
            return uow.tracking.history(run_id, key)

    # --- search, compare ----------------------------------------------------------------------
    def search(
        self,
        *,
        filter: str | None = None,
        order_by: list[str] | None = None,
        experiments: Sequence[str | int] | None = None,
        limit: int = 100,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Runs matching the MLflow ``filter``, ordered; returns them and the next offset
        (None at the end)."""
        from mlstudio.integrations.tracking.search import (
            compile_search,
            parse_filter,
            parse_order_by,
        )

        if not 1 <= limit <= 50000:
            raise InvalidInputError(f"invalid limit {limit}", hint="use 1 to 50000")
        clauses = parse_filter(filter)
        orders = parse_order_by(order_by)
        exp_ids = [int(self.get_experiment(e)["id"]) for e in experiments or []]
        query = compile_search(
            clauses,
            orders,
            experiment_ids=exp_ids or None,
            dialect=self.store.dialect,
            include_deleted=include_deleted,
            limit=limit + 1,
            offset=offset,
        )
        with self.store.read() as uow:
            ids = [r["id"] for r in uow.tracking.search(query)]
            more = len(ids) > limit
            ids = ids[:limit]
            return self._full(uow, ids), (offset + limit if more else None)

    def resolve(self, ref: str) -> list[str]:
        """Tracked run ids ``ref`` names: a tracked run, or a workflow run (its task runs)."""
        with self.store.read() as uow:
            if uow.tracking.run(ref) is not None:
                return [ref]
            grouped = uow.tracking.runs_of_workflow_run(ref)
            if grouped:
                return [r["id"] for r in grouped]
            if uow.runs.get_run(ref) is not None:
                raise NotFoundError(
                    f"workflow run {ref} has no tracked task runs yet",
                    hint="its task runs are tracked as they end; wait for it",
                )
        raise NotFoundError(
            f"no tracked run or workflow run {ref!r}", hint="see `mlstudio runs search`"
        )

    def runs(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            return self._full(uow, list(ids))

    def compare(self, refs: Sequence[str], *, only_differences: bool = False) -> dict[str, Any]:
        ids: list[str] = []
        for ref in refs:
            ids.extend(i for i in self.resolve(ref) if i not in ids)
        if len(ids) < 2:
            raise InvalidInputError(
                "compare needs at least two tracked runs",
                hint="name two runs, or a workflow run with several tasks",
            )
        runs = self.runs(ids)
        columns = [
            {"id": r["id"], "label": _label(r), "workflow_run_id": r["workflow_run_id"]}
            for r in runs
        ]
        params = []
        for key in sorted({k for r in runs for k in r["params"]}):
            values = [r["params"].get(key) for r in runs]
            differs = len({str(v) for v in values}) > 1
            if differs or not only_differences:
                params.append({"key": key, "values": values, "differs": differs})
        metrics = []
        for key in sorted({k for r in runs for k in r["metrics"]}):
            raw = [r["metrics"].get(key, {}).get("value") for r in runs]
            differs = len({str(v) for v in raw}) > 1
            if not differs and only_differences:
                continue
            finite = [(v, i) for i, v in enumerate(raw) if v is not None and not math.isnan(v)]
            best = None
            if finite and differs:
                pick = min if lower_is_better(key) else max
                best = pick(finite)[1]
            metrics.append(
                {
                    "key": key,
                    "values": [json_number(v) for v in raw],
                    "best": best,
                    "direction": "min" if lower_is_better(key) else "max",
                    "differs": differs,
                }
            )
        return {"runs": columns, "params": params, "metrics": metrics}

    # --- artifacts ----------------------------------------------------------------------------
    def put_artifact(self, actor: str, owner: str, path: str, data: bytes) -> dict[str, Any]:
        path = validate_artifact_path(path)
        digest = self.cas.put(data)

        def work(uow: UnitOfWork) -> dict[str, Any]:
            if uow.tracking.run(owner) is not None:
                self._writable(uow, actor, owner)
            elif uow.tracking.logged_model(owner) is None:
                raise NotFoundError(f"no run or logged model {owner!r}")
            uow.tracking.put_artifacts(owner, [(path, digest, len(data))])
            return {"path": path, "digest": digest, "size": len(data)}

        return self._guarded(actor, "tracking.artifact.put", f"{owner}/{path}", work)

    def artifact(self, owner: str, path: str) -> bytes:
        path = validate_artifact_path(path)
        with self.store.read() as uow:
            found = uow.tracking.artifact(owner, path)
        if found is None:
            raise NotFoundError(f"no artifact {path!r} in {owner}")
        return self.cas.get(found["digest"])

    def list_artifacts(self, owner: str, path: str = "") -> list[dict[str, Any]]:
        """The files and directories directly under ``path`` (MLflow's listing)."""
        prefix = validate_artifact_path(path) if path else ""
        with self.store.read() as uow:
            rows = uow.tracking.artifacts(owner, prefix)
        out: dict[str, dict[str, Any]] = {}
        start = len(prefix) + 1 if prefix else 0
        for row in rows:
            rest = row["path"][start:]
            head, slash, _ = rest.partition("/")
            full = f"{prefix}/{head}" if prefix else head
            if slash:
                out.setdefault(full, {"path": full, "is_dir": True})
            else:
                out[full] = {"path": full, "is_dir": False, "file_size": int(row["size"])}
        return list(out.values())

    # --- helpers ------------------------------------------------------------------------------
    def _guarded(self, actor: str, action: str, resource: str, work: Any) -> Any:
        from mlstudio.governance.audit import guarded

        return guarded(self.store, actor, action, f"tracking:{resource}", work)

    def _existing(self, uow: UnitOfWork, run_id: str) -> dict[str, Any]:
        row = uow.tracking.run(run_id)
        if row is None:
            raise NotFoundError(f"no tracked run {run_id!r}", hint="see `mlstudio runs search`")
        return row

    def _writable(self, uow: UnitOfWork, actor: str, run_id: str) -> dict[str, Any]:
        """Only an MLflow run's own user (or an admin) writes to it; task runs are written by
        the engine alone."""
        row = self._existing(uow, run_id)
        if row["source"] != "mlflow":
            raise PermissionDeniedError(
                f"run {run_id} is a task run: only its task logs to it",
                hint="log with current().log_metric(...) inside the task",
            )
        if row["user"] != actor:
            from mlstudio.governance.rbac import Authorizer

            if not Authorizer(uow.identity).is_admin(actor):
                raise PermissionDeniedError(
                    f"run {run_id} belongs to {row['user']}", hint="log to a run of your own"
                )
        return row

    def _full(self, uow: UnitOfWork, ids: list[str]) -> list[dict[str, Any]]:
        rows = uow.tracking.runs_by_ids(ids)
        params = uow.tracking.params_of(ids)
        tags = uow.tracking.tags_of(ids)
        latest = uow.tracking.latest_of(ids)
        names = {int(e["id"]): e["name"] for e in uow.tracking.experiments()}
        out = []
        for row in rows:
            out.append(
                {
                    **row,
                    "experiment_id": str(row["experiment_id"]),
                    "experiment": names.get(int(row["experiment_id"]), DEFAULT_EXPERIMENT),
                    "params": params.get(row["id"], {}),
                    "tags": tags.get(row["id"], {}),
                    "metrics": latest.get(row["id"], {}),
                }
            )
        return out


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    """A tracked run for the CLI and the native API: metric values by key (NaN/inf as
    MLflow's strings)."""
    return {
        "id": run["id"],
        "experiment_id": run["experiment_id"],
        "experiment": run["experiment"],
        "name": run["name"],
        "user": run["user"],
        "status": run["status"],
        "start_time": run["start_time"],
        "end_time": run["end_time"],
        "lifecycle_stage": run["lifecycle_stage"],
        "source": run["source"],
        "workflow_run_id": run["workflow_run_id"],
        "node_id": run["node_id"],
        "domain": run["domain"],
        "cache_hit": bool(run["cache_hit"]),
        "produced_by": run["produced_by"],
        "duration_s": run["duration_s"],
        "params": run["params"],
        "metrics": {k: json_number(m["value"]) for k, m in sorted(run["metrics"].items())},
        "tags": run["tags"],
    }


def _label(run: dict[str, Any]) -> str:
    if run["workflow_run_id"]:
        return f"{run['workflow_run_id']}/{run['node_id']}"
    return run["name"] or run["id"]


def _experiment_view(row: dict[str, Any] | None, runs: int) -> dict[str, Any]:
    assert row is not None
    created = row.get("created_at")
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "lifecycle_stage": row["lifecycle_stage"],
        "tags": row.get("tags") or {},
        "created_by": row.get("created_by") or "",
        "created_at": created.isoformat() if created else None,
        "creation_time": int(created.timestamp() * 1000) if created else 0,
        "last_update_time": int(row["updated_at"].timestamp() * 1000)
        if row.get("updated_at")
        else 0,
        "runs": runs,
    }


def _experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise InvalidInputError(
            f"invalid experiment name {str(name)[:60]!r}", hint="use 1 to 256 characters"
        )
    if any(ord(c) < 32 for c in name):
        raise InvalidInputError("an experiment name may not hold control characters")
    return name.strip()


def _tag_value(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise InvalidInputError(f"tag value longer than {MAX_TAG_VALUE} characters")
    return text
