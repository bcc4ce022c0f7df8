"""CLI start-up: how long read commands take, command to exit, beside ``python -c pass``.

    python bench/bench_cli.py [--runs 7] [--json]

Every figure is run ``--runs`` times on a fresh home with a few modules, runs and datasets;
the bench prints min and median wall time, the machine's load average and core count, and
each command's time over the bare interpreter's (``python -c pass``) in the same invocation.
Each read command is timed twice: served by the warm process (the default, see
``mlstudio.cli.launch``; the bench starts its own in a private directory and stops it after)
and in-process (``MLSTUDIO_CLI_WARM=0``, which is also what the first read command after an
install costs). Target (issue 11): every read command under 0.3 s wall on an idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
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
}
READS = {
    "module list": ["mlstudio", "module", "list", "--json"],
    "runs list": ["mlstudio", "runs", "list", "--json"],
    "data list": ["mlstudio", "data", "list", "--json"],
    "runs show": ["mlstudio", "runs", "show", "{run}", "--json"],
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


def _seed(env: dict[str, str], root: Path) -> str:
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
    listed = subprocess.run(
        [exe, "runs", "list", "--json"], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(listed.stdout)[0]["id"]


def _start_warm(env: dict[str, str], warm_dir: Path) -> None:
    """Start the bench's own warm process and wait (with a deadline) until it listens."""
    subprocess.run(
        [_mlstudio(), "module", "list", "--json"], env=env, check=True, capture_output=True
    )
    deadline = time.monotonic() + 60
    while not list(warm_dir.glob("warm-*.sock")):
        if time.monotonic() > deadline:
            raise SystemExit("the warm process did not start; see " + str(warm_dir / "warm.log"))
        time.sleep(0.05)


def _stop_warm(warm_dir: Path) -> None:
    import signal

    for lock in warm_dir.glob("warm-*.sock.lock"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(lock.read_text().split()[0]), signal.SIGTERM)


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
        warm_dir = root / "warm"
        warm_dir.mkdir(mode=0o700)
        cold = {**env, "MLSTUDIO_CLI_WARM": "0"}
        run_id = _seed(cold, root)
        warm = {**env, "MLSTUDIO_CLI_WARM_DIR": str(warm_dir)}
        load = os.getloadavg()
        figures = {name: _time(argv, cold, args.runs) for name, argv in COMMANDS.items()}
        try:
            _start_warm(warm, warm_dir)
            for name, argv in READS.items():
                argv = [a.replace("{run}", run_id) for a in argv]
                figures[f"mlstudio {name}"] = _time(argv, warm, args.runs)
                figures[f"mlstudio {name} (in-process)"] = _time(argv, cold, args.runs)
        finally:
            _stop_warm(warm_dir)
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
    print(f"{'command':<38}{'min':>9}{'median':>9}{'- python':>10}")
    for row in rows:
        print(
            f"{row['command']:<38}{row['min_s']:>8.3f}s{row['median_s']:>8.3f}s"
            f"{row['over_python_s']:>9.3f}s"
        )
    print("target: every read command < 0.3 s wall on an idle machine (the warm rows are the")
    print("default; the in-process rows are MLSTUDIO_CLI_WARM=0 and a fresh install's first call)")


if __name__ == "__main__":
    main()
