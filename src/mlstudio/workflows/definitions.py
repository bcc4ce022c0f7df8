"""What ``@task`` and ``@workflow`` produce: declarations with a signature and options.

These objects carry no engine state; the SDK (``mlstudio.workflows.sdk``) gives them their call
behaviour. Introspection (``mlstudio.modules.introspect``) reads ``describe()`` in a clean process.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

CACHE_MODES = ("default", "recompute", "off")
READ_CHECKS = ("validate", "ignore")


@dataclass(frozen=True)
class CachePolicy:
    """How a task's cached results stay valid when the task reads what mlstudio cannot see
    (the network, a database, files read by native code or a subprocess):
    ``@task(cache=CachePolicy(key=etag_of, expire=timedelta(hours=1)))``.

    - ``key(**params)``: called when the run is planned, with the task's arguments that are
      known then (its parameters, not upstream results); its return value (JSON-able, e.g. an
      ETag or a table's last-modified time) is part of the cache key.
    - ``expire``: a cached result older than this (a ``timedelta`` or seconds) is recomputed.
    - ``reads``: ``"validate"`` (default) checks the files the task read on every hit;
      ``"ignore"`` trusts ``key``/``expire`` alone (for a task that reads a huge tree it
      vouches for itself)."""

    key: Callable[..., Any] | None = None
    expire: Any = None
    reads: str = "validate"

    def __post_init__(self) -> None:
        from mlstudio.errors import InvalidInputError

        if self.reads not in READ_CHECKS:
            raise InvalidInputError(
                f"CachePolicy(reads={self.reads!r}) is not a read check",
                hint=f"use one of {', '.join(READ_CHECKS)}",
            )
        if self.key is not None and not callable(self.key):
            raise InvalidInputError("CachePolicy(key=...) must be a function of the parameters")
        if self.expire_s is not None and self.expire_s <= 0:
            raise InvalidInputError("CachePolicy(expire=...) must be positive")

    @property
    def expire_s(self) -> float | None:
        if self.expire is None:
            return None
        seconds = getattr(self.expire, "total_seconds", None)
        return float(seconds() if seconds else self.expire)

    def to_dict(self) -> dict[str, Any]:
        key = None
        if self.key is not None:
            key = f"{getattr(self.key, '__module__', '')}.{getattr(self.key, '__qualname__', '')}"
        return {"key": key, "expire_s": self.expire_s, "reads": self.reads}


@dataclass(frozen=True)
class TaskOptions:
    retries: int = 0
    retry_delay: float = 1.0
    timeout: float | None = None
    cache: str = "default"
    cache_version: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, list[str]] | None = None  # output column -> ["input.column", …]
    columns: dict[str, list[str]] | None = None  # input argument -> the only columns it reads
    classify: dict[str, str] | None = None  # output column (or "*") -> "level+label" declared
    persist: str | None = None  # NS/NAME: store the output table as a version of this dataset
    inline: bool = False  # run in the engine's process (tiny pure tasks: no process round trip)
    cache_policy: CachePolicy | None = None  # key function, expiry, read checks
    register: str | None = None  # register the returned Model as a version of this model
    register_alias: str | None = None  # then point this alias of the model at the new version

    def to_dict(self) -> dict[str, Any]:
        return {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "timeout": self.timeout,
            "cache": self.cache,
            "cache_version": self.cache_version,
            "resources": dict(self.resources),
            "lineage": self.lineage,
            "columns": self.columns,
            "classify": self.classify,
            "persist": self.persist,
            "inline": self.inline,
            "cache_policy": self.cache_policy.to_dict() if self.cache_policy else None,
            **({"register": self.register} if self.register else {}),
            **({"register_alias": self.register_alias} if self.register_alias else {}),
        }


def type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, str):
        return annotation
    if annotation is type(None) or annotation is None:
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:  # int | None, Optional[int]
        return " | ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(annotation))
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def describe_signature(fn: Callable[..., Any]) -> dict[str, Any]:
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params = []
    for p in sig.parameters.values():
        ann = hints.get(p.name, p.annotation)
        item: dict[str, Any] = {"name": p.name, "type": type_name(ann)}
        if p.default is not inspect.Parameter.empty:
            item["default"] = (
                p.default
                if isinstance(p.default, str | int | float | bool | type(None))
                else repr(p.default)
            )
        params.append(item)
    ret = hints.get("return", sig.return_annotation)
    text = ", ".join(
        f"{p['name']}: {p['type']}" + (f" = {p['default']!r}" if "default" in p else "")
        for p in params
    )
    return {"params": params, "returns": type_name(ret), "text": f"({text}) -> {type_name(ret)}"}


class Definition:
    kind: str = ""

    def __init__(self, fn: Callable[..., Any], name: str | None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self.__name__ = fn.__name__
        self.__qualname__ = getattr(fn, "__qualname__", fn.__name__)
        self.__module__ = fn.__module__

    @cached_property
    def signature(self) -> dict[str, Any]:
        """Parameters and return type (computed once: tracing a plan reads it per call)."""
        return describe_signature(self.fn)

    @cached_property
    def python_signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @property
    def source_file(self) -> str | None:
        try:
            return inspect.getsourcefile(self.fn)
        except TypeError:
            return None

    @property
    def source_line(self) -> int | None:
        try:
            return inspect.getsourcelines(self.fn)[1]
        except (OSError, TypeError):
            return None

    def describe(self) -> dict[str, Any]:
        doc = inspect.getdoc(self.fn) or ""
        return {
            "name": self.name,
            "kind": self.kind,
            "function": self.__name__,
            "signature": self.signature,
            "doc": doc.splitlines()[0] if doc else "",
            "line": self.source_line,
        }
