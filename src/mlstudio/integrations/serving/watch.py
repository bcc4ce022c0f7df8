"""Follow an alias: poll the registry's alias table (every ``interval_s``) and hand moves to
the host. While the metadata DB is unreachable the host keeps serving what it has loaded."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("mlstudio.serve")


class AliasWatcher:
    def __init__(self, platform: Any, host: Any, interval_s: float = 0.5) -> None:
        self.platform = platform
        self.host = host
        self.interval_s = interval_s
        self.db_ok = True
        self.last_poll: float | None = None
        self.alias_missing = False

    def read_alias(self) -> int | None:
        """The version the alias points at now (None: removed); raises when the DB is down."""
        with self.platform.store.read() as uow:
            model = uow.registry.get_model(self.host.name)
            if model is None:
                return None
            row = uow.registry.get_alias(model["id"], self.host.alias)
        return None if row is None else int(row["version"])

    def poll(self) -> None:
        """One look at the alias; never raises."""
        try:
            version = self.read_alias()
        except Exception as exc:
            if self.db_ok:
                log.warning("metadata DB unreachable, still serving what is loaded: %s", exc)
            self.db_ok = False
            return
        if not self.db_ok:
            log.info("metadata DB reachable again")
        self.db_ok = True
        self.last_poll = time.time()
        self.alias_missing = version is None
        if version is not None:
            self.host.follow(version)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            self.poll()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True, name="serve-watch")
        thread.start()
        return thread
