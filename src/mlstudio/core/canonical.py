"""Canonical JSON: one byte string per value, so digests of parameters are stable."""

from __future__ import annotations

import json
import math
from typing import Any

from mlstudio.errors import InvalidInputError


def _check(value: Any, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(
            f"{path or 'value'} is {value!r}; only finite numbers can be hashed"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{path or 'value'} has a non-string key {key!r}")
            _check(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")


def _string_keys(value: Any) -> bool:
    """Every dict in ``value`` has only string keys (json.dumps would coerce the others)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return False
            if isinstance(item, dict | list | tuple) and not _string_keys(item):
                return False
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, dict | list | tuple) and not _string_keys(item):
                return False
    return True


def canonical_json(value: Any) -> str:
    """Serialize JSON-compatible ``value`` with sorted keys and no insignificant whitespace.

    The fast path walks containers only (non-finite floats are refused by the encoder); the
    path-naming check runs only to explain a refusal."""
    try:
        if not _string_keys(value):
            raise ValueError("a non-string key")
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError:
        _check(value, "")  # raises the error that names the offending path
        raise


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")
