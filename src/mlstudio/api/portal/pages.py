"""The portal's page plumbing: templates, the session guard, errors as pages, CSRF on POST.

Every page runs as the signed-in user through the application interface
(:class:`mlstudio.app.local.LocalStudio`, built as the API's ``StudioDep`` builds it); the
rules, authorization included, live there. A request without a valid session is sent to the
sign-in page; a POST without the session's CSRF token gets 403 before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlstudio.api.portal.session import COOKIE, Session, Sessions, signing_key
from mlstudio.errors import MlstudioError

PREFIX = "/ui"
TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


@lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.ChainableUndefined,  # catalog views vary: a missing key shows empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, default=str, sort_keys=True)
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.globals["prefix"] = PREFIX
    return env


def sessions(request: Request) -> Sessions:
    """The app's session issuer (its key outlives the process: see ``signing_key``)."""
    state = request.app.state
    if getattr(state, "portal_sessions", None) is None:
        settings = state.platform.settings
        state.portal_sessions = Sessions(signing_key(settings.home, settings.portal_key))
    return state.portal_sessions


def render(
    request: Request,
    template: str,
    session: Session | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    csrf = sessions(request).csrf(session.sid) if session else ""
    html = (
        environment()
        .get_template(template)
        .render(user=session.user if session else None, csrf=csrf, request=request, **context)
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'",
}


def current_session(request: Request) -> Session | None:
    return sessions(request).read(request.cookies.get(COOKIE))


def studio_for(request: Request, session: Session) -> Any:
    """The application interface as the session's user (as ``StudioDep`` builds it)."""
    from mlstudio.app.local import LocalStudio

    return LocalStudio(request.app.state.platform, session.user, served=True)


def to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/signin?next={quote(target, safe='')}", status_code=303)


def error_page(request: Request, session: Session | None, error: MlstudioError) -> HTMLResponse:
    return render(
        request,
        "error.html",
        session,
        status_code=error.http_status,
        message=str(error),
        hint=getattr(error, "hint", None),
    )


def guarded(
    request: Request, page: Callable[[Session, Any], Response], *, csrf: str | None = None
) -> Response:
    """Run ``page(session, studio)`` for a signed-in user; with ``csrf`` (a POST), only when it
    is the session's token. Errors of the interface become pages with their status."""
    session = current_session(request)
    if session is None:
        if csrf is not None:  # a POST without a session: refused, not redirected
            return render(request, "error.html", None, 403, message="not signed in", hint=None)
        return to_signin(request)
    if csrf is not None and not sessions(request).check_csrf(session.sid, csrf):
        return render(
            request,
            "error.html",
            session,
            403,
            message="the form's CSRF token is missing or wrong",
            hint="reload the page and submit the form again",
        )
    try:
        studio = studio_for(request, session)
        if not token_active(studio, session):
            ended = to_signin(request) if csrf is None else _refused(request, "the session ended")
            ended.delete_cookie(COOKIE, path="/")
            return ended
        return page(session, studio)
    except MlstudioError as exc:
        return error_page(request, session, exc)


def _refused(request: Request, message: str) -> HTMLResponse:
    return render(request, "error.html", None, 403, message=message, hint=None)


def token_active(studio: Any, session: Session) -> bool:
    """Whether the token the session was opened with is still active (not revoked or
    expired, its user not disabled): asked of the interface on every request."""
    try:
        tokens = studio.tokens.list(session.user)
    except MlstudioError:  # e.g. the user was disabled meanwhile
        return False
    return any(t["id"] == session.token_id and t.get("state", "active") == "active" for t in tokens)


def may_write_namespace(whoami: dict[str, Any], namespace: str) -> bool:
    """Whether the grants of ``whoami`` allow tag moves in ``namespace`` (buttons only: the
    module service checks again)."""
    from mlstudio.governance.rbac import NAMESPACE_WRITE

    for grant in whoami.get("grants") or ():
        if grant.get("role") == "admin":
            return True
        in_namespace = grant.get("scope_kind") == "namespace" and grant.get("scope") == namespace
        if in_namespace and grant.get("role") in NAMESPACE_WRITE:
            return True
    return False


def may_hold_domain_role(whoami: dict[str, Any], domain: str, roles: tuple[str, ...]) -> bool:
    """Whether the grants of ``whoami`` hold one of ``roles`` on ``domain`` (or admin): the
    rule the domain-governed services apply (buttons only: the service checks again)."""
    return any(
        grant.get("role") == "admin"
        or (
            grant.get("scope_kind") == "domain"
            and grant.get("scope") == domain
            and grant.get("role") in roles
        )
        for grant in whoami.get("grants") or ()
    )


MAX_FORM_BYTES = 1 << 20


async def form_data(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form post (last value wins; no multipart parser needed)."""
    from urllib.parse import parse_qsl

    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def post(
    request: Request, page: Callable[[Session, Any, dict[str, str]], Response]
) -> Response:
    """A state-changing form: ``page(session, studio, form)`` after the CSRF check."""
    from starlette.concurrency import run_in_threadpool

    form = await form_data(request)
    return await run_in_threadpool(
        guarded, request, lambda s, studio: page(s, studio, form), csrf=form.get("csrf", "")
    )
