"""Background loops a server runs next to the API: the run driver, schedules, webhooks.

Each entry of :data:`LOOPS` names a ``start(platform, stop) -> threading.Thread`` function; the
thread runs until ``stop`` is set. Entries are imported when the server starts; a loop whose
module or ``start`` does not exist (yet) is skipped with one log line, while a loop that exists
but fails to import stops the server from starting (better no server than one that silently
never runs anything).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

LOOPS = [
    "mlstudio.scheduling.driver:start",
    "mlstudio.scheduling.schedules:start",
    "mlstudio.integrations.webhooks:start",
    "mlstudio.integrations.serving.supervisor:start",
    "mlstudio.integrations.monitoring.scheduler:start",
]

log = logging.getLogger("mlstudio.server")

StartFn = Callable[[Any, threading.Event], threading.Thread]


def load(spec: str) -> StartFn | None:
    """The ``start`` function named by ``module:attr``, or None when it does not exist."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            log.warning("background loop %s skipped: module %s does not exist", spec, module_name)
            return None
        raise
    start = getattr(module, attr or "start", None)
    if not callable(start):
        log.warning("background loop %s skipped: %s has no %s()", spec, module_name, attr)
        return None
    return start


def start_loops(
    platform: Any, stop: threading.Event, loops: Sequence[str] | None = None
) -> list[threading.Thread]:
    threads = []
    for spec in LOOPS if loops is None else loops:
        start = load(spec)
        if start is None:
            continue
        thread = start(platform, stop)
        threads.append(thread)
        log.info("background loop %s started", spec)
    return threads


def stop_loops(threads: list[threading.Thread], stop: threading.Event, timeout: float = 30) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            log.warning("background loop thread %s did not stop within %ss", thread.name, timeout)
