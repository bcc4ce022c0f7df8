"""A background loop for the server: call ``tick`` every ``interval`` seconds until ``stop``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


def start_every(
    name: str,
    tick: Callable[[], object],
    stop: threading.Event,
    interval: float,
    log: logging.Logger,
    what: str,
) -> threading.Thread:
    """Run ``tick`` in a daemon thread named ``name``; a pass that raises is logged as
    ``"{what} failed; retrying"`` and the loop goes on (the database may be restarting)."""

    def loop() -> None:
        while not stop.is_set():
            try:
                tick()
            except Exception:
                log.exception("%s failed; retrying", what)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
