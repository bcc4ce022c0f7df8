"""The serving process's token cache: TTL, revocation within it, and the DB-outage grace."""

from __future__ import annotations

from typing import Any

import pytest

from mlstudio.errors import AuthenticationError, StoreUnavailableError
from mlstudio.integrations.serving import auth
from mlstudio.integrations.serving.auth import TokenCache


class Tokens:
    def __init__(self) -> None:
        self.valid = {"good": "alice"}
        self.down = False
        self.calls = 0

    def authenticate(self, token: str) -> str:
        self.calls += 1
        if self.down:
            raise StoreUnavailableError("database unreachable")
        if token not in self.valid:
            raise AuthenticationError("unknown token")
        return self.valid[token]


class Platform:
    def __init__(self) -> None:
        self.tokens = Tokens()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    class Clock:
        now = 100.0

    monkeypatch.setattr(auth.time, "monotonic", lambda: Clock.now)
    return Clock


def test_a_checked_token_is_served_from_the_cache_until_the_ttl(clock):
    platform = Platform()
    cache = TokenCache(platform, ttl_s=5.0)
    assert cache.cached("Bearer good") is None
    assert cache.check("Bearer good") == "alice" and platform.tokens.calls == 1
    clock.now += 4.9
    assert cache.cached("Bearer good") == "alice"
    clock.now += 0.2
    assert cache.cached("Bearer good") is None  # past the TTL: checked again


def test_a_revoked_token_stops_working_at_the_next_check(clock):
    platform = Platform()
    cache = TokenCache(platform, ttl_s=5.0)
    cache.check("Bearer good")
    del platform.tokens.valid["good"]
    clock.now += 6
    with pytest.raises(AuthenticationError):
        cache.check("Bearer good")
    assert cache.cached("Bearer good") is None


def test_while_the_db_is_down_known_tokens_work_for_the_grace_and_unknown_ones_do_not(clock):
    platform = Platform()
    cache = TokenCache(platform, ttl_s=5.0, grace_s=60.0)
    cache.check("Bearer good")
    platform.tokens.down = True
    clock.now += 10
    assert cache.check("Bearer good") == "alice"
    assert cache.cached("Bearer good") == "alice"  # no DB call for another TTL
    with pytest.raises(StoreUnavailableError):
        cache.check("Bearer other")
    clock.now += 60
    with pytest.raises(StoreUnavailableError):
        cache.check("Bearer good")  # the grace is over


def test_a_malformed_header_is_refused_without_caching():
    cache = TokenCache(Platform())
    with pytest.raises(AuthenticationError):
        cache.check(None)
    with pytest.raises(AuthenticationError):
        cache.check("Basic xyz")
