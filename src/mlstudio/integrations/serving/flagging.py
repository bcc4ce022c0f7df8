"""The serving process's view of feature flags: the lead's ``FlagCache`` when it exists, else
``NoFlags`` (every evaluation answers the caller's default with reason ``DEFAULT``).

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
    """The flag store's cache if this install has one (``serving/flags.py``), else NoFlags."""
    try:
        from mlstudio.integrations.serving import flags  # type: ignore[attr-defined]
    except ImportError:
        return NoFlags()
    make = getattr(flags, "open_cache", None)
    if make is not None:
        return make(platform, refresh_s=refresh_s)
    store_cls = getattr(flags, "FlagStore", None)
    if store_cls is None:
        return NoFlags()
    return flags.FlagCache(store_cls(platform.store), refresh_s=refresh_s)


def keys(name: str) -> dict[str, str]:
    """The flag keys a served model reads."""
    return {
        "kill": f"serve.{name}.kill",
        "route": f"serve.{name}.route",
        "shadow": f"serve.{name}.shadow",
    }
