"""Garbage collection cost. Prints figures; asserts nothing.

    python bench/bench_gc.py [--tasks 1000] [--orphans 1000] [--postgres] [--json]

A home with one run of a fan-out whose N tasks each return a small table (N output blobs, all
referenced by the run and by cache entries) plus M old unreferenced blobs. Reports the time of
``gc --dry-run`` (list the store, read every reference) and of the ``gc`` that removes the M
orphans, and the same with ``--keep-runs-days 0`` after the cache is cleared (N outputs
released).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import textwrap
import time
from pathlib import Path

FLOW = textwrap.dedent(
    """
    import pandas as pd

    from mlstudio import task, workflow


    @task
    def make(n: int) -> list[int]:
        return list(range(n))


    @task(classify={"*": "internal"})
    def table(i: int) -> pd.DataFrame:
        return pd.DataFrame({"i": [i], "square": [i * i]})


    @workflow
    def fan(n: int = 10) -> list:
        return table.map(i=make(n))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--orphans", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from contextlib import ExitStack

    from mlstudio.app.local import LocalStudio
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings
    from mlstudio.testing.databases import database_url

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "home"
        home.mkdir()
        url = stack.enter_context(database_url("postgres" if args.postgres else "sqlite", home))
        platform = Platform.open(Settings(home=home, database_url=url, user="alice"))
        stack.callback(platform.close)
        studio = LocalStudio(platform, "alice")
        flow = Path(tmp) / "flow.py"
        flow.write_text(FLOW)
        started = time.perf_counter()
        run = studio.runs.start(f"{flow}:fan", {"n": args.tasks})
        done = studio.runs.wait(run["id"])
        assert done["state"] == "succeeded", done.get("error")
        run_s = time.perf_counter() - started

        old = time.time() - 3 * 3600
        for i in range(args.orphans):
            digest = platform.cas.put(f"orphan {i}".encode())
            path = home / "artifacts" / "cas" / digest[:2] / digest[2:]
            os.utime(path, (old, old))

        figures: dict[str, float | int] = {"tasks": args.tasks, "orphans": args.orphans}
        for label, options in (
            ("dry_run", {"dry_run": True}),
            ("remove_orphans", {}),
        ):
            t0 = time.perf_counter()
            report = studio.storage.gc(**options)
            figures[f"{label}_s"] = round(time.perf_counter() - t0, 3)
            figures[f"{label}_blobs"] = report["removed"]["blobs"]
        figures["scanned_blobs"] = report["scanned"]["blobs"]
        studio.cache.clear()
        t0 = time.perf_counter()
        report = studio.storage.gc(keep_runs_days=0, grace_hours=0)
        figures["retention_s"] = round(time.perf_counter() - t0, 3)
        figures["retention_blobs"] = report["removed"]["blobs"]
        figures["fan_out_run_s"] = round(run_s, 2)
        figures["backend"] = "postgres" if args.postgres else "sqlite"

    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
