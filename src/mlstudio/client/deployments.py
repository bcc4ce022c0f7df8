"""Deployments over HTTP: each method sends its ``/api/v1/deployments`` route's request."""

from __future__ import annotations

from typing import Any

from mlstudio.client.areas import RemoteArea, seg


class RemoteDeployments(RemoteArea):
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
        body = {"alias": alias, "also": list(also or []), "fallback": fallback, "domain": domain,
                "port": port}  # fmt: skip
        return self.http.json("PUT", f"/deployments/{seg(name)}", json=body)

    def list(self) -> list[dict[str, Any]]:
        return self.http.json("GET", "/deployments")["items"]

    def show(self, name: str) -> dict[str, Any]:
        return self.http.json("GET", f"/deployments/{seg(name)}")

    def remove(self, name: str) -> dict[str, Any]:
        return self.http.json("DELETE", f"/deployments/{seg(name)}")
