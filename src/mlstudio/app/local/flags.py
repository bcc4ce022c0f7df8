"""The feature-flag area: each method is one call into the flag service."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlstudio.app.local.base import Area


class LocalFlags(Area):
    @cached_property
    def service(self) -> Any:
        from mlstudio.integrations.serving.flag_service import FlagService

        return FlagService(self.platform.store)

    def list(self, prefix: str | None = None) -> list[dict[str, Any]]:
        return self.service.list(self.actor, prefix)

    def show(self, key: str) -> dict[str, Any]:
        return self.service.show(self.actor, key)

    def set(
        self,
        key: str,
        *,
        value: Any = None,
        variants: dict[str, Any] | None = None,
        default_variant: str | None = None,
        split: list[str] | None = None,
        clear_split: bool = False,
        rules: list[str] | None = None,
        enabled: bool | None = None,
        namespace: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        from mlstudio.integrations.serving.flag_service import parse_rule, parse_split

        return self.service.set(
            self.actor,
            key,
            value=value,
            variants=variants,
            default_variant=default_variant,
            split=parse_split(split) if split else None,
            clear_split=clear_split,
            rules=[parse_rule(r) for r in rules] if rules is not None else None,
            enabled=enabled,
            namespace=namespace,
            description=description,
        )

    def remove(self, key: str) -> dict[str, Any]:
        return self.service.remove(self.actor, key)

    def evaluate(
        self,
        key: str,
        default: Any = None,
        *,
        subject: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.service.evaluate(self.actor, key, default, subject=subject, context=context)
