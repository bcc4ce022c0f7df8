"""The HTTP plumbing every client area shares: one session, one error mapping, paging, retries.

- Every error answer goes through :func:`mlstudio.client.errors.raise_for_error` and comes back
  as the ``MlstudioError`` the server raised.
- A ``503`` with ``Retry-After`` (the server is saturated and did not take the request) is
  retried after that delay, up to :data:`RETRY_BUDGET_S` seconds in all; then it is raised.
- Control calls use a short timeout (:data:`CONNECT_TIMEOUT_S` to connect,
  :data:`READ_TIMEOUT_S` for the answer) and say which one ran out; long calls (a push that
  runs a module's tests, a download) pass ``timeout=LONG``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from mlstudio.client.errors import raise_for_error
from mlstudio.errors import MlstudioError, StoreUnavailableError

PAGE = 1000
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
RETRY_BUDGET_S = 120.0
LONG = httpx.Timeout(None, connect=CONNECT_TIMEOUT_S)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlstudio")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _retry_after(error: MlstudioError) -> float | None:
    """Seconds a 503 asked us to wait (``Retry-After``), or None for any other error."""
    if getattr(error, "http_status", None) != 503:
        return None
    value = getattr(error, "retry_after_s", None)
    try:
        return max(0.05, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class Http:
    """A session with one mlstudio server's ``/api/v1``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = READ_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.read_timeout = timeout
        self.session = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"mlstudio/{_version()}"},
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
            event_hooks={"response": [raise_for_error]},
            transport=transport,
        )

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "params" in kwargs:
            kwargs["params"] = _clean(kwargs["params"])
        deadline = time.monotonic() + RETRY_BUDGET_S
        while True:
            try:
                return self.session.request(method, path, **kwargs)
            except MlstudioError as exc:
                delay = _retry_after(exc)
                if delay is None or time.monotonic() + delay > deadline:
                    raise
                if hasattr(kwargs.get("content"), "seek"):
                    kwargs["content"].seek(0)  # an upload from a file: send it from the start
                time.sleep(delay)
            except httpx.TimeoutException as exc:
                which = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
                limit = CONNECT_TIMEOUT_S if which == "connect" else self.read_timeout
                raise StoreUnavailableError(
                    f"the mlstudio server at {self.url} did not answer within {limit:g} s "
                    f"({which} timeout on {method} {path})",
                    hint="check that `mlstudio server` runs there and is not overloaded",
                ) from exc
            except httpx.TransportError as exc:
                raise StoreUnavailableError(
                    f"cannot reach the mlstudio server at {self.url}: {exc or type(exc).__name__}",
                    hint="check MLSTUDIO_URL, and that `mlstudio server` runs there",
                ) from exc

    def download(
        self, path: str, params: dict[str, Any], target: Any, header: str
    ) -> dict[str, Any]:
        """``GET path`` streamed into ``target`` (temp file + rename: never half a file);
        returns the JSON summary the server sent in the ``header`` response header."""
        import json

        from mlstudio.data.writes import write_bytes

        try:
            with self.session.stream("GET", path, params=_clean(params), timeout=LONG) as response:
                summary = json.loads(response.headers[header])
                write_bytes(target, response.iter_bytes(1 << 20))
        except httpx.TimeoutException as exc:
            raise StoreUnavailableError(
                f"the mlstudio server at {self.url} did not answer within "
                f"{CONNECT_TIMEOUT_S:g} s (connect timeout on GET {path})",
                hint="check that `mlstudio server` runs there and is not overloaded",
            ) from exc
        except httpx.TransportError as exc:
            raise StoreUnavailableError(
                f"the download from {self.url} broke off: {exc or type(exc).__name__} "
                "(nothing was written)",
                hint="check MLSTUDIO_URL and the network, then try again",
            ) from exc
        return summary

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def list(self, path: str, params: dict[str, Any], limit: int | None, offset: int = 0) -> list:
        """Items from ``offset`` on, page by page, until ``limit`` items or the end."""
        items: list[Any] = []
        while limit is None or len(items) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(items))
            page = self.json(
                "GET", path, params={**params, "limit": size, "offset": offset + len(items)}
            )
            items.extend(page["items"])
            if len(page["items"]) < size:
                break
        return items

    def health(self) -> dict[str, Any]:
        """``GET /health`` (needs no token)."""
        try:
            response = self.session.get(f"{self.url}/health")
        except httpx.TransportError as exc:
            raise StoreUnavailableError(f"cannot reach the mlstudio server at {self.url}") from exc
        return response.json()
