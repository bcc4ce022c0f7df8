"""The portal's routes: sign-in/out, runs (list, page, live state, logs, cancel, clone).

Catalog pages are in :mod:`mlstudio.api.portal.catalog`. Each route makes its calls into the
application interface through :func:`~mlstudio.api.portal.pages.guarded`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

from mlstudio.api.portal import forms, views
from mlstudio.api.portal.pages import (
    PREFIX,
    STATIC,
    current_session,
    form_data,
    guarded,
    post,
    render,
    sessions,
    studio_for,
)
from mlstudio.api.portal.session import COOKIE, PRE_COOKIE, Session, cookie_options
from mlstudio.errors import MlstudioError

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
LOG_LINES = 200
RUN_FILTERS = ("state", "workflow", "user", "domain", "namespace")
TABS = ("tasks", "graph", "timeline", "logs", "parameters", "outputs")
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".txt": "text/plain"}


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/runs", status_code=303)


@router.get(f"{PREFIX}/static/{{name}}")
def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response("not found", status_code=404)
    return FileResponse(path, media_type=STATIC_TYPES.get(path.suffix, "application/octet-stream"))


# --- sign-in ------------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    """Only a path of this portal (no open redirects)."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/runs"


@router.get(f"{PREFIX}/signin")
def signin_form(request: Request, next: str | None = None) -> Response:
    import secrets

    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "signin.html",
        None,
        error=None,
        next=_safe_next(next),
        form_csrf=sessions(request).csrf(nonce),
    )
    response.set_cookie(PRE_COOKIE, nonce, max_age=3600, **cookie_options(_secure(request)))
    return response


def _timestamp(iso: str) -> float:
    when = datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.post(f"{PREFIX}/signin")
