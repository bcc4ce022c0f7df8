"""The serving process's view of feature flags: the flag store's ``FlagCache``, or ``NoFlags``
(every evaluation answers the caller's default with reason ``DEFAULT``) without one.

Flag conventions per served model NAME: ``serve.NAME.kill`` (bool: everything to the fallback),
``serve.NAME.route`` (the alias answering a subject), ``serve.NAME.shadow`` (an alias that gets
a copy of the request out of band, or "")."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Resolution:
    key: str
    value: Any
    variant: str | None
    reason: str
    error_code: str | None = None


class Flags(Protocol):
    def evaluate(
        self,
        key: str,
        default: Any,
        *,
        subject: str | None = None,
        context: dict | None = None,
    ) -> Any: ...

    def start(self, stop: threading.Event) -> threading.Thread | None: ...


class NoFlags:
    """No flag store: the caller's default, reason DEFAULT; never raises."""

    def evaluate(
        self,
        key: str,
        default: Any,
        *,
        subject: str | None = None,
        context: dict | None = None,
    ) -> Resolution:
        return Resolution(key, default, None, "DEFAULT", None)

    def start(self, stop: threading.Event) -> threading.Thread | None:
        return None


def open_flags(platform: Any, refresh_s: float = 0.5) -> Any:
    """The flag store's in-memory cache (loaded once now; refreshed by ``start``), else
    NoFlags when this install has no flag store. Evaluating before the store was reachable
    answers the default with reason ERROR / PROVIDER_NOT_READY."""
    try:
        from mlstudio.integrations.serving.flags import FlagCache
    except ImportError:
        return NoFlags()
    cache = FlagCache(platform.store, refresh_s=refresh_s)
    cache.refresh()
    return cache


def keys(name: str) -> dict[str, str]:
    """The flag keys a served model reads."""
    return {
        "kill": f"serve.{name}.kill",
        "route": f"serve.{name}.route",
        "shadow": f"serve.{name}.shadow",
    }
