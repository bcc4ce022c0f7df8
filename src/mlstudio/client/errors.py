"""The one mapping from an error response back to the exception the server raised.

The server sends ``{"error": {"code", "message", "hint"?, "details"?}}`` with the error's HTTP
status. The client raises the ``MlstudioError`` subclass with that ``code`` (else the class for
the status), with the same message, hint and details — so ``one_line()`` and the CLI's exit code
are the same as in embedded mode.
"""

from __future__ import annotations

from typing import Any

import httpx

from mlstudio.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    MlstudioError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreUnavailableError,
)

_BY_STATUS: dict[int, type[MlstudioError]] = {
    400: InvalidInputError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidInputError,
    503: StoreUnavailableError,
}


def _by_code() -> dict[str, type[MlstudioError]]:
    """Every known error class by its code; on a shared code the more general class wins."""
    found: dict[str, type[MlstudioError]] = {}
    level = [MlstudioError]
    while level:
        following = []
        for cls in level:
            found.setdefault(cls.code, cls)
            following.extend(cls.__subclasses__())
        level = following
    return found


def error_class(code: str | None, status: int) -> type[MlstudioError]:
    if code:
        cls = _by_code().get(code)
        if cls is not None:
            return cls
    return _BY_STATUS.get(status, MlstudioError)


def error_from_response(response: httpx.Response) -> MlstudioError:
    """The exception an error response stands for (the response must have been read)."""
    status = response.status_code
    try:
        payload: Any = response.json().get("error")
    except (ValueError, AttributeError):
        payload = None
    if not isinstance(payload, dict) or not payload.get("message"):
        text = " ".join(response.text.split())[:200] or response.reason_phrase
        payload = {"message": f"the server answered {status}: {text}"}
    cls = error_class(payload.get("code"), status)
    error = cls(str(payload["message"]), hint=payload.get("hint"), details=payload.get("details"))
    code = payload.get("code")
    if code and code != error.code:
        error.code = code  # a class this client does not know: keep the server's code
    error.http_status = status
    return error


def raise_for_error(response: httpx.Response) -> None:
    """httpx response hook: raise the server's error for any 4xx/5xx answer."""
    if response.status_code >= 400:
        response.read()
        error = error_from_response(response)
        retry = response.headers.get("retry-after")
        if retry is not None:
            error.retry_after_s = retry  # type: ignore[attr-defined]  # read by the retry loop
        raise error
