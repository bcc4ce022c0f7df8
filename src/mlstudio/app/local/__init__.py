"""``LocalStudio(platform, actor)``: the application interface over a platform, as one actor.

Embedded mode uses one for the trusted local identity; the API server builds one per request
for the token's user. Areas are created on first use, so a command imports only what it calls.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlstudio.app.local.data import LocalDatasets, LocalDeclassifiers
    from mlstudio.app.local.deployments import LocalDeployments
    from mlstudio.app.local.evaluation import LocalEvaluation
    from mlstudio.app.local.features import LocalFeatures
    from mlstudio.app.local.flags import LocalFlags
    from mlstudio.app.local.genai import LocalGenAI
    from mlstudio.app.local.governance import LocalDomains, LocalNamespaces
    from mlstudio.app.local.identity import LocalAudit, LocalTokens, LocalUsers
    from mlstudio.app.local.models import LocalModels
    from mlstudio.app.local.modules import LocalModules
    from mlstudio.app.local.monitoring import LocalMonitoring
    from mlstudio.app.local.operations import LocalSchedules, LocalWebhooks
    from mlstudio.app.local.runs import LocalCache, LocalRuns
    from mlstudio.app.local.storage import LocalStorage
    from mlstudio.app.local.tracking import LocalTracking
    from mlstudio.platform import Platform


class LocalStudio:
    remote = False

    def __init__(
        self,
        platform: Platform,
        actor: str,
        *,
        served: bool = False,
        owns_platform: bool = False,
        executor: Any = None,
    ) -> None:
        """``served``: this studio answers a server's API, whose runs go to its workers and
        which cannot see the caller's files (working copies are refused)."""
        self.platform = platform
        self.actor = actor
        self.served = served
        self.executor = executor  # started local workers for `runs.wait` to drive with
        self._owns_platform = owns_platform

    @cached_property
    def users(self) -> LocalUsers:
        from mlstudio.app.local.identity import LocalUsers

        return LocalUsers(self.platform, self.actor, self.served)

    @cached_property
    def tokens(self) -> LocalTokens:
        from mlstudio.app.local.identity import LocalTokens

        return LocalTokens(self.platform, self.actor, self.served)

    @cached_property
    def audit(self) -> LocalAudit:
        from mlstudio.app.local.identity import LocalAudit

        return LocalAudit(self.platform, self.actor, self.served)

    @cached_property
    def domains(self) -> LocalDomains:
        from mlstudio.app.local.governance import LocalDomains

        return LocalDomains(self.platform, self.actor, self.served)

    @cached_property
    def namespaces(self) -> LocalNamespaces:
        from mlstudio.app.local.governance import LocalNamespaces

        return LocalNamespaces(self.platform, self.actor, self.served)

    @cached_property
    def modules(self) -> LocalModules:
        from mlstudio.app.local.modules import LocalModules

        return LocalModules(self.platform, self.actor, self.served)

    @cached_property
    def runs(self) -> LocalRuns:
        from mlstudio.app.local.runs import LocalRuns

        runs = LocalRuns(self.platform, self.actor, self.served)
        runs.executor = self.executor
        return runs

    @cached_property
    def cache(self) -> LocalCache:
        from mlstudio.app.local.runs import LocalCache

        return LocalCache(self.platform, self.actor, self.served)

    @cached_property
    def datasets(self) -> LocalDatasets:
        from mlstudio.app.local.data import LocalDatasets

        return LocalDatasets(self.platform, self.actor, self.served)

    @cached_property
    def evaluation(self) -> LocalEvaluation:
        from mlstudio.app.local.evaluation import LocalEvaluation

        return LocalEvaluation(self.platform, self.actor, self.served)

    @cached_property
    def deployments(self) -> LocalDeployments:
        from mlstudio.app.local.deployments import LocalDeployments

        return LocalDeployments(self.platform, self.actor, self.served)

    @cached_property
    def flags(self) -> LocalFlags:
        from mlstudio.app.local.flags import LocalFlags

        return LocalFlags(self.platform, self.actor, self.served)

    @cached_property
    def monitoring(self) -> LocalMonitoring:
        from mlstudio.app.local.monitoring import LocalMonitoring

        return LocalMonitoring(self.platform, self.actor, self.served)

    @cached_property
    def genai(self) -> LocalGenAI:
        from mlstudio.app.local.genai import LocalGenAI

        return LocalGenAI(self.platform, self.actor, self.served)

    @cached_property
    def features(self) -> LocalFeatures:
        from mlstudio.app.local.features import LocalFeatures

        return LocalFeatures(self.platform, self.actor, self.served)

    @cached_property
    def declassifiers(self) -> LocalDeclassifiers:
        from mlstudio.app.local.data import LocalDeclassifiers

        return LocalDeclassifiers(self.platform, self.actor, self.served)

    @cached_property
    def schedules(self) -> LocalSchedules:
        from mlstudio.app.local.operations import LocalSchedules

        return LocalSchedules(self.platform, self.actor, self.served)

    @cached_property
    def webhooks(self) -> LocalWebhooks:
        from mlstudio.app.local.operations import LocalWebhooks

        return LocalWebhooks(self.platform, self.actor, self.served)

    @cached_property
    def storage(self) -> LocalStorage:
        from mlstudio.app.local.storage import LocalStorage

        return LocalStorage(self.platform, self.actor, self.served)

    @cached_property
    def tracking(self) -> LocalTracking:
        from mlstudio.app.local.tracking import LocalTracking

        return LocalTracking(self.platform, self.actor, self.served)

    @cached_property
    def models(self) -> LocalModels:
        from mlstudio.app.local.models import LocalModels

        return LocalModels(self.platform, self.actor, self.served)

    def close(self) -> None:
        if self._owns_platform:
            self.platform.close()


__all__ = ["LocalStudio"]
