"""CLI start-up: how long read commands take, command to exit, beside ``python -c pass``.

    python bench/bench_cli.py [--runs 7] [--json]

Every figure is run ``--runs`` times on a fresh home with a few modules, runs and datasets;
the bench prints min and median wall time, the machine's load average and core count, and
each command's time over the bare interpreter's (``python -c pass``) in the same invocation.
Target (issue 11): every read command under 0.3 s wall on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "mlstudio --help": ["mlstudio", "--help"],
    "mlstudio module list": ["mlstudio", "module", "list", "--json"],
    "mlstudio runs list": ["mlstudio", "runs", "list", "--json"],
    "mlstudio data list": ["mlstudio", "data", "list", "--json"],
}

FLOW = textwrap.dedent(
    """
    from mlstudio import task, workflow

    @task
    def one(x: int = 1) -> int:
        return x

    @workflow
    def wf(x: int = 1) -> int:
        return one(x)
    """
)


def _mlstudio() -> str:
    found = Path(sys.executable).with_name("mlstudio")
    return str(found) if found.exists() else (shutil.which("mlstudio") or "mlstudio")


def _seed(env: dict[str, str], root: Path) -> None:
    """A home with 5 modules, 5 runs and a dataset, so the reads have something to read."""
    exe = _mlstudio()

    def cli(*args: str) -> None:
        subprocess.run([exe, *args, "--json"], env=env, check=True, capture_output=True)

    cli("namespace", "create", "bench")
    for i in range(5):
        folder = root / f"m{i}"
        folder.mkdir()
        (folder / "module.toml").write_text(f'[module]\nname = "bench/m{i}"\n')
        (folder / "tasks.py").write_text(FLOW)
        cli("module", "push", str(folder), "--no-tests")
    for i in range(5):
        cli("run", "bench/m0/wf:latestAlpha", "-p", f"x={i}")
    csv = root / "d.csv"
    csv.write_text("a,b\n1,2\n")
    cli("data", "import", str(csv), "--name", "bench/d", "--classify", "a=internal")


def _time(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    argv = [_mlstudio(), *argv[1:]] if argv[0] == "mlstudio" else argv
    subprocess.run(argv, env=env, check=True, capture_output=True)  # warm the OS caches
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlstudio-bench-cli-") as tmp:
        root = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MLSTUDIO_")},
            "MLSTUDIO_HOME": str(root / "home"),
            "MLSTUDIO_USER": "bench",
        }
        _seed(env, root)
        load = os.getloadavg()
        figures = {name: _time(argv, env, args.runs) for name, argv in COMMANDS.items()}
        load_after = os.getloadavg()
    base = statistics.median(figures["python -c pass"])
    rows = [
        {
            "command": name,
            "min_s": round(min(times), 4),
            "median_s": round(statistics.median(times), 4),
            "over_python_s": round(statistics.median(times) - base, 4),
        }
        for name, times in figures.items()
    ]
    info = {
        "cores": os.cpu_count(),
        "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in load_after],
        "runs": args.runs,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(
        f"cores {info['cores']}  load average {info['load_before']} (before) "
        f"{info['load_after']} (after)  runs {args.runs}"
    )
    print(f"{'command':<24}{'min':>9}{'median':>9}{'- python':>10}")
    for row in rows:
        print(
            f"{row['command']:<24}{row['min_s']:>8.3f}s{row['median_s']:>8.3f}s"
            f"{row['over_python_s']:>9.3f}s"
        )
    print("target: every read command < 0.3 s wall on an idle machine")


if __name__ == "__main__":
    main()
