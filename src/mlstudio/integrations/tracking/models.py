"""MLflow 3 logged models (``mlflow.sklearn.log_model`` creates one, uploads its files as
artifacts of the model, then finalizes it), in the tracking store."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.integrations.tracking.service import now_ms
from mlstudio.store.metadata.store import MetadataStore

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


class LoggedModels:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def create(
        self,
        actor: str,
        experiment_id: str,
        *,
        name: str | None = None,
        model_type: str | None = None,
        source_run_id: str | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        import uuid

        if not str(experiment_id).isdigit():
            raise InvalidInputError(f"invalid experiment id {experiment_id!r}")
        model_id = f"m-{uuid.uuid4().hex}"
        stamp = now_ms()

        def work(uow: Any) -> dict[str, Any]:
            if uow.tracking.experiment(int(experiment_id)) is None and str(experiment_id) != "0":
                raise NotFoundError(f"no experiment {experiment_id!r}")
            if source_run_id and uow.tracking.run(source_run_id) is None:
                raise NotFoundError(f"no run {source_run_id!r}")
            uow.tracking.create_logged_model(
                {
                    "id": model_id,
                    "experiment_id": int(experiment_id),
                    "name": (name or "model")[:256],
                    "source_run_id": source_run_id,
                    "status": "PENDING",
                    "model_type": model_type,
                    "params": {str(k): str(v) for k, v in (params or {}).items()},
                    "tags": {str(k): str(v) for k, v in (tags or {}).items()},
                    "created_by": actor,
                    "creation_timestamp": stamp,
                    "last_updated_timestamp": stamp,
                }
            )
            return uow.tracking.logged_model(model_id)

        return self.store.retrying(work)

    def get(self, model_id: str) -> dict[str, Any]:
        with self.store.read() as uow:
            found = uow.tracking.logged_model(model_id)
        if found is None:
            raise NotFoundError(f"no logged model {model_id!r}")
        return found

    def update(self, model_id: str, **changes: Any) -> dict[str, Any]:
        """``status``, or ``params``/``tags`` merged into the existing ones."""

        def work(uow: Any) -> dict[str, Any]:
            found = uow.tracking.logged_model(model_id)
            if found is None:
                raise NotFoundError(f"no logged model {model_id!r}")
            values: dict[str, Any] = {"last_updated_timestamp": now_ms()}
            if changes.get("status"):
                status = str(changes["status"])
                if status not in STATUSES:
                    raise InvalidInputError(f"invalid logged model status {status!r}")
                values["status"] = status.removeprefix("LOGGED_MODEL_")
            for key in ("params", "tags"):
                if changes.get(key) is not None:
                    values[key] = {**found[key], **changes[key]}
            if "drop_tag" in changes:
                values["tags"] = {
                    k: v for k, v in found["tags"].items() if k != changes["drop_tag"]
                }
            uow.tracking.update_logged_model(model_id, **values)
            return uow.tracking.logged_model(model_id)

        return self.store.retrying(work)

    def search(
        self, experiment_ids: list[int], *, source_run_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            return uow.tracking.logged_models(
                experiment_ids, source_run_id=source_run_id, limit=limit
            )
