"""Experiment tracking as one actor: experiments, tracked runs, search, compare, history."""

from __future__ import annotations

from typing import Any

from mlstudio.app.local.base import Area


class LocalTracking(Area):
    @property
    def _service(self) -> Any:
        return self.platform.tracking

    def experiments(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return self._service.list_experiments(include_deleted=include_deleted)

    def experiment(self, ref: str, *, limit: int = 20) -> dict[str, Any]:
        from mlstudio.integrations.tracking.service import run_view

        found = self._service.get_experiment(ref)
        runs, _ = self._service.search(experiments=[found["id"]], limit=limit)
        return {**found, "recent": [run_view(r) for r in runs]}

    def get(self, run_id: str) -> dict[str, Any]:
        from mlstudio.integrations.tracking.service import run_view

        return run_view(self._service.get_run(run_id))

    def runs_of(self, ref: str) -> list[dict[str, Any]]:
        from mlstudio.integrations.tracking.service import run_view

        return [run_view(r) for r in self._service.runs(self._service.resolve(ref))]

    def search(
        self,
        filter: str | None = None,
        *,
        order_by: list[str] | None = None,
        experiment: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        from mlstudio.integrations.tracking.service import run_view

        runs, next_offset = self._service.search(
            filter=filter,
            order_by=order_by,
            experiments=[experiment] if experiment else None,
            limit=limit,
            offset=offset,
        )
        return {"runs": [run_view(r) for r in runs], "next_offset": next_offset}

    def compare(self, refs: list[str], *, only_differences: bool = False) -> dict[str, Any]:
        return self._service.compare(refs, only_differences=only_differences)

    def history(self, ref: str, metric: str) -> list[dict[str, Any]]:
        from mlstudio.core.tracking import json_number, validate_key

        validate_key(metric, "metric")
        out = []
        for run_id in self._service.resolve(ref):
            points = [
                {**p, "value": json_number(p["value"])}
                for p in self._service.history(run_id, metric)
            ]
            if points:
                out.append({"run": run_id, "points": points})
        if not out:
            from mlstudio.errors import NotFoundError

            raise NotFoundError(
                f"{ref} logged no metric {metric!r}",
                hint="see its metrics with `mlstudio runs compare` or `runs search`",
            )
        return out
