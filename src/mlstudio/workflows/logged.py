"""What a running task logs for experiment tracking (``current().log_metric(...)``), buffered
in the task's own process.

The task's code runs under the sandbox and may not open the artifact store, so nothing is
written from here: values pile up in this buffer (appending a point costs a list append) and
travel back with the attempt's result (``TaskResult.extra["tracking"]``). The worker stores the
logged files in the content store and replaces their bytes by digests; the engine publishes a
``TaskTracked`` event and the tracking subscriber writes params, tags, the metric series (in
batches) and artifacts in the same transaction as the task's final state.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mlstudio.core.tracking import (
    MAX_TAG_VALUE,
    json_number,
    metric_value,
    param_value,
    validate_artifact_path,
    validate_key,
)
from mlstudio.errors import InvalidInputError

MAX_ARTIFACT_BYTES = 256 * 1024 * 1024  # per attempt, held in memory until it ends


class LogBuffer:
    def __init__(self) -> None:
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.keys: list[str] = []
        self.points: list[tuple[int, float, int, int]] = []  # key index, value, step, ts
        self._key_index: dict[str, int] = {}
        self.artifacts: list[tuple[str, bytes]] = []
        self._artifact_bytes = 0

    def __bool__(self) -> bool:
        return bool(self.params or self.tags or self.points or self.artifacts)

    def param(self, key: str, value: Any) -> None:
        validate_key(key, "param")
        text = param_value(value)
        old = self.params.get(key)
        if old is not None and old != text:
            raise InvalidInputError(
                f"param {key!r} was already logged as {old!r}; changing it to {text!r} is refused",
                hint="log a param once per run (use a metric or a tag for values that change)",
            )
        self.params[key] = text

    def metric(self, key: str, value: Any, step: int | None, timestamp: int | None) -> None:
        index = self._key_index.get(key)
        if index is None:
            validate_key(key, "metric")
            index = self._key_index[key] = len(self.keys)
            self.keys.append(key)
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise InvalidInputError(f"step {step!r} is not a whole number")
        self.points.append(
            (
                index,
                metric_value(value),
                0 if step is None else step,
                int(time.time() * 1000) if timestamp is None else int(timestamp),
            )
        )

    def tag(self, key: str, value: Any) -> None:
        validate_key(key, "tag")
        text = str(value)
        if len(text) > MAX_TAG_VALUE:
            raise InvalidInputError(f"tag {key!r} is longer than {MAX_TAG_VALUE} characters")
        self.tags[key] = text

    def artifact_bytes(self, path: str, data: bytes) -> None:
        path = validate_artifact_path(path)
        self._artifact_bytes += len(data)
        if self._artifact_bytes > MAX_ARTIFACT_BYTES:
            raise InvalidInputError(
                "more than 256 MB of artifacts logged by one task",
                hint="return large files as the task's output instead",
            )
        self.artifacts.append((path, data))

    def artifact_file(self, local: str | os.PathLike[str], artifact_path: str | None) -> None:
        if artifact_path is not None:
            validate_artifact_path(artifact_path)
        source = Path(local)
        if not source.exists():
            raise InvalidInputError(f"no file {str(source)!r} to log", hint="check the path")
        base = f"{artifact_path.strip('/')}/" if artifact_path else ""
        if source.is_dir():
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                rel = file.relative_to(source).as_posix()
                self.artifact_bytes(f"{base}{source.name}/{rel}", file.read_bytes())
        else:
            self.artifact_bytes(f"{base}{source.name}", source.read_bytes())

    def payload(self) -> dict[str, Any]:
        """The JSON-able form sent with the result (artifact bytes stay bytes until the worker
        stores them)."""
        keys = self.keys
        return {
            "params": self.params,
            "tags": self.tags,
            "metrics": [[keys[k], json_number(v), s, t] for k, v, s, t in self.points],
            "artifacts": [[p, d] for p, d in self.artifacts],
        }


def store_artifacts(payload: dict[str, Any], put: Any) -> dict[str, Any]:
    """``payload`` with each artifact's bytes stored (``put(bytes) -> digest``): [path, digest,
    size] (run by the worker, outside the sandbox)."""
    files = []
    for path, data in payload.get("artifacts") or []:
        if isinstance(data, bytes | bytearray):
            files.append([path, put(bytes(data)), len(data)])
        else:
            files.append([path, *data] if isinstance(data, list) else [path, data, 0])
    return {**payload, "artifacts": files}
