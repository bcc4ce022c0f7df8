"""Executors by name, imported only when one is made.

Built in: ``local`` (worker processes on this machine), ``queue`` (the tasks go to the
``mlstudio worker`` processes of a pool) and ``ray``. More come from :meth:`ExecutorRegistry.
register` or from an entry point in the ``mlstudio.executors`` group whose object is a factory
``(ExecutorContext) -> Executor``::

    [project.entry-points."mlstudio.executors"]
    slurm = "mlstudio_slurm:make_executor"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import ConfigurationError, InvalidInputError

ENTRY_POINT_GROUP = "mlstudio.executors"


@dataclass(frozen=True)
class ExecutorContext:
    """What a factory may use: the settings, the metadata store, and the run it will serve
    (None when it serves many, e.g. a worker)."""

    settings: Any
    store: Any
    run: Any | None = None
    engine_id: str | None = None


Factory = Callable[[ExecutorContext], Any]

_BUILTIN: dict[str, str] = {
    "local": "mlstudio.workflows.executors.local:from_context",
    "ray": "mlstudio.workflows.executors.ray:from_context",
    "queue": "mlstudio.workflows.executors.queue:from_context",
}


class ExecutorRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, Factory | str] = dict(_BUILTIN)
        self._scanned = False

    def register(self, name: str, factory: Factory | str) -> None:
        """Make ``name`` available: ``factory`` is a callable or a ``"module:attribute"``."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise InvalidInputError(
                f"invalid executor name {name!r}", hint="use letters, digits, -"
            )
        self._factories[name] = factory

    def names(self) -> list[str]:
        self._scan()
        return list(self._factories)

    def __contains__(self, name: object) -> bool:
        if name in self._factories:
            return True
        self._scan()
        return name in self._factories

    def check(self, name: str) -> None:
        """Refuse an unknown executor name in one line."""
        if name not in self:
            raise InvalidInputError(
                f"unknown executor {name!r}", hint=f"use one of: {', '.join(self.names())}"
            )

    def create(self, name: str, context: ExecutorContext) -> Any:
        self.check(name)
        factory = self._factories[name]
        if isinstance(factory, str):
            module, _, attribute = factory.partition(":")
            try:
                factory = getattr(importlib.import_module(module), attribute)
            except ImportError as exc:
                raise ConfigurationError(
                    f"the {name} executor is not available in this build ({exc})",
                    hint="run with --executor local",
                ) from exc
            self._factories[name] = factory
        return factory(context)

    def _scan(self) -> None:
        """Add the entry points (once; a name registered in code wins)."""
        if self._scanned:
            return
        self._scanned = True
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            self._factories.setdefault(point.name, point.value)


executors = ExecutorRegistry()  # the process-wide registry (holds names, imports nothing)
