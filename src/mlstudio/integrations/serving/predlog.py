"""The prediction log: every request's inputs (or their sha256), outputs, version, variant,
flag reason, fallback and latency, by request id.

Requests append to a bounded in-memory buffer (``max_buffer`` records; beyond it records are
dropped and counted, never blocking a request). A background thread writes the buffer to the
open JSONL segment under ``root`` every ``flush_s`` seconds or ``flush_records`` records, and
fsyncs it: a ``kill -9`` loses at most the records appended since the last flush. ``seal``
closes the segment and turns every closed segment into one new version of a governed dataset
(one row per input row); sealed segments move to ``root/sealed``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("mlstudio.serve")

OPEN_SUFFIX = ".open.jsonl"
CLOSED_SUFFIX = ".jsonl"


def digest_of(value: Any) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


class PredictionLog:
    def __init__(
        self,
        root: Path,
        *,
        digest_inputs: bool = False,
        flush_s: float = 1.0,
        flush_records: int = 1000,
        max_buffer: int = 20000,
        segment_records: int = 100_000,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sealed").mkdir(exist_ok=True)
        self.digest_inputs = digest_inputs
        self.flush_s = flush_s
        self.flush_records = flush_records
        self.max_buffer = max_buffer
        self.segment_records = segment_records
        self.on_drop = on_drop
        self.dropped = 0
        self.written = 0
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._segment: Path | None = None
        self._segment_count = 0
        self._recover()

    # --- the request path ---------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> bool:
        """Buffer one request's record (False: the buffer is full and it was dropped)."""
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                dropped = True
            else:
                self._buffer.append(record)
                dropped = False
                if len(self._buffer) >= self.flush_records:
                    self._wake.set()
        if dropped and self.on_drop is not None:
            self.on_drop(1)
        return not dropped

    # --- writing ------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Segments a killed process left open are closed (a torn last line is skipped when
        read)."""
        for path in sorted(self.root.glob(f"*{OPEN_SUFFIX}")):
            path.rename(path.with_name(path.name[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX))

    def _line(self, record: dict[str, Any]) -> str:
        """A record as JSON; with ``digest_inputs`` (or the record's own ``_digest``), each
        input row becomes its sha256."""
        if record.get("_digest", self.digest_inputs):
            record = dict(record)
            record.pop("_digest", None)
            rows = record.pop("inputs", [])
            record["inputs_sha256"] = [digest_of(r) for r in rows]
        if "_digest" in record:
            record = {k: v for k, v in record.items() if k != "_digest"}
        return json.dumps(record, separators=(",", ":"), default=str)

    def flush(self) -> int:
        """Write the buffer to the open segment (fsynced); returns the records written."""
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
                self._wake.clear()
            if not batch:
                return 0
            if self._segment is None:
                self._segment = self.root / f"seg-{time.time_ns():020d}{OPEN_SUFFIX}"
                self._segment_count = 0
            text = "".join(self._line(r) + "\n" for r in batch)
            with self._segment.open("a", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            self.written += len(batch)
            self._segment_count += len(batch)
            if self._segment_count >= self.segment_records:
                self._close_segment()
            return len(batch)

    def _close_segment(self) -> None:
        if self._segment is not None and self._segment.exists():
            name = self._segment.name[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX
            self._segment.rename(self._segment.with_name(name))
        self._segment = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self.flush_s)
            try:
                self.flush()
            except OSError as exc:  # a full disk: keep serving, say so
                log.error("prediction log flush failed: %s", exc)
        self.flush()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True, name="serve-log")
        thread.start()
        return thread

    # --- reading and sealing ------------------------------------------------------------------
    def closed_segments(self) -> list[Path]:
        return sorted(self.root.glob(f"seg-*[0-9]{CLOSED_SUFFIX}"))

    @staticmethod
    def read(paths: list[Path]) -> list[dict[str, Any]]:
        """The records of ``paths``; a torn (partly written) last line is skipped."""
        out = []
        for path in paths:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def seal(self, save: Callable[[list[dict[str, Any]]], str]) -> str | None:
        """Flush, close the segment, and hand every closed segment's records to ``save``
        (which writes the dataset version); on success the segments move to ``sealed/``.
        Returns the dataset ref, or None when there was nothing to seal."""
        self.flush()
        with self._write_lock:
            self._close_segment()
        paths = self.closed_segments()
        records = self.read(paths)
        if not records:
            return None
        ref = save(records)
        for path in paths:
            path.rename(self.root / "sealed" / path.name)
        return ref


def rows_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per input row: the request's fields plus ``row``, ``prediction`` and the row's
    ``inputs`` (JSON) or ``inputs_sha256`` (the other None); every row has every key."""
    out = []
    for r in records:
        inputs = r.get("inputs")
        digests = r.get("inputs_sha256")
        outputs = r.get("outputs") or []
        n = max(len(outputs), len(inputs or digests or []))
        for i in range(n):
            row = {
                "request_id": r.get("request_id"),
                "row": i,
                "at": r.get("at"),
                "model": r.get("model"),
                "version": r.get("version"),
                "variant": r.get("variant"),
                "flag_reason": r.get("flag_reason"),
                "bucket": r.get("bucket"),
                "answered_by": r.get("answered_by"),
                "fallback_reason": r.get("fallback_reason"),
                "latency_ms": r.get("latency_ms"),
                "subject": r.get("subject"),
                "prediction": outputs[i] if i < len(outputs) else None,
            }
            value = inputs[i] if inputs and i < len(inputs) else None
            row["inputs"] = None if value is None else json.dumps(value, sort_keys=True)
            row["inputs_sha256"] = digests[i] if digests and i < len(digests) else None
            out.append(row)
    return out
