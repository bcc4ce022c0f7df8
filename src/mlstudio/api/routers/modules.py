"""``/api/v1/modules``: the catalog, push (an upload), tags, promotion and rollback."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.data import DeletionOut
from mlstudio.api.schemas.modules import (
    ModuleOut,
    ModuleShowOut,
    PromoteIn,
    PushOut,
    RollbackIn,
    TagIn,
    TagMoveOut,
)
from mlstudio.api.uploads import check_expanded_size, read_upload

router = APIRouter(prefix="/modules", tags=["modules"])

_ARCHIVE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The module as a tar.gz with its files at the root (as "
        "`mlstudio module push` builds it): raw, or the file of a multipart form.",
        "content": {
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


@router.get("", response_model=Page[ModuleOut])
def list_modules(
    studio: StudioDep,
    page: Paging,
    search: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The catalog by name; ``search`` matches names, descriptions and task names."""
    rows = studio.modules.list(search, namespace, limit=page.limit, offset=page.offset)
    return page.page(rows)


@router.post("", status_code=201, response_model=PushOut, openapi_extra=_ARCHIVE_BODY)
async def push_module(
    request: Request,
    response: Response,
    studio: StudioDep,
    message: str = "",
    run_tests: bool = True,
    git_commit: Annotated[
        str | None,
        Query(pattern=r"^[0-9a-f]{7,64}$", description="Commit of the pusher's working copy"),
    ] = None,
    git_dirty: Annotated[bool | None, Query(description="Uncommitted changes in it")] = None,
) -> dict[str, Any]:
    """Upload a module archive: validated, tested and published as the token's user.

    201 with the new version; 200 when the content equals an existing version.
    """
    archive, _ = await read_upload(request, request.app.state.max_upload_bytes)
    git = (git_commit, git_dirty if git_commit else None)
    result = await run_in_threadpool(_push, studio, archive, message, run_tests, git)
    if result["unchanged"]:
        response.status_code = 200
    return result


def _push(
    studio: Any,
    archive: bytes,
    message: str,
    run_tests: bool,
    git: tuple[str | None, bool | None],
) -> Any:
    from mlstudio.modules.archive import MAX_MODULE_BYTES, extract_archive

    check_expanded_size(archive, MAX_MODULE_BYTES)
    with tempfile.TemporaryDirectory(prefix="mlstudio-upload-") as tmp:
        root = Path(tmp) / "module"
        extract_archive(archive, root)  # validates every member before writing any
        return studio.modules.push(root, message=message, run_tests=run_tests, git=git)


@router.get("/{namespace}/{name}", response_model=ModuleShowOut)
def show_module(namespace: str, name: str, studio: StudioDep) -> dict[str, Any]:
    """Versions, tags, tag history and the selected version (``NAME``, ``NAME:TAG``, ``NAME@N``)."""
    return studio.modules.show(f"{namespace}/{name}")


@router.post("/{namespace}/{name}/promote", response_model=TagMoveOut)
def promote_module(namespace: str, name: str, body: PromoteIn, studio: StudioDep) -> dict[str, Any]:
    """Move ``latest`` to a version whose tests passed."""
    return studio.modules.promote(
        f"{namespace}/{name}", body.version, override_reason=body.override_reason
    )


@router.put("/{namespace}/{name}/tags/{tag}", response_model=TagMoveOut)
def move_tag(namespace: str, name: str, tag: str, body: TagIn, studio: StudioDep) -> dict[str, Any]:
    """Point any tag at a version; the move is recorded."""
    return studio.modules.tag(
        f"{namespace}/{name}", tag, body.version, override_reason=body.override_reason
    )


@router.post("/{namespace}/{name}/rollback", response_model=TagMoveOut)
def rollback_module(
    namespace: str,
    name: str,
    studio: StudioDep,
    body: RollbackIn | None = None,
) -> dict[str, Any]:
    """Move a tag (default ``latest``) back to its previous version. Nothing is rebuilt."""
    tag = (body or RollbackIn()).tag
    return studio.modules.rollback(f"{namespace}/{name}", tag)


@router.delete("/{namespace}/{name}", response_model=DeletionOut)
def delete_module_version(namespace: str, name: str, studio: StudioDep) -> Any:
    """Delete ``NAME@N`` unless a tag, a live or pinned run, or a schedule needs it."""
    return studio.modules.delete(f"{namespace}/{name}")
