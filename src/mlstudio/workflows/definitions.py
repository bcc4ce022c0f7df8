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
from typing import Any

CACHE_MODES = ("default", "recompute", "off")


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
            "signature": describe_signature(self.fn),
            "doc": doc.splitlines()[0] if doc else "",
            "line": self.source_line,
        }
