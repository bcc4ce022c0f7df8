"""The GenAI service: namespace money budgets and the prompts modules define."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import NotFoundError
from mlstudio.governance.audit import guarded
from mlstudio.governance.rbac import Authorizer
from mlstudio.integrations.genai import budgets


class GenAIService:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.store = platform.store

    # --- budgets -------------------------------------------------------------------------
    def budget(self, namespace: str) -> dict[str, Any]:
        """A namespace's budget (None: none set), spent in its period and reserved now."""
        with self.store.read() as uow:
            _namespace_or_404(uow, namespace)
            return budgets.budget_view(uow, namespace)

    def set_budget(
        self, actor: str, namespace: str, usd: float | None, period: str = "30d"
    ) -> dict[str, Any]:
        """Set (or, with ``usd`` None, remove) a namespace's budget: USD per rolling
        ``period``. Admins only (budgets share the company's money between teams); audited
        as ``namespace.budget``."""
        amount = budgets.check_usd(usd) if usd is not None else None
        period_s = budgets.parse_period(period)

        def work(uow: Any) -> dict[str, Any]:
            Authorizer(uow.identity).require_admin(
                actor, f"set the budget of namespace {namespace}"
            )
            _namespace_or_404(uow, namespace)
            before = budgets.budget_view(uow, namespace)
            if amount is None:
                uow.genai.remove_budget(namespace)
            else:
                uow.genai.put_budget(namespace, amount, period_s, actor)
            after = budgets.budget_view(uow, namespace)
            uow.audit.record(
                actor,
                "namespace.budget",
                f"namespace:{namespace}",
                details={
                    "before": {"usd": before["usd"], "period": before["period"]},
                    "after": {"usd": after["usd"], "period": after["period"]},
                },
            )
            return after

        return guarded(self.store, actor, "namespace.budget", f"namespace:{namespace}", work)

    # --- prompts -------------------------------------------------------------------------
    def prompts(self, module: str | None = None) -> list[dict[str, Any]]:
        from mlstudio.integrations.genai.prompt_registry import list_prompts

        return list_prompts(self.platform, module)

    def prompt(self, ref: str) -> dict[str, Any]:
        from mlstudio.integrations.genai.prompt_registry import find_prompt

        return find_prompt(self.platform, ref)[1]


def _namespace_or_404(uow: Any, name: str) -> None:
    if uow.modules.get_namespace(name) is None:
        raise NotFoundError(f"namespace {name} does not exist", hint="see: mlstudio namespace list")
