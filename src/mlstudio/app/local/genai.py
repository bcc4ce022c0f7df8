"""The GenAI area: namespace money budgets and the prompts modules define."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlstudio.app.local.base import Area


class LocalGenAI(Area):
    @cached_property
    def service(self) -> Any:
        from mlstudio.integrations.genai.service import GenAIService

        return GenAIService(self.platform)

    def budget(self, namespace: str) -> dict[str, Any]:
        return self.service.budget(namespace)

    def set_budget(self, namespace: str, usd: float | None, period: str = "30d") -> dict[str, Any]:
        return self.service.set_budget(self.actor, namespace, usd, period)

    def prompts(self, module: str | None = None) -> list[dict[str, Any]]:
        return self.service.prompts(module)

    def prompt(self, ref: str) -> dict[str, Any]:
        return self.service.prompt(ref)