async def signin(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    form = await form_data(request)
    return await run_in_threadpool(
        _signin, request, form.get("token", ""), form.get("csrf", ""), form.get("next", "")
    )


def _signin(request: Request, token: str, csrf: str, wanted: str) -> Response:
    from mlstudio.api.deps import authenticate

    issuer = sessions(request)
    nonce = request.cookies.get(PRE_COOKIE)
    target = _safe_next(wanted)

    def again(message: str, status: int) -> Response:
        response = render(
            request,
            "signin.html",
            None,
            status,
            error=message,
            next=target,
            form_csrf=issuer.csrf(nonce) if nonce else "",
        )
        return response

    if not issuer.check_csrf(nonce, csrf):
        return again("the sign-in form expired: reload the page and try again", 403)
    try:
        user = authenticate(request.app.state.platform, f"Bearer {token.strip()}")
    except MlstudioError as exc:
        return again(f"sign-in refused: {exc}", 401)
    from mlstudio.governance.tokens import parse_token

    token_id = parse_token(token) or ""
    studio = studio_for(request, Session(user, "", 0.0, token_id))
    record = next((t for t in studio.tokens.list(user) if t["id"] == token_id), None)
    expires = record and record.get("expires_at")
    not_after = _timestamp(expires) if expires else None
    cookie, session = issuer.issue(user, token_id=token_id, not_after=not_after)
    response = RedirectResponse(target, status_code=303)
    max_age = max(1, int(session.expires - time.time()))
    response.set_cookie(COOKIE, cookie, max_age=max_age, **cookie_options(_secure(request)))
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@router.post(f"{PREFIX}/signout")
async def signout(request: Request) -> Response:
    def out(_session: Any, _studio: Any, _form: dict[str, str]) -> Response:
        response = RedirectResponse(f"{PREFIX}/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return await post(request, out)


# --- runs ---------------------------------------------------------------------------------------
@router.get(f"{PREFIX}/runs")
def runs_list(request: Request, page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    filters = {k: request.query_params.get(k) or None for k in RUN_FILTERS}

    def show(session: Any, studio: Any) -> Response:
        rows = studio.runs.list(**filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        kept = {k: v for k, v in filters.items() if v}
        return render(
            request,
            "runs.html",
            session,
            runs=rows[:PAGE_SIZE],
            filters=filters,
            page=page,
            prev_url=_url("runs", {**kept, "page": page - 1}) if page > 1 else None,
            next_url=_url("runs", {**kept, "page": page + 1}) if len(rows) > PAGE_SIZE else None,
            states=("queued", "running", "succeeded", "failed", "cancelling", "cancelled"),
        )

    return guarded(request, show)


def _url(path: str, params: dict[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{PREFIX}/{path}" + (f"?{query}" if query else "")


@router.get(f"{PREFIX}/runs/{{run_id}}")
def run_page(
    request: Request, run_id: str, tab: str = "tasks", task: str | None = None
) -> Response:
    tab = tab if tab in TABS else "tasks"

    def show(session: Any, studio: Any) -> Response:
        run = studio.runs.show(run_id)
        context: dict[str, Any] = {"run": run, "tab": tab, "tabs": TABS}
        context["active"] = views.run_is_active(run["state"])
        if tab == "graph":
            context["dag"] = views.layout_dag(views.fold_tasks(run["tasks"]))
            context["has_deps"] = any("deps" in t for t in run["tasks"])
        elif tab == "timeline":
            bars, axis = views.gantt(run["tasks"])
            context.update(bars=bars, axis=axis)
        elif tab == "logs":
            nodes = [t["node"] for t in run["tasks"] if not t["node"].endswith("[*]")]
            chosen = task if task in nodes else (nodes[0] if nodes else None)
            text, start, total = _log(studio, run_id, chosen, LOG_LINES, None)
            context.update(nodes=nodes, task=chosen, log=text, log_start=start, log_total=total)
        elif tab == "parameters":
            context["fields"] = forms.param_fields(run["params"])
        return render(request, "run.html", session, **context)

    return guarded(request, show)


def _log(studio: Any, run_id: str, task: str | None, lines: int, before: int | None) -> tuple:
    if task is None:
        return "", 0, 0
    entries = studio.runs.logs(run_id, task=task)
    text = "\n".join(
        f"--- attempt {e['attempt']}"
        + (f" ({e['note']})" if e.get("note") else "")
        + "\n"
        + e.get("text", "").rstrip("\n")
        for e in entries
    )
    return views.tail_lines(text, lines, before)


@router.get(f"{PREFIX}/runs/{{run_id}}/log")
def run_log(
    request: Request,
    run_id: str,
    task: str,
    before: Annotated[int | None, Query(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    lines: Annotated[int, Query(ge=1, le=2000)] = LOG_LINES,
) -> Response:
    """A slice of a task's log as JSON: ``before`` (load earlier) or ``after`` (follow)."""

    def show(_session: Any, studio: Any) -> Response:
        if after is not None:
            text, _, total = _log(studio, run_id, task, 10**9, None)
            new = text.splitlines()[after : after + lines]
            return JSONResponse(
                {"text": "\n".join(new), "start": after, "total": total, "end": after + len(new)}
            )
        text, start, total = _log(studio, run_id, task, lines, before)
        return JSONResponse({"text": text, "start": start, "total": total})

    return guarded(request, show)


@router.get(f"{PREFIX}/runs/{{run_id}}/log.txt")
def run_log_download(request: Request, run_id: str, task: str) -> Response:
    """The task's whole log as a text download (never put into a page)."""

    def show(_session: Any, studio: Any) -> Response:
        text, _, _ = _log(studio, run_id, task, 10**9, None)
        name = f"{run_id}-{task}.log".replace("/", "_").replace('"', "")
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return PlainTextResponse(text + "\n", headers=headers)

    return guarded(request, show)


@router.get(f"{PREFIX}/runs/{{run_id}}/state")
def run_state(request: Request, run_id: str) -> Response:
    """The live state the run page polls: the run's state and each (folded) node's."""

    def show(_session: Any, studio: Any) -> Response:
        run = studio.runs.states(run_id)  # no outputs or logs: a poll every second stays cheap
        nodes = views.fold_tasks(run["tasks"])
        return JSONResponse(
            {
                "state": run["state"],
                "active": views.run_is_active(run["state"]),
                "tasks": {t["node"]: t["state"] for t in run["tasks"]},
                "nodes": {n.id: {"state": n.state, "counts": dict(n.states)} for n in nodes},
            },
            headers={"Cache-Control": "no-store"},
        )

    return guarded(request, show)


@router.post(f"{PREFIX}/runs/{{run_id}}/cancel")
async def run_cancel(request: Request, run_id: str) -> Response:
    def act(_session: Any, studio: Any, _form: dict[str, str]) -> Response:
        studio.runs.cancel(run_id)
        return RedirectResponse(f"{PREFIX}/runs/{run_id}", status_code=303)

    return await post(request, act)


@router.post(f"{PREFIX}/runs/{{run_id}}/clone")
async def run_clone(request: Request, run_id: str) -> Response:
    def act(_session: Any, studio: Any, form: dict[str, str]) -> Response:
        original = studio.runs.show(run_id)
        new = studio.runs.clone(run_id, forms.read_params(original["params"], form))
        return RedirectResponse(f"{PREFIX}/runs/{new['id']}", status_code=303)

    return await post(request, act)


@router.get(f"{PREFIX}/whoami")
def whoami(request: Request) -> Response:
    return guarded(
        request, lambda s, studio: render(request, "whoami.html", s, me=studio.users.whoami())
    )


__all__ = ["current_session", "router"]
