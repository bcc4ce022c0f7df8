"""``Client(url, token)``: the application interface (:mod:`mlstudio.app.interface`) over a
server's REST API, with the same areas, methods, results and errors as ``LocalStudio``.

``with Client(url, token) as studio: studio.runs.list(...)``. List methods page through the
API (at most 1,000 items a request) up to ``limit`` items; ``limit=None`` means all of them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import httpx

from mlstudio.client import areas
from mlstudio.client.http import READ_TIMEOUT_S, Http


class Client:
    """A session with one mlstudio server, as the token's user."""

    remote = True

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = READ_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = Http(url, token, timeout=timeout, transport=transport)
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """``GET /health`` (needs no token)."""
        return self.http.health()

    @cached_property
    def evaluation(self) -> Any:
        from mlstudio.client.evaluation import RemoteEvaluation

        return RemoteEvaluation(self.http)

    @cached_property
    def monitoring(self) -> Any:
        from mlstudio.client.monitoring import RemoteMonitoring

        return RemoteMonitoring(self.http)

    @cached_property
    def deployments(self) -> Any:
        from mlstudio.client.deployments import RemoteDeployments

        return RemoteDeployments(self.http)

    @cached_property
    def flags(self) -> Any:
        from mlstudio.client.flags import RemoteFlags

        return RemoteFlags(self.http)

    @cached_property
    def genai(self) -> Any:
        from mlstudio.client.genai import RemoteGenAI

        return RemoteGenAI(self.http)

    @cached_property
    def features(self) -> areas.RemoteFeatures:
        return areas.RemoteFeatures(self.http)

    @cached_property
    def users(self) -> areas.RemoteUsers:
        return areas.RemoteUsers(self.http)

    @cached_property
    def tokens(self) -> areas.RemoteTokens:
        return areas.RemoteTokens(self.http)

    @cached_property
    def audit(self) -> areas.RemoteAudit:
        return areas.RemoteAudit(self.http)

    @cached_property
    def domains(self) -> areas.RemoteDomains:
        return areas.RemoteDomains(self.http)

    @cached_property
    def namespaces(self) -> areas.RemoteNamespaces:
        return areas.RemoteNamespaces(self.http)

    @cached_property
    def modules(self) -> areas.RemoteModules:
        return areas.RemoteModules(self.http)

    @cached_property
    def runs(self) -> areas.RemoteRuns:
        return areas.RemoteRuns(self.http)

    @cached_property
    def cache(self) -> areas.RemoteCache:
        return areas.RemoteCache(self.http)

    @cached_property
    def datasets(self) -> areas.RemoteDatasets:
        return areas.RemoteDatasets(self.http)

    @cached_property
    def declassifiers(self) -> areas.RemoteDeclassifiers:
        return areas.RemoteDeclassifiers(self.http)

    @cached_property
    def schedules(self) -> areas.RemoteSchedules:
        return areas.RemoteSchedules(self.http)

    @cached_property
    def webhooks(self) -> areas.RemoteWebhooks:
        return areas.RemoteWebhooks(self.http)

    @cached_property
    def storage(self) -> areas.RemoteStorage:
        return areas.RemoteStorage(self.http)

    @cached_property
    def tracking(self) -> areas.RemoteTracking:
        return areas.RemoteTracking(self.http)

    @cached_property
    def models(self) -> Any:
        from mlstudio.client.models import RemoteModels

        return RemoteModels(self.http)
