"""The monitoring area: each method is one call into the monitor service."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlstudio.app.local.base import Area


class LocalMonitoring(Area):
    @cached_property
    def service(self) -> Any:
        from mlstudio.integrations.monitoring.service import MonitorService

        return MonitorService(self.platform.store, self.platform.cas, self.platform.runs)

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
        return self.service.add(
            self.actor,
            name,
            source=source,
            time_column=time_column,
            period=period,
            domain=domain,
            dimensions=list(dimensions or []),
            features=list(features or []),
            reference=reference,
            metrics=list(metrics or []),
            alpha=alpha,
            persistence=persistence,
            max_slices=max_slices,
            freshness=freshness,
            schedule=schedule,
            flag=flag,
            retrain=retrain,
            ground_truth=ground_truth,
            after=list(after or []),
        )

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.service.list(self.actor, namespace)

    def show(self, name: str) -> dict[str, Any]:
        return self.service.show(self.actor, name)

    def run(self, name: str, *, now: str | None = None) -> dict[str, Any]:
        return self.service.run(self.actor, name, now=now)

    def backfill(self, name: str, *, now: str | None = None) -> dict[str, Any]:
        return self.service.backfill(self.actor, name, now=now)

    def alerts(self, name: str | None = None, *, state: str | None = None) -> list[dict[str, Any]]:
        return self.service.alerts(self.actor, name, state=state)

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
        return self.service.feedback(
            self.actor,
            target,
            kind,
            start=start,
            end=end,
            metric=metric,
            dims=dims,
            comment=comment,
        )

    def tune(
        self, name: str, *, threshold: float | None = None, apply: bool = False
    ) -> dict[str, Any]:
        return self.service.tune(self.actor, name, threshold=threshold, apply=apply)

    def remove(self, name: str) -> dict[str, Any]:
        return self.service.remove(self.actor, name)
