"""``/api/v1/models``: the model registry (one call into the studio per route)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.models import (
    AliasIn,
    DecisionIn,
    GateIn,
    ModelCreateIn,
    PredictIn,
    ProtectIn,
    RegisterIn,
)

router = APIRouter(prefix="/models", tags=["models"])
MODEL_HEADER = "X-Mlstudio-Model"


@router.get("")
def list_models(studio: StudioDep, page: Paging, search: str | None = None) -> dict[str, Any]:
    """Registered models by name, with their aliases."""
    return page.page(studio.models.list(search, limit=page.limit, offset=page.offset))


@router.post("", status_code=201)
def create_model(body: ModelCreateIn, studio: StudioDep) -> Any:
    return studio.models.create(body.name, namespace=body.namespace, description=body.description)


@router.get("/show")
def show_model(studio: StudioDep, ref: str, at: datetime | None = None) -> Any:
    """``ref``: NAME, NAME/VERSION or NAME@ALIAS (with ``at``: where the alias pointed then)."""
    return studio.models.show(ref, at=at)


@router.post("/predict")
def predict(body: PredictIn, studio: StudioDep) -> dict[str, Any]:
    """Batch scoring: the model's predictions for every row of ``input``, written as a new
    version of dataset ``output`` (governed like a run in ``domain``)."""
    return studio.models.predict(
        body.model, input=body.input, output=body.output, domain=body.domain
    )


@router.get("/load")
def load_model(
    studio: StudioDep,
    ref: str,
    domain: str | None = None,
    run_id: str | None = None,
    node_id: str | None = None,
) -> Response:
    """The version's pickle, after the domain and classification checks (refusals audited)."""
    view, data = studio.models.download(ref, domain=domain, run_id=run_id, node_id=node_id)
    header = json.dumps(view, default=str, separators=(",", ":"))
    return Response(data, media_type="application/octet-stream", headers={MODEL_HEADER: header})


@router.post("/{name}/versions", status_code=201)
def register_version(name: str, body: RegisterIn, studio: StudioDep) -> Any:
    return studio.models.register(
        name, body.run_id, task=body.task, namespace=body.namespace, description=body.description
    )


@router.put("/{name}/aliases/{alias}")
def set_alias(name: str, alias: str, body: AliasIn, studio: StudioDep) -> Any:
    return studio.models.alias(name, alias, body.version, override_reason=body.override_reason)


@router.delete("/{name}/aliases/{alias}")
def delete_alias(name: str, alias: str, studio: StudioDep) -> Any:
    return studio.models.unalias(name, alias)


@router.post("/{name}/versions/{version}/approve")
def approve(name: str, version: int, body: DecisionIn, studio: StudioDep) -> Any:
    return studio.models.approve(name, version, body.reason)


@router.post("/{name}/versions/{version}/reject")
def reject(name: str, version: int, body: DecisionIn, studio: StudioDep) -> Any:
    return studio.models.reject(name, version, body.reason)


@router.put("/{name}/gates/{alias}")
def set_gate(name: str, alias: str, body: GateIn, studio: StudioDep) -> Any:
    """Moving ``alias`` needs an evaluation showing non-inferiority on the gate's metric."""
    return studio.models.gate(
        name, alias, on=body.on, metric=body.metric, margin=body.margin, slices=body.slices
    )


@router.delete("/{name}/gates/{alias}")
def remove_gate(name: str, alias: str, studio: StudioDep) -> Any:
    return studio.models.gate(name, alias, remove=True)


@router.put("/{name}/protected/{alias}")
def protect(name: str, alias: str, body: ProtectIn, studio: StudioDep) -> Any:
    return studio.models.protect(name, alias, body.protected)


@router.delete("/{name}")
def delete_model(name: str, studio: StudioDep) -> Any:
    return studio.models.delete(name)
