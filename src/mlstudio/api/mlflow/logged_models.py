"""MLflow 3 logged models (``/api/2.0/mlflow/logged-models``): search only so far (the client
calls it when resolving a run's artifacts); create/get/finalize are not served yet."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mlstudio.api.deps import StudioDep

P = "/api/2.0/mlflow/logged-models"
router = APIRouter()


def _model_json(row: dict[str, Any]) -> dict[str, Any]:
    exp = str(row["experiment_id"])
    return {
        "info": {
            "model_id": row["id"],
            "experiment_id": exp,
            "name": row["name"],
            "source_run_id": row["source_run_id"] or "",
            "status": row["status"],
            "model_type": row["model_type"] or "",
            "creation_timestamp_ms": row["creation_timestamp"],
            "last_updated_timestamp_ms": row["last_updated_timestamp"],
            "artifact_uri": f"mlflow-artifacts:/{exp}/models/{row['id']}/artifacts",
            "creator_id": row["created_by"],
            "tags": [{"key": k, "value": v} for k, v in (row["tags"] or {}).items()],
        },
        "data": {"params": [{"key": k, "value": v} for k, v in (row["params"] or {}).items()]},
    }


@router.post(f"{P}/search")
async def search_logged_models(request: Request, studio: StudioDep) -> Any:
    try:
        data = await request.json()
    except Exception:
        data = {}
    ids = [int(e) for e in (data or {}).get("experiment_ids") or [] if str(e).isdigit()]
    limit = min(int((data or {}).get("max_results") or 100), 1000)
    with studio.platform.store.read() as uow:
        rows = uow.tracking.logged_models(ids, limit=limit)
    return {"models": [_model_json(r) for r in rows]}
