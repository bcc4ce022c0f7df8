"""Token → actor, cached for ``ttl_s`` seconds so a request does not hit the metadata DB.

A revoked token stops working within ``ttl_s``. While the DB is unreachable, a token seen
valid before keeps working for up to ``grace_s`` after it was last confirmed (serving outlives
a DB outage), re-checked every ``ttl_s``; an unknown token is refused."""

from __future__ import annotations

import threading
import time
from typing import Any

from mlstudio.errors import AuthenticationError, PermissionDeniedError

TTL_S = 5.0
GRACE_S = 600.0


class TokenCache:
    def __init__(self, platform: Any, ttl_s: float = TTL_S, grace_s: float = GRACE_S) -> None:
        self.platform = platform
        self.ttl_s = ttl_s
        self.grace_s = grace_s
        # header -> (actor, confirmed at, next check at)
        self._seen: dict[str, tuple[str, float, float]] = {}
        self._lock = threading.Lock()

    def cached(self, header: str | None) -> str | None:
        """The actor when ``header`` needs no check yet (no DB call), else None."""
        if not header:
            return None
        found = self._seen.get(header)
        if found is not None and time.monotonic() < found[2]:
            return found[0]
        return None

    def check(self, header: str | None) -> str:
        """Authenticate through the token service (blocking: call it off the event loop)."""
        from mlstudio.governance.bearer import authenticate

        key = header or ""
        try:
            actor = authenticate(self.platform, header)
        except (AuthenticationError, PermissionDeniedError):
            with self._lock:
                self._seen.pop(key, None)
            raise
        except Exception:
            now = time.monotonic()
            with self._lock:
                found = self._seen.get(key)
                if found is not None and now - found[1] < self.grace_s:
                    self._seen[key] = (found[0], found[1], now + self.ttl_s)
                    return found[0]
            raise
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = (actor, now, now + self.ttl_s)
        return actor
