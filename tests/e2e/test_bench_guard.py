"""The CI speed guard can fail: with a reference ratio no engine can meet, `bench_engine.py
--quick --guard` exits 1 and says why (the real reference is bench/engine_reference.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_engine.py"


@pytest.mark.slow
def test_the_quick_guard_fails_past_twice_the_reference(tmp_path):
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"quick_fanout_ratio": 0.01}))
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--guard", str(reference)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REGRESSION" in done.stdout and "limit 0.02x" in done.stdout
    assert "load" in done.stdout and "cores" in done.stdout  # figures carry the machine's state
