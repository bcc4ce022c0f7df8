"""Back-pressure: a bound on the requests a server works on at once.

Past the bound, a request is answered at once with ``503`` and ``Retry-After`` — before its
body is read or anything runs, so a refused request did nothing and the client may send it
again (:mod:`mlstudio.client.http` does). Without it, a burst of clients on a loaded machine
queues behind the thread pool until their connections time out or are dropped with no answer.
``/health`` is never refused.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_MAX_REQUESTS = 64
RETRY_AFTER_S = 1


class Gate:
    """The counts one server's limit keeps (shared with ``/metrics``)."""

    def __init__(self, max_requests: int) -> None:
        self.max_requests = max(1, int(max_requests))
        self.in_flight = 0
        self.refused = 0  # since start


class ConcurrencyLimit:
    def __init__(self, app: ASGIApp, gate: Gate, open_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.gate = gate
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in self.open_paths:
            await self.app(scope, receive, send)
            return
        gate = self.gate
        if gate.in_flight >= gate.max_requests:
            gate.refused += 1
            await self._busy(scope, receive, send)
            return
        gate.in_flight += 1  # one event loop: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            gate.in_flight -= 1

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        from mlstudio.api.errors import error_response
        from mlstudio.errors import ServerBusyError

        error = ServerBusyError(
            f"the server is busy ({self.gate.in_flight} requests in flight, at most "
            f"{self.gate.max_requests})",
            hint=f"retry after {RETRY_AFTER_S} s (mlstudio's client does)",
        )
        response = error_response(error)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        await response(scope, receive, send)
