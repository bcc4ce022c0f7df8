"""Catalog pages: modules (with promote for those who may), datasets, feature views, prompts,
models, evaluations, flags and the audit log. Read-only but for promote; every call goes to the
interface."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from mlstudio.api.portal.pages import PREFIX, guarded, may_write_namespace, post, render
from mlstudio.errors import InvalidInputError

router = APIRouter(include_in_schema=False)


@router.get(f"{PREFIX}/modules")
def modules(request: Request, search: str | None = None) -> Response:
    return guarded(
        request,
        lambda s, studio: render(
            request, "modules.html", s, modules=studio.modules.list(search or None), search=search
        ),
    )


@router.get(f"{PREFIX}/modules/{{namespace}}/{{name}}")
def module(request: Request, namespace: str, name: str) -> Response:
    def show(session: Any, studio: Any) -> Response:
        shown = studio.modules.show(f"{namespace}/{name}")
        may = may_write_namespace(studio.users.whoami(), namespace)
        return render(request, "module.html", session, m=shown, ref=f"{namespace}/{name}", may=may)

    return guarded(request, show)


@router.post(f"{PREFIX}/modules/{{namespace}}/{{name}}/promote")
async def promote(request: Request, namespace: str, name: str) -> Response:
    def act(_session: Any, studio: Any, form: dict[str, str]) -> Response:
        version = form.get("version", "")
        if not version.isdigit():
            raise InvalidInputError(f"version {version!r} is not a number", hint="e.g. 3")
        studio.modules.promote(f"{namespace}/{name}", int(version))
        return RedirectResponse(f"{PREFIX}/modules/{namespace}/{name}", status_code=303)

    return await post(request, act)


@router.get(f"{PREFIX}/datasets")
def datasets(request: Request, search: str | None = None) -> Response:
    return guarded(
        request,
        lambda s, studio: render(
            request,
            "datasets.html",
            s,
            datasets=studio.datasets.list(search=search or None, limit=200),
            search=search,
        ),
    )


@router.get(f"{PREFIX}/datasets/{{ref:path}}")
def dataset(request: Request, ref: str) -> Response:
    return guarded(
        request, lambda s, studio: render(request, "dataset.html", s, d=studio.datasets.show(ref))
    )


@router.get(f"{PREFIX}/features")
def features(request: Request, search: str | None = None) -> Response:
    return guarded(
        request,
        lambda s, studio: render(
            request,
            "features.html",
            s,
            views=studio.features.list(search=search or None),
            search=search,
        ),
    )


@router.get(f"{PREFIX}/features/{{ref:path}}")
def feature_view(request: Request, ref: str) -> Response:
    return guarded(
        request, lambda s, studio: render(request, "feature.html", s, v=studio.features.show(ref))
    )


@router.get(f"{PREFIX}/prompts")
def prompts(request: Request, module: str | None = None) -> Response:
    return guarded(
        request,
        lambda s, studio: render(
            request, "prompts.html", s, prompts=studio.genai.prompts(module or None), module=module
        ),
    )


@router.get(f"{PREFIX}/prompts/{{ref:path}}")
def prompt(request: Request, ref: str) -> Response:
    return guarded(
        request, lambda s, studio: render(request, "prompt.html", s, p=studio.genai.prompt(ref))
    )


@router.get(f"{PREFIX}/models")
def models(request: Request) -> Response:
    return guarded(
        request, lambda s, studio: render(request, "models.html", s, models=studio.models.list())
    )


@router.get(f"{PREFIX}/models/{{ref:path}}")
def model(request: Request, ref: str) -> Response:
    return guarded(
        request, lambda s, studio: render(request, "model.html", s, m=studio.models.show(ref))
    )


@router.get(f"{PREFIX}/evaluations")
def evaluations(request: Request, dataset: str | None = None) -> Response:
    return guarded(
        request,
        lambda s, studio: render(
            request,
            "evaluations.html",
            s,
            rows=studio.evaluation.list(dataset or None),
            dataset=dataset,
        ),
    )


@router.get(f"{PREFIX}/evaluations/{{ref:path}}")
def evaluation(request: Request, ref: str) -> Response:
    return guarded(
        request,
        lambda s, studio: render(request, "evaluation.html", s, e=studio.evaluation.show(ref)),
    )


@router.get(f"{PREFIX}/flags")
def flags(request: Request, prefix: str | None = None) -> Response:
    return guarded(
        request,
        lambda s, studio: render(
            request, "flags.html", s, flags=studio.flags.list(prefix or None), prefix_=prefix
        ),
    )


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"since: {text!r} is not a date", hint="use YYYY-MM-DD or an ISO timestamp"
        ) from exc


@router.get(f"{PREFIX}/audit")
def audit(
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    size = 50

    def show(session: Any, studio: Any) -> Response:
        rows = studio.audit.list(
            since=_since(since),
            actor=actor or None,
            action=action or None,
            limit=size + 1,
            offset=(page - 1) * size,
        )
        return render(
            request,
            "audit.html",
            session,
            rows=rows[:size],
            more=len(rows) > size,
            page=page,
            f={"actor": actor or "", "action": action or "", "since": since or ""},
        )

    return guarded(request, show)
