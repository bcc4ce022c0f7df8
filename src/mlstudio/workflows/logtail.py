"""What a run's task attempts have printed, read as it is written: whole, or since a cursor.

A task attempt's output is a file the worker appends to line by line, flushed as written
(``runtime._LazyLog``: created on its first write), named in the task run's ``logs``
column before the task is handed to a worker; a worker on another disk sends its tail back with the result (``text``). The
file, when this process can read it, is the source; else that text. A cursor holds, per
attempt, how many bytes of its source were already returned, so ``runs logs --follow``
polls for what is new and stops once everything it follows has ended.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlstudio.core.states import TASK_TERMINAL
from mlstudio.errors import InvalidInputError

MAX_CHUNK = 1 << 20  # bytes of one attempt returned per call; the next call goes on from there


def encode_cursor(offsets: dict[str, int]) -> str:
    """An opaque, URL-safe token for ``{attempt key: bytes returned}`` (compressed: a
    fan-out's thousand attempts fit in a query string)."""
    raw = json.dumps(offsets, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 6)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, int]:
    """The offsets of a cursor from :func:`encode_cursor` (``None``/empty: from the start)."""
    if not cursor:
        return {}
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offsets = json.loads(zlib.decompressobj().decompress(raw, 1 << 22))
        if not isinstance(offsets, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in offsets.items()
        ):
            raise ValueError("not a map of offsets")
    except (ValueError, UnicodeDecodeError, zlib.error) as exc:
        raise InvalidInputError(
            f"invalid log cursor {cursor[:40]!r}",
            hint="pass the cursor a previous call returned, or none to read from the start",
        ) from exc
    return offsets


def key(node: str, attempt: int) -> str:
    return f"{node}#{attempt}"


def source(entry: dict[str, Any]) -> bytes | None:
    """An attempt's output so far: its file if readable here, else the text sent back with
    its result; ``None`` when it has none (it never started, or printed nothing)."""
    path = entry.get("path")
    if path:
        try:
            return Path(path).read_bytes()
        except OSError:
            pass
    text = entry.get("text")
    return text.encode("utf-8") if text is not None else None


def _complete(data: bytes) -> bytes:
    """``data`` without a UTF-8 sequence cut short at its end (the rest comes next time)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start]
    return data


WAITING, NEVER = 1, 2  # the notes of an attempt with no output (kept in the cursor)


def note(state: str, engine_gone: bool = False) -> tuple[int, str] | None:
    """Why an attempt that has no output yet shows none, when that can be said."""
    if state == "running" and engine_gone:
        return NEVER, "never started: the run's engine is gone"
    if state == "running":
        return WAITING, "no output yet (not started, or nothing printed so far)"
    if state in ("cancelled", "failed", "retried"):
        return NEVER, f"{'ended' if state == 'retried' else state} before it started: no output"
    return None


def attempts(tasks: Iterable[Any], task: str | None) -> list[tuple[Any, dict[str, Any]]]:
    """(task run, log entry) of every attempt of the selected tasks, in order."""
    return [
        (t, entry)
        for t in tasks
        if not task or task in (t.node_id, t.task)
        for entry in t.logs or []
    ]


def state_of(t: Any, entry: dict[str, Any]) -> str:
    """The state of one attempt: the task's for its current attempt; an earlier one was
    retried."""
    return str(t.state) if entry["attempt"] == t.attempt else "retried"


def _entry(t: Any, attempt: int, text: str, state: str, hint: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"node": t.node_id, "attempt": attempt, "text": text, "state": state}
    if hint:
        item["note"] = hint
    return item


def whole(tasks: list[Any], task: str | None, engine_gone: bool = False) -> list[dict[str, Any]]:
    """Every attempt's whole output (``runs logs``); a task that failed before any attempt
    was handed out shows its traceback."""
    out = []
    for t in tasks:
        if task and task not in (t.node_id, t.task):
            continue
        for entry in t.logs or []:
            data = source(entry)
            state = state_of(t, entry)
            hint = note(state, engine_gone) if data is None else None
            text = (data or b"").decode("utf-8", errors="replace")
            out.append(_entry(t, entry["attempt"], text, state, hint[1] if hint else None))
        if t.traceback and not t.logs:
            out.append(_entry(t, t.attempt, t.traceback, str(t.state), None))
    return out


def since(
    tasks: list[Any],
    task: str | None,
    cursor: str | None,
    run_state: str,
    run_ended: bool,
    engine_gone: bool = False,
) -> dict[str, Any]:
    """What is new since ``cursor``: ``entries`` (attempts with new output, or a note not
    given before), the next ``cursor``, and ``done``: everything followed (the run, or with
    ``task`` every selected task) has ended and all its output was returned.

    ``tasks`` must be read before this call reads the files: an attempt that had ended
    then has all its output on disk now."""
    offsets = decode_cursor(cursor)
    selected = [t for t in tasks if not task or task in (t.node_id, t.task)]
    ended = run_ended or (bool(selected) and all(t.state in TASK_TERMINAL for t in selected))
    entries = []
    more = False
    for t, entry in attempts(tasks, task):
        k = key(t.node_id, entry["attempt"])
        state = state_of(t, entry)
        data = source(entry)
        if data is None:
            hint = note(state, engine_gone)
            if hint and offsets.get(k + "!") != hint[0]:
                offsets[k + "!"] = hint[0]
                entries.append(_entry(t, entry["attempt"], "", state, hint[1]))
            continue
        start = offsets.get(k, 0)
        chunk = data[start : start + MAX_CHUNK]
        cut = start + MAX_CHUNK < len(data)
        more = more or cut
        if cut or state in ("running", "pending"):
            chunk = _complete(chunk)  # the rest of a character comes with the next call
        if chunk:
            offsets[k] = start + len(chunk)
            text = chunk.decode("utf-8", errors="replace")
            entries.append(_entry(t, entry["attempt"], text, state, None))
    return {
        "run": run_state,
        "entries": entries,
        "cursor": encode_cursor(offsets),
        "done": ended and not more,
    }
