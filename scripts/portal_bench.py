"""Server time of portal pages for a run with a wide mapped fan-out, and of one live-state poll.

Starts a real ``mlstudio server`` on a temporary home, runs a workflow mapping a trivial task
over ``--width`` items (embedded, as alice), signs in over HTTP and prints, per page, the median
and worst wall time of ``--repeat`` requests and the response size. Figures only: nothing is
asserted.

    .venv/bin/python scripts/portal_bench.py [--width 300] [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from mlstudio.testing.flows import wait_until, write_flow
from mlstudio.testing.servers import start_server

FLOW = """
from mlstudio import task, workflow


@task
def item(i: int) -> int:
    return i


@task
def count(values: list) -> int:
    return len(values)


@workflow
def fan(width: int = 10) -> int:
    return count(item.map(i=list(range(width))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=10)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    home = root / "home"
    server = start_server(home, f"sqlite:///{(home / 'studio.db').as_posix()}", "--no-workers")
    try:
        flow = write_flow(root, FLOW)
        started = time.perf_counter()
        done = server.cli("run", f"{flow}:fan", "--json", "-p", f"width={options.width}")
        assert done.code == 0, done.stderr
        run_id = json.loads(done.stdout)["id"]
        print(f"run of {options.width} mapped tasks: {time.perf_counter() - started:.1f} s")
        token = server.token("alice")
        with server.http() as http:
            form = http.get("/ui/signin")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
            answer = http.post("/ui/signin", data={"token": token, "csrf": csrf})
            assert answer.status_code == 303, answer.text[:200]
            wait_until(
                lambda: http.get(f"/ui/runs/{run_id}/state").json()["active"] is False,
                "the run to end",
                300,
            )
            pages = {
                "run list": "/ui/runs",
                "run page, tasks": f"/ui/runs/{run_id}?tab=tasks",
                "run page, graph": f"/ui/runs/{run_id}?tab=graph",
                "run page, timeline": f"/ui/runs/{run_id}?tab=timeline",
                "live-state poll": f"/ui/runs/{run_id}/state",
            }
            print(f"{'page':<22}{'median ms':>10}{'max ms':>9}{'bytes':>10}")
            for name, path in pages.items():
                times, size = [], 0
                for _ in range(options.repeat):
                    t0 = time.perf_counter()
                    response = http.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                    size = len(response.content)
                print(f"{name:<22}{statistics.median(times):>10.1f}{max(times):>9.1f}{size:>10}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
