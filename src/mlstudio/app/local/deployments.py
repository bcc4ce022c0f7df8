"""The deployments area: one call into the deployment service per method.

Deployments are run by a server's supervisor, so an embedded (not served) studio refuses to
create one in one line naming ``mlstudio server`` and ``mlstudio serve``; it still lists, shows
and removes what the database holds."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlstudio.app.local.base import Area
from mlstudio.errors import ConfigurationError


class LocalDeployments(Area):
    @cached_property
    def service(self) -> Any:
        from mlstudio.integrations.serving.deployments import DeploymentService

        return DeploymentService(self.platform.store)

    def deploy(
        self,
        name: str,
        *,
        alias: str = "champion",
        also: list[str] | None = None,
        fallback: str | None = None,
        domain: str = "production",
        port: int | None = None,
    ) -> dict[str, Any]:
        if not self.served:
            raise ConfigurationError(
                "deployments are run by a server, and this is the embedded home",
                hint=f"start `mlstudio server` and set MLSTUDIO_URL and MLSTUDIO_TOKEN, or serve "
                f"here: mlstudio serve {name} --alias {alias}",
            )
        return self.service.deploy(
            self.actor, name, alias=alias, also=also, fallback=fallback, domain=domain, port=port
        )

    def list(self) -> list[dict[str, Any]]:
        return self.service.list(self.actor)

    def show(self, name: str) -> dict[str, Any]:
        return self.service.show(self.actor, name)

    def remove(self, name: str) -> dict[str, Any]:
        return self.service.remove(self.actor, name)
