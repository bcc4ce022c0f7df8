"""The model registry over HTTP: each method sends its ``/api/v1/models`` route's request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mlstudio.client.areas import RemoteArea, seg
from mlstudio.client.http import LONG


class RemoteModels(RemoteArea):
    def list(
        self, search: str | None = None, *, limit: int | None = 100, offset: int = 0
    ) -> list[Any]:
        return self.http.list("/models", {"search": search}, limit, offset)

    def show(self, ref: str, *, at: datetime | None = None) -> Any:
        params = {"ref": ref, "at": at.isoformat() if at else None}
        return self.http.json("GET", "/models/show", params=params)

    def create(self, name: str, *, namespace: str | None = None, description: str = "") -> Any:
        body = {"name": name, "namespace": namespace, "description": description}
        return self.http.json("POST", "/models", json=body)

    def register(
        self,
        name: str,
        run_id: str,
        *,
        task: str | None = None,
        namespace: str | None = None,
        description: str = "",
    ) -> Any:
        body = {"run_id": run_id, "task": task, "namespace": namespace, "description": description}
        return self.http.json("POST", f"/models/{seg(name)}/versions", json=body)

    def alias(
        self, name: str, alias: str, version: int, *, override_reason: str | None = None
    ) -> Any:
        path = f"/models/{seg(name)}/aliases/{seg(alias)}"
        body = {"version": version, "override_reason": override_reason}
        return self.http.json("PUT", path, json=body)

    def gate(
        self,
        name: str,
        alias: str,
        *,
        on: str | None = None,
        metric: str | None = None,
        margin: float = 0.0,
        slices: list[str] | None = None,
        remove: bool = False,
    ) -> Any:
        path = f"/models/{seg(name)}/gates/{seg(alias)}"
        if remove:
            return self.http.json("DELETE", path)
        body = {"on": on, "metric": metric, "margin": margin, "slices": list(slices or [])}
        return self.http.json("PUT", path, json=body)

    def unalias(self, name: str, alias: str) -> Any:
        return self.http.json("DELETE", f"/models/{seg(name)}/aliases/{seg(alias)}")

    def approve(self, name: str, version: int, reason: str) -> Any:
        path = f"/models/{seg(name)}/versions/{int(version)}/approve"
        return self.http.json("POST", path, json={"reason": reason})

    def reject(self, name: str, version: int, reason: str) -> Any:
        path = f"/models/{seg(name)}/versions/{int(version)}/reject"
        return self.http.json("POST", path, json={"reason": reason})

    def protect(self, name: str, alias: str, protected: bool = True) -> Any:
        path = f"/models/{seg(name)}/protected/{seg(alias)}"
        return self.http.json("PUT", path, json={"protected": protected})

    def delete(self, name: str) -> Any:
        return self.http.json("DELETE", f"/models/{seg(name)}")

    def download(
        self,
        ref: str,
        *,
        domain: str | None = None,
        run_id: str | None = None,
        node_id: str | None = None,
    ) -> tuple[Any, bytes]:
        params = {"ref": ref, "domain": domain, "run_id": run_id, "node_id": node_id}
        response = self.http.call("GET", "/models/load", params=params)
        return json.loads(response.headers["X-Mlstudio-Model"]), response.content

    def predict(
        self, ref: str, *, input: str, output: str, domain: str = "production"
    ) -> dict[str, Any]:
        body = {"model": ref, "input": input, "output": output, "domain": domain}
        return self.http.json("POST", "/models/predict", json=body, timeout=LONG)
