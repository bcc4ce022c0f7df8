"""Online stores: the newest value of each key of a view version, for serving.

A value is written only if it is newer than the stored one (event time, then knowledge time),
so an incremental materialization that meets a late correction with an older event time
leaves the newer value alone. Keys are the JSON list of the typed key values, so the composite
keys ("1", "23") and ("12", "3") are different keys. Two stores, one interface:

* :class:`SqliteOnlineStore`: a file in the home (the embedded default);
* :class:`RedisOnlineStore`: one hash per key (``__et``, ``__kt``, then each feature as
  JSON), written by a Lua script that compares the times atomically; for servers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mlstudio.errors import ConfigurationError, InvalidInputError, StoreUnavailableError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STORES = ("sqlite", "redis")

Row = tuple[str, int, int, dict[str, Any]]  # (key json, event µs, knowledge µs, values)


class OnlineStore(Protocol):
    name: str

    def write(self, view: str, rows: Sequence[Row]) -> int: ...
    def read(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> list[tuple[int, dict[str, Any]] | None]: ...
    def close(self) -> None: ...


def encode_key(values: Sequence[Any], types: Sequence[str]) -> str:
    """The typed key as stored: a JSON list (never a concatenation)."""
    if len(values) != len(types):
        raise InvalidInputError(
            f"the key has {len(values)} values, the view {len(types)} join keys",
            hint="give one value per join key, in order (--key A --key B)",
        )
    out = []
    for value, kind in zip(values, types, strict=True):
        try:
            if kind in ("int64", "int32"):
                out.append(int(value))
            elif kind in ("float64", "float32"):
                out.append(float(value))
            elif kind == "bool":
                out.append(
                    value if isinstance(value, bool) else str(value).lower() in ("1", "true")
                )
            else:
                out.append(str(value))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"key value {value!r} is not of type {kind}", hint="give the key in its type"
            ) from exc
    return json.dumps(out, separators=(",", ":"))


class SqliteOnlineStore:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._conn() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS online (view TEXT NOT NULL, key TEXT NOT NULL, "
                "et INTEGER NOT NULL, kt INTEGER NOT NULL, vals TEXT NOT NULL, "
                "PRIMARY KEY (view, key))"
            )

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")
            self._local.con = con
        return con

    def write(self, view: str, rows: Sequence[Row]) -> int:
        con = self._conn()
        before = con.total_changes
        with con:
            con.executemany(
                "INSERT INTO online (view, key, et, kt, vals) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (view, key) DO UPDATE SET et = excluded.et, kt = excluded.kt, "
                "vals = excluded.vals WHERE excluded.et > online.et OR "
                "(excluded.et = online.et AND excluded.kt >= online.kt)",
                [(view, k, et, kt, json.dumps(v, default=str)) for k, et, kt, v in rows],
            )
        return con.total_changes - before

    def read(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> list[tuple[int, dict[str, Any]] | None]:
        con = self._conn()
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, et, vals in con.execute(
                f"SELECT key, et, vals FROM online WHERE view = ? AND key IN ({marks})",
                [view, *chunk],
            ):
                data = json.loads(vals)
                found[key] = (et, {f: data.get(f) for f in features})
        return [found.get(k) for k in keys]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


_WRITE_LUA = """
local n = 0
local i = 1
for k = 1, #KEYS do
  local et = tonumber(ARGV[i])
  local kt = tonumber(ARGV[i + 1])
  local ok = true
  local cur = redis.call('HGET', KEYS[k], '__et')
  if cur then
    local c = tonumber(cur)
    if c > et then
      ok = false
    elseif c == et and tonumber(redis.call('HGET', KEYS[k], '__kt')) > kt then
      ok = false
    end
  end
  if ok then
    redis.call('HSET', KEYS[k], '__et', ARGV[i], '__kt', ARGV[i + 1], '__v', ARGV[i + 2])
    n = n + 1
  end
  i = i + 3
end
return n
"""
_KEYS_PER_CALL = 200  # keys per script call: few round trips, short blocking of Redis


class RedisOnlineStore:
    name = "redis"

    def __init__(self, url: str = DEFAULT_REDIS_URL, prefix: str = "default") -> None:
        """``prefix``: the installation's id, so installations sharing one Redis never collide."""
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - the extra is not installed
            raise ConfigurationError(
                "the Redis online store needs the redis package",
                hint="pip install 'mlstudio[features]'",
            ) from exc
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        try:
            self._script = self.client.register_script(_WRITE_LUA)
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailableError(
                f"the Redis online store at {url} cannot be reached: {exc}",
                hint="start Redis, or set MLSTUDIO_REDIS_URL",
            ) from exc

    def _key(self, view: str, key: str) -> str:
        return f"mlstudio:{self.prefix}:fv:{view}:{key}"

    def write(self, view: str, rows: Sequence[Row]) -> int:
        """Write each row unless the stored value is newer (event time, then knowledge time)."""
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(rows), _KEYS_PER_CALL):
            keys: list[str] = []
            args: list[Any] = []
            for key, et, kt, values in rows[start : start + _KEYS_PER_CALL]:
                keys.append(self._key(view, key))
                args += [et, kt, json.dumps(values, default=str, separators=(",", ":"))]
            self._script(keys=keys, args=args, client=pipe)
        return int(sum(pipe.execute()))

    def read(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> list[tuple[int, dict[str, Any]] | None]:
        fields = ["__et", "__v"]  # one JSON document per key: few arguments to pack and parse
        if len(keys) == 1:
            replies = [self.client.hmget(self._key(view, keys[0]), fields)]
        else:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._key(view, key), fields)
            replies = pipe.execute()
        out: list[tuple[int, dict[str, Any]] | None] = []
        for reply in replies:
            if reply[0] is None:
                out.append(None)
                continue
            data = json.loads(reply[1]) if reply[1] is not None else {}
            out.append((int(reply[0]), {f: data.get(f) for f in features}))
        return out

    def delete_view(self, view: str) -> None:
        batch: list[Any] = []
        for key in self.client.scan_iter(match=f"mlstudio:{self.prefix}:fv:{view}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    def close(self) -> None:
        self.client.close()


def open_store(
    kind: str, home: Path, redis_url: str | None = None, prefix: str = "default"
) -> OnlineStore:
    """The online store ``kind``; Redis keys start with ``MLSTUDIO_REDIS_PREFIX`` or ``prefix``."""
    if kind not in STORES:
        raise InvalidInputError(
            f"unknown online store {kind!r}", hint=f"use one of: {', '.join(STORES)}"
        )
    if kind == "redis":
        import os

        return RedisOnlineStore(
            redis_url or os.environ.get("MLSTUDIO_REDIS_URL") or DEFAULT_REDIS_URL,
            os.environ.get("MLSTUDIO_REDIS_PREFIX") or prefix,
        )
    return SqliteOnlineStore(home / "features" / "online.sqlite")
