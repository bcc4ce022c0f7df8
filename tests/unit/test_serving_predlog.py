"""The prediction log's buffer, segments, crash recovery and sealing (files only)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mlstudio.integrations.serving.metrics import Metrics
from mlstudio.integrations.serving.predlog import PredictionLog, digest_of, rows_of


def record(i: int, rows: int = 1) -> dict:
    return {
        "request_id": f"r{i}",
        "version": 1,
        "inputs": [{"a": i, "k": j} for j in range(rows)],
        "outputs": [i / 10] * rows,
    }


def lines(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines()]


def test_flush_writes_the_buffer_to_the_open_segment(tmp_path: Path):
    log = PredictionLog(tmp_path)
    for i in range(3):
        assert log.append(record(i))
    assert log.flush() == 3 and log.flush() == 0
    opened = list(tmp_path.glob("*.open.jsonl"))
    assert [r["request_id"] for r in lines(opened)] == ["r0", "r1", "r2"]
    assert log.written == 3 and log.closed_segments() == []


def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path: Path):
    dropped = []
    log = PredictionLog(tmp_path, max_buffer=2, on_drop=dropped.append)
    assert [log.append(record(i)) for i in range(4)] == [True, True, False, False]
    assert log.dropped == 2 and dropped == [1, 1]
    assert log.flush() == 2


def test_a_restart_recovers_the_segment_a_kill_left_open_and_skips_a_torn_line(tmp_path):
    log = PredictionLog(tmp_path)
    log.append(record(0))
    log.flush()
    opened = next(tmp_path.glob("*.open.jsonl"))
    with opened.open("a") as out:
        out.write('{"request_id": "r1", "outp')  # the kill landed mid-write
    again = PredictionLog(tmp_path)
    closed = again.closed_segments()
    assert len(closed) == 1 and not list(tmp_path.glob("*.open.jsonl"))
    assert [r["request_id"] for r in PredictionLog.read(closed)] == ["r0"]


def test_seal_hands_every_closed_segment_to_save_then_moves_them(tmp_path: Path):
    log = PredictionLog(tmp_path, segment_records=2)
    for i in range(5):
        log.append(record(i))
        log.flush()
    seen: list[list[str]] = []

    def save(records: list[dict]) -> str:
        seen.append([r["request_id"] for r in records])
        return "ns/m-predictions@1"

    assert log.seal(save) == "ns/m-predictions@1"
    assert seen == [["r0", "r1", "r2", "r3", "r4"]]
    assert log.closed_segments() == [] and len(list((tmp_path / "sealed").iterdir())) == 3
    assert log.seal(save) is None and len(seen) == 1  # nothing new


def test_a_failed_seal_keeps_the_segments_for_next_time(tmp_path: Path):
    log = PredictionLog(tmp_path)
    log.append(record(0))

    def broken(records: list[dict]) -> str:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        log.seal(broken)
    assert len(log.closed_segments()) == 1
    assert log.seal(lambda records: f"n={len(records)}") == "n=1"


def test_digest_mode_stores_sha256_of_each_row_not_the_row(tmp_path: Path):
    log = PredictionLog(tmp_path, digest_inputs=True)
    log.append(record(7, rows=2))
    log.flush()
    [written] = lines(list(tmp_path.glob("*.open.jsonl")))
    assert "inputs" not in written
    assert written["inputs_sha256"] == [digest_of({"a": 7, "k": 0}), digest_of({"a": 7, "k": 1})]
    raw = next(tmp_path.glob("*.open.jsonl")).read_text()
    assert '"a":7' not in raw and '"k"' not in raw


def test_rows_of_makes_one_row_per_input_row():
    rows = rows_of([record(1, rows=2), {**record(2), "inputs": None, "inputs_sha256": ["d"]}])
    assert [(r["request_id"], r["row"], r["prediction"]) for r in rows] == [
        ("r1", 0, 0.1),
        ("r1", 1, 0.1),
        ("r2", 0, 0.2),
    ]
    assert json.loads(rows[1]["inputs"]) == {"a": 1, "k": 1}
    assert rows[2]["inputs_sha256"] == "d"


def test_the_background_thread_flushes_and_a_stop_flushes_the_rest(tmp_path: Path):
    log = PredictionLog(tmp_path, flush_s=30.0, flush_records=2)
    stop = threading.Event()
    thread = log.start(stop)
    log.append(record(0))
    log.append(record(1))  # reaches flush_records: wakes the writer well before flush_s
    log.append(record(2))
    stop.set()
    log._wake.set()
    thread.join(5)
    assert not thread.is_alive() and log.written == 3


def test_metrics_render_prometheus_text():
    metrics = Metrics()
    metrics.inc("mlstudio_serve_fallbacks_total", reason="timeout", target="baseline")
    metrics.inc("mlstudio_serve_fallbacks_total", reason="timeout", target="baseline")
    metrics.observe(0.003)
    metrics.observe(0.2)
    text = metrics.render()
    assert 'mlstudio_serve_fallbacks_total{reason="timeout",target="baseline"} 2' in text
    assert 'mlstudio_serve_request_duration_seconds_bucket{le="0.0025"} 0' in text
    assert 'mlstudio_serve_request_duration_seconds_bucket{le="0.005"} 1' in text
    assert 'mlstudio_serve_request_duration_seconds_bucket{le="+Inf"} 2' in text
    assert "mlstudio_serve_request_duration_seconds_count 2" in text


def test_each_record_can_decide_whether_its_inputs_are_digested(tmp_path: Path):
    log = PredictionLog(tmp_path, digest_inputs=False)
    log.append({**record(1), "_digest": True})
    log.append({**record(2), "_digest": False})
    log.flush()
    first, second = lines(list(tmp_path.glob("*.open.jsonl")))
    assert "inputs" not in first and first["inputs_sha256"] == [digest_of({"a": 1, "k": 0})]
    assert second["inputs"] == [{"a": 2, "k": 0}] and "inputs_sha256" not in second
    assert "_digest" not in first and "_digest" not in second


def test_rows_of_keeps_raw_and_digested_inputs_in_their_own_columns():
    import pyarrow as pa

    rows = rows_of([{**record(1), "inputs": None, "inputs_sha256": ["d"]}, record(2)])
    table = pa.Table.from_pylist(rows)
    assert table.column("inputs_sha256").to_pylist() == ["d", None]
    assert json.loads(table.column("inputs").to_pylist()[1]) == {"a": 2, "k": 0}
