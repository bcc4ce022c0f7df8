"""Declared file inputs: a task parameter typed ``pathlib.Path`` or ``mlstudio.File``.

When a run is planned, a constant value for such a parameter is made absolute and marked
(``{"c": "/abs/path", "f": 1}``); the engine hashes the file's content before the task runs and
makes the digest part of the cache key (:func:`mlstudio.workflows.cache.readset.
extend_components`), so every content version of the file has its own cache entry and
``runs show --explain`` names the file that changed. The task gets a ``Path`` (or a ``File``).
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from pathlib import Path, PurePath
from typing import Any


class File(os.PathLike):
    """A file a task reads, declared as an input: ``def fit(points: File) -> Model``.

    Behaves like a path (``open(f)``, ``pd.read_csv(f)``); ``f.path`` is a ``Path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.fspath(path))

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"File({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.path.read_text(encoding=encoding)

    def open(self, mode: str = "r", **kwargs: Any) -> Any:
        return self.path.open(mode, **kwargs)


class DeclaredFile:
    """What the tracer binds for a declared file argument (an absolute path)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def file_arguments(fn: Any) -> dict[str, type]:
    """The parameters of ``fn`` typed ``Path``/``File`` (or ``X | None``): name -> type."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = getattr(fn, "__annotations__", {}) or {}
    out: dict[str, type] = {}
    for name in inspect.signature(fn).parameters:
        kind = _file_type(hints.get(name))
        if kind is not None:
            out[name] = kind
    return out


def declare(fn: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """Mark the constant values of ``fn``'s declared file parameters (while planning)."""
    kinds = file_arguments(fn)
    if not kinds:
        return arguments
    out = dict(arguments)
    for name in kinds:
        value = out.get(name)
        if isinstance(value, str | PurePath | File):
            out[name] = DeclaredFile(os.path.abspath(os.fspath(value)))
    return out


def paths(inputs: dict[str, Any]) -> frozenset[str]:
    """The declared file paths among a dispatch's input specs."""
    return frozenset(
        spec["c"] for spec in inputs.values() if spec.get("f") and isinstance(spec.get("c"), str)
    )


def convert(fn: Any, kwargs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Hand declared file inputs over as the type the task asks for."""
    marked = [name for name, spec in inputs.items() if spec.get("f") and name in kwargs]
    if not marked:
        return kwargs
    kinds = file_arguments(fn)
    out = dict(kwargs)
    for name in marked:
        if isinstance(out[name], str):
            out[name] = File(out[name]) if kinds.get(name) is File else Path(out[name])
    return out


def _file_type(hint: Any) -> type | None:
    if hint is None:
        return None
    if isinstance(hint, type):
        if issubclass(hint, File):
            return File
        if issubclass(hint, PurePath):
            return Path
        return None
    if isinstance(hint, str):
        return {"Path": Path, "File": File, "pathlib.Path": Path}.get(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _file_type(args[0])
    return None
