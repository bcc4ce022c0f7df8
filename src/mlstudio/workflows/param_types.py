"""Check a workflow parameter's value against its declared type, element by element.

``conform(name, value, annotation)`` walks lists, tuples, sets, dicts, optionals, unions and
literals (nested to any depth) and returns the value as the workflow receives it (an ``int``
where a ``float`` is declared becomes a float, a list where a tuple is declared a tuple), or
raises :class:`ParamTypeError` naming every offending element::

    xs[1]: expected int, got str "b"
    kinds expects a list of str, got str "gbm"

Types it does not know (a class of the user's, ``Any``, a string annotation it cannot resolve)
accept any value, as before.
"""

from __future__ import annotations

import collections.abc as abc
import json
import types
import typing
from typing import Any

MAX_PROBLEMS = 5  # per parameter: a 10,000-element list of the wrong type is one message

_SCALARS: dict[type, tuple[type, ...]] = {
    int: (int,),
    float: (int, float),
    bool: (bool,),
    str: (str,),
}
_SEQUENCES = (list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)
_SETS = (set, frozenset, abc.Set, abc.MutableSet)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


class ParamTypeError(ValueError):
    """A parameter's value does not match its declared type; ``problems`` lists each element."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f" (and {more} more)" if more else ""))
        self.problems = problems


def conform(name: str, value: Any, annotation: Any) -> Any:
    """``value`` as declared by ``annotation``, or :class:`ParamTypeError`."""
    problems: list[str] = []
    out = _check(name, value, annotation, problems, top=True)
    if problems:
        raise ParamTypeError(problems)
    return out


def accepts(value: Any, annotation: Any) -> bool:
    """Whether ``value`` conforms to ``annotation``."""
    problems: list[str] = []
    _check("", value, annotation, problems, top=False)
    return not problems


def accepts_str(annotation: Any) -> bool:
    """Whether a plain string is a valid value of ``annotation`` (e.g. ``str | None``)."""
    return accepts("", annotation)


def describe(annotation: Any, *, article: bool = True) -> str:
    """``list[str]`` -> "a list of str"; ``int | None`` -> "int or None"."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None) or annotation is None:
        return "None"
    if _is_union(origin):
        return " or ".join(describe(a, article=article) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    a = "a " if article else ""
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        return f"{a}list of {describe(args[0], article=False)}" if args else f"{a}list"
    if annotation in _SETS or origin in _SETS:
        return f"{a}set of {describe(args[0], article=False)}" if args else f"{a}set"
    if annotation in (tuple, abc.Sequence) or origin is tuple:
        if not args:
            return f"{a}tuple"
        if len(args) == 2 and args[1] is Ellipsis:
            return f"{a}tuple of {describe(args[0], article=False)}"
        return f"{a}tuple ({', '.join(describe(x, article=False) for x in args)})"
    if annotation in _MAPPINGS or origin in _MAPPINGS:
        if len(args) == 2:
            key, val = (describe(x, article=False) for x in args)
            return f"{a}dict of {key} to {val}"
        return f"{a}dict"
    return getattr(annotation, "__name__", str(annotation))


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def _shown(value: Any) -> str:
    if value is None:
        return "None"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _mismatch(path: str, annotation: Any, value: Any, problems: list[str], top: bool) -> Any:
    if top:
        problems.append(f"{path} expects {describe(annotation)}, got {_shown(value)}")
    else:
        problems.append(
            f"{path}: expected {describe(annotation, article=False)}, got {_shown(value)}"
        )
    return value


def _check(path: str, value: Any, annotation: Any, problems: list[str], *, top: bool) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None) or annotation is None:
        return value if value is None else _mismatch(path, annotation, value, problems, top)
    if _is_union(origin):
        return _check_union(path, value, annotation, args, problems, top)
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        return _mismatch(path, annotation, value, problems, top)
    if annotation in _SCALARS:
        ok = isinstance(value, _SCALARS[annotation]) and (
            annotation is bool or not isinstance(value, bool)
        )
        if not ok:
            return _mismatch(path, annotation, value, problems, top)
        return float(value) if annotation is float else value
    container = origin or annotation
    if container is tuple:
        return _check_tuple(path, value, annotation, args, problems, top)
    if container in _SEQUENCES or container in _SETS:
        if not isinstance(value, list | tuple | set | frozenset) or (
            container in _SEQUENCES and isinstance(value, set | frozenset)
        ):
            return _mismatch(path, annotation, value, problems, top)
        if not args:
            return value
        items = [
            _check(f"{path}[{i}]", v, args[0], problems, top=False) for i, v in enumerate(value)
        ]
        return items if isinstance(value, list) else type(value)(items)
    if container in _MAPPINGS:
        if not isinstance(value, dict):
            return _mismatch(path, annotation, value, problems, top)
        if len(args) != 2:
            return value
        out = {}
        for key, item in value.items():
            if args[0] is not str:
                _check(f"{path} key {json.dumps(key)}", key, args[0], problems, top=False)
            out[key] = _check(f"{path}[{json.dumps(key)}]", item, args[1], problems, top=False)
        return out
    return value  # Any, a user's class, an unresolved forward reference: not checked


def _check_union(
    path: str, value: Any, annotation: Any, args: tuple[Any, ...], problems: list[str], top: bool
) -> Any:
    arms = [a for a in args if a is not type(None)]
    if value is None and len(arms) < len(args):
        return None
    attempts: list[list[str]] = []
    for arm in arms:
        trial: list[str] = []
        out = _check(path, value, arm, trial, top=top)
        if not trial:
            return out
        attempts.append(trial)
    here = (f"{path} expects ", f"{path}: expected ")
    if len(arms) == 1 and not any(p.startswith(here) for p in attempts[0]):
        problems.extend(attempts[0])  # Optional[X], X's elements are wrong: name them
        return value
    return _mismatch(path, annotation, value, problems, top)


def _check_tuple(
    path: str, value: Any, annotation: Any, args: tuple[Any, ...], problems: list[str], top: bool
) -> Any:
    if not isinstance(value, list | tuple):
        return _mismatch(path, annotation, value, problems, top)
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        kinds = [args[0]] * len(value)
    elif args == ((),):  # tuple[()]
        kinds = []
    else:
        kinds = list(args)
    if len(kinds) != len(value):
        return _mismatch(path, annotation, value, problems, top)
    return tuple(
        _check(f"{path}[{i}]", v, kind, problems, top=False)
        for i, (v, kind) in enumerate(zip(value, kinds, strict=True))
    )
