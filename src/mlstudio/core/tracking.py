"""Rules every edge of experiment tracking shares (the task SDK, the service, the MLflow API):
key and artifact-path validation, and how non-finite metric values travel in JSON. Pure."""

from __future__ import annotations

import math
import re
from typing import Any

from mlstudio.errors import InvalidInputError

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def validate_key(key: Any, what: str = "metric") -> str:
    """A metric, param or tag key as MLflow allows it: letters, digits, ``_ - . / : space``,
    at most 250 characters, no ``..`` and no leading ``/``."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY or not _KEY.match(key):
        raise InvalidInputError(
            f"invalid {what} key {str(key)[:60]!r}",
            hint="use 1-250 letters, digits, '_', '-', '.', '/', ':' or spaces",
        )
    if ".." in key or key.startswith("/"):
        raise InvalidInputError(
            f"invalid {what} key {key!r}: no '..' and no leading '/'",
            hint="use a relative name like 'train/loss'",
        )
    return key


def validate_artifact_path(path: Any) -> str:
    """A relative artifact path inside a run's artifacts: no ``..``, no absolute path."""
    if not isinstance(path, str) or not path:
        raise InvalidInputError("an artifact path must be a non-empty string")
    parts = path.replace("\\", "/").split("/")
    if (
        path.startswith(("/", "\\"))
        or "\\" in path
        or "\x00" in path
        or any(p == ".." for p in parts)
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise InvalidInputError(
            f"artifact path {path!r} leaves the run's artifacts",
            hint="use a relative path without '..', e.g. 'plots/loss.png'",
        )
    clean = "/".join(p for p in parts if p not in ("", "."))
    if not clean:
        raise InvalidInputError(f"artifact path {path!r} names no file")
    return clean


def metric_value(value: Any) -> float:
    """A metric value as a float (``NaN``/``Infinity`` strings accepted, as MLflow's JSON)."""
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"metric value {str(value)[:40]!r} is not a number", hint="log a float or an int"
        ) from None


def json_number(value: float | None) -> float | str | None:
    """``value`` for JSON: NaN and infinities as MLflow's strings ``NaN``/``Infinity``."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def param_value(value: Any) -> str:
    text = value if isinstance(value, str) else _text(value)
    if len(text) > MAX_PARAM_VALUE:
        raise InvalidInputError(
            f"param value of {len(text)} characters is too long",
            hint=f"params hold at most {MAX_PARAM_VALUE} characters; log a file as an artifact",
        )
    return text


def _text(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        import json

        try:
            return json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)
