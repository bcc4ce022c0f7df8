"""Monitoring over HTTP: each method sends its ``/api/v1/monitors`` route's request."""

from __future__ import annotations

from typing import Any

from mlstudio.client.areas import RemoteArea, seg


def _path(name: str) -> str:
    namespace, _, rest = name.strip().partition("/")
    return f"/monitors/{seg(namespace)}/{seg(rest)}"


class RemoteMonitoring(RemoteArea):
    def add(
        self,
        name: str,
        *,
        source: str,
        time_column: str,
        period: str = "day",
        domain: str = "production",
        dimensions: list[str] | None = None,
        features: list[str] | None = None,
        reference: str | None = None,
        metrics: list[str] | None = None,
        alpha: float = 0.05,
        persistence: str = "1/1",
        max_slices: int = 50,
        freshness: int = 2,
        schedule: str | None = None,
        flag: str | None = None,
        retrain: dict[str, Any] | None = None,
        ground_truth: dict[str, Any] | None = None,
        after: list[str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "source": source,
            "time_column": time_column,
            "period": period,
            "domain": domain,
            "dimensions": list(dimensions or []),
            "features": list(features or []),
            "reference": reference,
            "metrics": list(metrics or []),
            "alpha": alpha,
            "persistence": persistence,
            "max_slices": max_slices,
            "freshness": freshness,
            "schedule": schedule,
            "flag": flag,
            "retrain": retrain,
            "ground_truth": ground_truth,
            "after": list(after or []),
        }
        return self.http.json("POST", "/monitors", json=body)

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.http.json("GET", "/monitors", params={"namespace": namespace})["items"]

    def show(self, name: str) -> dict[str, Any]:
        return self.http.json("GET", _path(name))

    def run(self, name: str, *, now: str | None = None) -> dict[str, Any]:
        return self.http.json("POST", f"{_path(name)}/run", json={"now": now})

    def backfill(self, name: str, *, now: str | None = None) -> dict[str, Any]:
        return self.http.json("POST", f"{_path(name)}/backfill", json={"now": now})

    def alerts(self, name: str | None = None, *, state: str | None = None) -> list[dict[str, Any]]:
        params = {"monitor": name, "state": state}
        return self.http.json("GET", "/monitor-alerts", params=params)["items"]

    def feedback(
        self,
        target: str,
        kind: str,
        *,
        start: str | None = None,
        end: str | None = None,
        metric: str | None = None,
        dims: dict[str, str] | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        body = {"target": target, "kind": kind, "start": start, "end": end, "metric": metric,
                "dims": dims, "comment": comment}  # fmt: skip
        return self.http.json("POST", "/monitor-feedback", json=body)

    def tune(
        self, name: str, *, threshold: float | None = None, apply: bool = False
    ) -> dict[str, Any]:
        body = {"threshold": threshold, "apply": apply}
        return self.http.json("POST", f"{_path(name)}/tune", json=body)

    def remove(self, name: str) -> dict[str, Any]:
        return self.http.json("DELETE", _path(name))
