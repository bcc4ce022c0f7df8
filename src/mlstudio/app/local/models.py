"""The model registry as one actor: each method is one call into the registry service."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlstudio.app.local.base import Area, check_page

if TYPE_CHECKING:
    from mlstudio.app.views import (
        AliasMoveView,
        ModelDeletionView,
        ModelShowView,
        ModelVersionView,
        ModelView,
    )

NO_LIMIT = 2**31 - 1


class LocalModels(Area):
    def list(
        self, search: str | None = None, *, limit: int | None = 100, offset: int = 0
    ) -> list[ModelView]:
        check_page(limit, offset)
        rows = self.platform.registry.list_models(
            self.actor, search, limit=NO_LIMIT if limit is None else limit, offset=offset
        )
        return rows  # type: ignore[return-value]

    def show(self, ref: str, *, at: datetime | None = None) -> ModelShowView:
        return self.platform.registry.show(self.actor, ref, at=at)  # type: ignore[return-value]

    def create(
        self, name: str, *, namespace: str | None = None, description: str = ""
    ) -> ModelView:
        return self.platform.registry.create_model(  # type: ignore[return-value]
            self.actor, name, namespace=namespace, description=description
        )

    def register(
        self,
        name: str,
        run_id: str,
        *,
        task: str | None = None,
        namespace: str | None = None,
        description: str = "",
    ) -> ModelVersionView:
        return self.platform.registry.register_run(  # type: ignore[return-value]
            self.actor, name, run_id, task=task, namespace=namespace, description=description
        )

    def alias(
        self, name: str, alias: str, version: int, *, override_reason: str | None = None
    ) -> AliasMoveView:
        return self.platform.registry.set_alias(  # type: ignore[return-value]
            self.actor, name, alias, version, override_reason=override_reason
        )

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
    ) -> dict[str, Any]:
        from mlstudio.errors import InvalidInputError
        from mlstudio.integrations.evaluation.gate import gate_spec

        if remove:
            return self.platform.registry.set_gate(self.actor, name, alias, None)
        if not on or not metric:
            raise InvalidInputError(
                "a gate needs the evaluation set and the metric",
                hint=f"mlstudio model gate {name} {alias} --on NS/DATASET --metric auc --margin 0.01",
            )
        spec = gate_spec(on, metric, margin, slices)
        return self.platform.registry.set_gate(self.actor, name, alias, spec)

    def unalias(self, name: str, alias: str) -> AliasMoveView:
        return self.platform.registry.delete_alias(self.actor, name, alias)  # type: ignore[return-value]

    def approve(self, name: str, version: int, reason: str) -> ModelVersionView:
        return self.platform.registry.decide(self.actor, name, version, "approved", reason)  # type: ignore[return-value]

    def reject(self, name: str, version: int, reason: str) -> ModelVersionView:
        return self.platform.registry.decide(self.actor, name, version, "rejected", reason)  # type: ignore[return-value]

    def protect(self, name: str, alias: str, protected: bool = True) -> ModelView:
        return self.platform.registry.protect(self.actor, name, alias, protected)  # type: ignore[return-value]

    def delete(self, name: str) -> ModelDeletionView:
        return self.platform.registry.delete_model(self.actor, name)  # type: ignore[return-value]

    def download(
        self,
        ref: str,
        *,
        domain: str | None = None,
        run_id: str | None = None,
        node_id: str | None = None,
    ) -> tuple[ModelVersionView, bytes]:
        view, data = self.platform.registry.load(
            self.actor, ref, domain=domain, run_id=run_id, node_id=node_id
        )
        return view, data  # type: ignore[return-value]

    def predict(
        self, ref: str, *, input: str, output: str, domain: str = "production"
    ) -> dict[str, Any]:
        from mlstudio.integrations.serving.batch import BatchScoring

        p = self.platform
        scoring = BatchScoring(p.store, p.cas, p.registry, p.datasets)
        return scoring.predict(self.actor, ref, input=input, output=output, domain=domain)
