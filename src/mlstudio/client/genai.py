"""The GenAI area over HTTP: each method sends its ``/api/v1/genai`` route's request."""

from __future__ import annotations

from typing import Any

from mlstudio.client.areas import RemoteArea, seg


class RemoteGenAI(RemoteArea):
    def budget(self, namespace: str) -> dict[str, Any]:
        return self.http.json("GET", f"/genai/budgets/{seg(namespace)}")

    def set_budget(self, namespace: str, usd: float | None, period: str = "30d") -> dict[str, Any]:
        body = {"usd": usd, "period": period}
        return self.http.json("PUT", f"/genai/budgets/{seg(namespace)}", json=body)

    def prompts(self, module: str | None = None) -> list[dict[str, Any]]:
        return self.http.json("GET", "/genai/prompts", params={"module": module})["items"]

    def prompt(self, ref: str) -> dict[str, Any]:
        return self.http.json("GET", "/genai/prompt", params={"ref": ref})
