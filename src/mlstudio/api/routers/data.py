"""``/api/v1/datasets`` and ``/api/v1/declassifiers``: the catalog, classification, lineage,
import (an upload) and export (a download), each checked by the dataset service."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.data import (
    ClassifyIn,
    ClassifyOut,
    DatasetListItem,
    DatasetOut,
    DeclassifierIn,
    DeclassifierOut,
    DeletionOut,
    HeadOut,
    ImportOut,
    LineageOut,
)
from mlstudio.api.uploads import read_upload, safe_filename

router = APIRouter(tags=["data"])

_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "A .csv or .parquet file: raw (name it with ?filename=) or the file of "
        "a multipart form.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}
_MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


@router.get("/datasets", response_model=Page[DatasetListItem])
def list_datasets(
    studio: StudioDep,
    page: Paging,
    namespace: str | None = None,
    search: Annotated[str | None, Query(description="Name contains TEXT")] = None,
) -> dict[str, Any]:
    """The newest version of every dataset."""
    return page.page(studio.datasets.list(namespace, search, limit=page.limit, offset=page.offset))


@router.post("/datasets", status_code=201, response_model=ImportOut, openapi_extra=_FILE_BODY)
async def import_dataset(
    request: Request,
    studio: StudioDep,
    name: Annotated[str, Query(description="Dataset NS/NAME")],
    domain: str = "production",
    classify: Annotated[list[str] | None, Query(description="COL=LEVEL[+LABEL...]")] = None,
    filename: Annotated[str | None, Query(description="File name (.csv or .parquet)")] = None,
) -> dict[str, Any]:
    """Import a file as the next version of ``name``; unclassified columns count as restricted."""
    body, form_name = await read_upload(request, request.app.state.max_upload_bytes)
    file_name = safe_filename(filename or form_name, "upload.csv")
    return await run_in_threadpool(_import, studio, body, file_name, name, domain, classify or [])


def _import(
    studio: Any,
    body: bytes,
    file_name: str,
    name: str,
    domain: str,
    classify: list[str],
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlstudio-upload-") as tmp:
        path = Path(tmp) / file_name
        path.write_bytes(body)
        return studio.datasets.import_file(path, name, domain=domain, classify=classify)


@router.get("/datasets/{namespace}/{name}", response_model=DatasetOut)
def show_dataset(namespace: str, name: str, studio: StudioDep) -> Any:
    """A version's columns with level, labels and where each tag came from (``NAME[@V]``)."""
    return studio.datasets.show(f"{namespace}/{name}")


@router.post("/datasets/{namespace}/{name}/classify", response_model=ClassifyOut)
def classify_dataset(namespace: str, name: str, body: ClassifyIn, studio: StudioDep) -> Any:
    """Raise columns' classification (stewards; lowering needs a declassifier)."""
    return studio.datasets.classify(f"{namespace}/{name}", body.specs)


@router.get("/datasets/{namespace}/{name}/lineage", response_model=LineageOut)
def dataset_lineage(namespace: str, name: str, studio: StudioDep, column: str | None = None) -> Any:
    """Upstream columns, tasks, runs and imports of each column."""
    return studio.datasets.lineage(f"{namespace}/{name}", column)


@router.get(
    "/datasets/{namespace}/{name}/export",
    response_class=Response,
    responses={200: {"content": {m: {} for m in _MEDIA.values()}}},
)
def export_dataset(
    namespace: str,
    name: str,
    studio: StudioDep,
    domain: Annotated[str, Query(description="Domain whose policy it is read under")] = (
        "experimentation"
    ),
    fmt: Annotated[Literal["csv", "parquet"], Query(alias="format")] = "csv",
) -> Response:
    """The file, if ``domain`` may read every column; the summary is in ``X-Mlstudio-Export``."""
    ref = f"{namespace}/{name}"
    with tempfile.TemporaryDirectory(prefix="mlstudio-export-") as tmp:
        target = Path(tmp) / f"{name.partition('@')[0]}.{fmt}"
        summary = studio.datasets.export(ref, target, domain=domain)
        content = target.read_bytes()
    summary = {**summary, "file": target.name}
    return Response(
        content,
        media_type=_MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{target.name}"',
            "X-Mlstudio-Export": json.dumps(summary, separators=(",", ":")),
        },
    )


@router.get("/datasets/{namespace}/{name}/head", response_model=HeadOut)
def dataset_head(
    namespace: str,
    name: str,
    studio: StudioDep,
    rows: Annotated[int, Query(ge=1, le=1000, description="Rows to show")] = 20,
    columns: Annotated[list[str] | None, Query(description="Only these columns")] = None,
    domain: Annotated[str, Query(description="Domain whose policy it is read under")] = (
        "experimentation"
    ),
) -> Any:
    """The first rows of the columns ``domain`` may read (the others are listed as withheld)."""
    return studio.datasets.head(f"{namespace}/{name}", rows=rows, columns=columns, domain=domain)


@router.delete("/datasets/{namespace}/{name}", response_model=DeletionOut)
def delete_dataset(namespace: str, name: str, studio: StudioDep) -> Any:
    """Delete ``NAME@V``, or every version of ``NAME``, unless a live or pinned run or a cache
    entry still needs it (owners and maintainers of the namespace)."""
    return studio.datasets.delete(f"{namespace}/{name}")


# --- declassifiers ---------------------------------------------------------------------------
@router.get("/declassifiers", response_model=Page[DeclassifierOut])
def list_declassifiers(
    studio: StudioDep,
    page: Paging,
    state: Annotated[str | None, Query(description="pending | approved | revoked")] = None,
) -> dict[str, Any]:
    """Every declassifier, oldest first."""
    return page.page(page.slice(studio.declassifiers.list(state)))


@router.post("/declassifiers", status_code=201, response_model=DeclassifierOut)
def create_declassifier(body: DeclassifierIn, studio: StudioDep) -> Any:
    """Record a declassifier for a task's output columns (stewards; another one approves)."""
    return studio.declassifiers.create(
        body.module,
        body.task,
        body.columns,
        lower_to=body.lower_to,
        remove_labels=body.remove_labels,
        justification=body.justification,
    )


@router.post("/declassifiers/{declassifier_id}/approve", response_model=DeclassifierOut)
def approve_declassifier(declassifier_id: str, studio: StudioDep) -> Any:
    """Approve a pending declassifier (a steward or admin who did not create it)."""
    return studio.declassifiers.approve(declassifier_id)


@router.post("/declassifiers/{declassifier_id}/revoke", response_model=DeclassifierOut)
def revoke_declassifier(declassifier_id: str, studio: StudioDep) -> Any:
    """Revoke a declassifier: it stops applying to new outputs."""
    return studio.declassifiers.revoke(declassifier_id)
