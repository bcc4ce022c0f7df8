"""Model registry benchmark (issue 13): ``mlstudio model show NAME@champion`` from the CLI.

    python bench/bench_registry.py [--versions 200] [--repeat 15] [--backend sqlite|postgres]

Creates a throwaway home (SQLite, or a fresh Postgres database), a model with ``--versions``
versions (registered through the service, as the MLflow API does), approvals and 50 alias
moves, then times the real CLI process, start-up included, ``--repeat`` times. Prints the
min/median/p95 wall time and the load average; the target is < 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()

    from mlstudio.platform import Platform
    from mlstudio.settings import Settings
    from mlstudio.testing.databases import database_url

    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-reg-")))
        url = stack.enter_context(database_url(args.backend, home))
        platform = Platform.open(Settings(home=home, database_url=url, user="alice"))
        platform.identity.add_user("alice", "bob", "steward")
        registry = platform.registry
        registry.create_model("alice", "bench-model")
        for n in range(1, args.versions + 1):
            registry.create_version("alice", "bench-model", f"s3://bench/m{n}")
        for n in range(1, 51):
            version = 1 + (n * 7) % args.versions
            registry.decide("bob", "bench-model", version, "approved", "bench")
            registry.set_alias("alice", "bench-model", "champion", version)
        platform.close()

        env = {
            **os.environ,
            "MLSTUDIO_HOME": str(home),
            "MLSTUDIO_DATABASE_URL": url,
            "MLSTUDIO_USER": "alice",
        }
        env.pop("MLSTUDIO_URL", None)
        command = [
            str(Path(sys.executable).with_name("mlstudio")),
            "model",
            "show",
            "bench-model@champion",
            "--json",
        ]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if done.returncode != 0 or '"bench-model"' not in done.stdout:
                raise SystemExit(
                    f"model show failed ({done.returncode}): {done.stderr}{done.stdout[:300]}"
                )
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        load = os.getloadavg()
        print(
            f"model show NAME@champion ({args.backend}, {args.versions} versions, 50 alias moves, "
            f"{args.repeat} CLI runs): min {times[0]:.3f} s  median {statistics.median(times):.3f} s  "
            f"p95 {p95:.3f} s  (target < 0.3 s)"
        )
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
