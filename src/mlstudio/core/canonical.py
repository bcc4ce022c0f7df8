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


def canonical_json(value: Any) -> str:
    """Serialize JSON-compatible ``value`` with sorted keys and no insignificant whitespace."""
    _check(value, "")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")
