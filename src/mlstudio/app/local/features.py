"""The feature store area: versioned feature views, point-in-time training sets, online reads."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from mlstudio.app.local.base import Area, page


class LocalFeatures(Area):
    @cached_property
    def service(self) -> Any:
        from mlstudio.integrations.features.service import FeatureService

        return FeatureService(self.platform.store, self.platform.cas, self.platform.settings.home)

    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        return page(self.service.list(namespace, search), limit, offset)

    def show(self, ref: str) -> dict[str, Any]:
        return self.service.show(ref)

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return self.service.diff(a, b)

    def training_set(
        self,
        entities: str,
        features: list[str],
        *,
        as_of: str,
        domain: str = "experimentation",
        inclusive: bool = False,
        known_by: bool = True,
        save: str | None = None,
        file: str | Path | None = None,
    ) -> dict[str, Any]:
        return self.service.training_set(
            self.actor,
            entities,
            features,
            as_of=as_of,
            domain=domain,
            inclusive=inclusive,
            known_by=known_by,
            save=save,
            file=file,
        )

    def materialize(
        self, ref: str, *, store: str = "sqlite", domain: str = "production", full: bool = False
    ) -> dict[str, Any]:
        return self.service.materialize(self.actor, ref, store=store, domain=domain, full=full)

    def get(
        self,
        ref: str,
        keys: list[list[Any]],
        *,
        domain: str = "production",
        store: str = "sqlite",
        features: list[str] | None = None,
    ) -> dict[str, Any]:
        return self.service.get(
            self.actor, ref, keys, domain=domain, store=store, features=features
        )

    def check(
        self, ref: str, *, store: str = "sqlite", sample: int = 100, domain: str = "production"
    ) -> dict[str, Any]:
        return self.service.consistency(self.actor, ref, store=store, sample=sample, domain=domain)
