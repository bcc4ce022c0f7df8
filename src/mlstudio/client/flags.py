"""Feature flags over HTTP: each method sends its ``/api/v1/flags`` route's request."""

from __future__ import annotations

from typing import Any

from mlstudio.client.areas import RemoteArea, seg


class RemoteFlags(RemoteArea):
    def list(self, prefix: str | None = None) -> list[dict[str, Any]]:
        return self.http.json("GET", "/flags", params={"prefix": prefix})["items"]

    def show(self, key: str) -> dict[str, Any]:
        return self.http.json("GET", f"/flags/{seg(key)}")

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
        body = {
            "value": value,
            "variants": variants,
            "default_variant": default_variant,
            "split": split,
            "clear_split": clear_split,
            "rules": rules,
            "enabled": enabled,
            "namespace": namespace,
            "description": description,
        }
        return self.http.json("PUT", f"/flags/{seg(key)}", json=body)

    def remove(self, key: str) -> dict[str, Any]:
        return self.http.json("DELETE", f"/flags/{seg(key)}")

    def evaluate(
        self,
        key: str,
        default: Any = None,
        *,
        subject: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"default": default, "subject": subject, "context": context or {}}
        return self.http.json("POST", f"/flags/{seg(key)}/evaluate", json=body)
