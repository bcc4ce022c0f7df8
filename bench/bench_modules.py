"""Benchmarks of the module registry (issue 2): prints each figure next to its budget.

    python bench/bench_modules.py [--runs 7] [--json] [--database-url URL]

Every figure is the median wall time of ``--runs`` runs of the real ``mlstudio`` executable in a
subprocess (so it includes interpreter start-up, as a user experiences it), against a temporary
``MLSTUDIO_HOME`` populated with a few modules. Pushes are timed with ``--no-tests``: the budgets
exclude the module's own tests, and everything else a push does (manifest, build, import in a
clean subprocess, environment lookup, CAS write, publish) is inside the figure. A per-phase
breakdown of the 1 MB push, measured in-process, follows the table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TASKS = '''from mlstudio import task


@task
def scale(values: list[float], factor: float = 2.0) -> list[float]:
    """Multiply every value."""
    return [v * factor for v in values]
'''


def executable() -> str:
    beside = Path(sys.executable).with_name("mlstudio")
    found = str(beside) if beside.is_file() else shutil.which("mlstudio")
    if not found:
        raise SystemExit("the mlstudio command is not installed: pip install -e .")
    return found


def write_module(
    root: Path, name: str, *, files: int = 1, total_bytes: int = 0, requirements: str = ""
) -> Path:
    """A module with ``files`` files (tasks.py + padding modules) of about ``total_bytes``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "benchmark module {name}"\n'
        f"requirements = [{requirements}]\n"
    )
    (root / "tasks.py").write_text(TASKS)
    extra = files - 2  # module.toml and tasks.py
    if extra > 0:
        rng = random.Random(name)
        size = max(total_bytes // extra, 1)
        pkg = root / "pkg"
        pkg.mkdir(exist_ok=True)
        for i in range(extra):
            # incompressible-ish text so the archive is really ~total_bytes
            payload = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=size - 20))
            (pkg / f"part_{i:03d}.py").write_text(f'DATA = "{payload}"\n')
    return root


def folder_stats(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


class Bench:
    def __init__(self, home: Path, database_url: str | None, runs: int) -> None:
        self.home = home
        self.runs = runs
        self.exe = executable()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTUDIO_")}
        self.env.update(MLSTUDIO_HOME=str(home), MLSTUDIO_USER="bench")
        if database_url:
            self.env["MLSTUDIO_DATABASE_URL"] = database_url

    def cli(self, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
        start = time.perf_counter()
        proc = subprocess.run([self.exe, *args], env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"mlstudio {' '.join(args)} failed: {proc.stderr.strip()}")
        return elapsed, proc

    def timed(self, *args: str, before=None, check=None) -> list[float]:
        times = []
        for i in range(self.runs):
            if before:
                before(i)
            elapsed, proc = self.cli(*args)
            if check:
                check(json.loads(proc.stdout))
            times.append(elapsed)
        return times


def measure(runs: int, database_url: str | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mlstudio-bench-"))
    try:
        b = Bench(work / "home", database_url, runs)
        b.cli("init", "--json")
        b.cli("namespace", "create", "bench", "--json")
        for i in range(10):  # a populated catalog for `module list`
            b.cli(
                "module",
                "push",
                str(write_module(work / f"m{i}", f"bench/mod{i}")),
                "--no-tests",
                "--json",
            )

        figures: dict[str, Any] = {}
        figures["help"] = b.timed("--help")
        figures["list"] = b.timed("module", "list", "--json")

        big = write_module(work / "big", "bench/big", files=100, total_bytes=1_000_000)
        count, size = folder_stats(big)

        def change_big(i: int) -> None:
            (big / "tasks.py").write_text(TASKS + f"\n# run {i}\n")

        def is_new(out: dict[str, Any]) -> None:
            assert not out["unchanged"], out

        def is_unchanged(out: dict[str, Any]) -> None:
            assert out["unchanged"], out

        figures["push"] = b.timed(
            "module", "push", str(big), "--no-tests", "--json", before=change_big, check=is_new
        )
        figures["repush"] = b.timed("module", "push", str(big), "--json", check=is_unchanged)

        req = write_module(work / "req", "bench/req", requirements='"six==1.16.0"')
        warm_start = time.perf_counter()
        b.cli("module", "push", str(req), "--no-tests", "--json")  # builds (or finds) the env
        env_build = time.perf_counter() - warm_start

        def change_req(i: int) -> None:
            (req / "tasks.py").write_text("import six\n" + TASKS + f"\n# run {i}\n")

        def cached_env(out: dict[str, Any]) -> None:
            assert out["env_cached"] is True and not out["unchanged"], out

        figures["push_req"] = b.timed(
            "module", "push", str(req), "--no-tests", "--json", before=change_req, check=cached_env
        )
        phases = push_phases(work / "home", database_url, big)
        return {
            "runs": runs,
            "backend": "postgres" if database_url else "sqlite",
            "module": {"files": count, "bytes": size},
            "first_env_build_s": round(env_build, 3),
            "figures": figures,
            "phases": phases,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def push_phases(home: Path, database_url: str | None, module_dir: Path) -> dict[str, float]:
    """Where the time of one push goes, in-process (no interpreter start-up)."""
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    (module_dir / "tasks.py").write_text(TASKS + "\n# phases\n")
    marks: list[tuple[str, float]] = []
    platform = Platform.open(Settings(home=home, database_url=database_url, user="bench"))
    try:
        start = time.perf_counter()
        platform.modules.push(
            "bench",
            module_dir,
            run_tests=False,
            progress=lambda m: marks.append((m, time.perf_counter())),
        )
        end = time.perf_counter()
    finally:
        platform.close()
    out: dict[str, float] = {}
    points = [("start", start), *marks, ("end", end)]
    for (label, t0), (_, t1) in itertools.pairwise(points):
        if label != "start":
            out[label] = round(t1 - t0, 4)
    out["total"] = round(end - start, 4)
    return out


ROWS = [
    ("help", "mlstudio --help", 0.3),
    ("list", "mlstudio module list (10 modules)", 0.3),
    ("push", "push 100 files / 1 MB, --no-tests", 1.0),
    ("repush", "unchanged re-push of it", 1.0),
    ("push_req", "push with requirements, env cached, --no-tests", 3.0),
]


def report(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, label, target in ROWS:
        times = result["figures"][key]
        median = statistics.median(times)
        rows.append(
            {
                "figure": key,
                "label": label,
                "median_s": round(median, 4),
                "min_s": round(min(times), 4),
                "max_s": round(max(times), 4),
                "target_s": target,
                "within": median < target,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (median is reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--database-url", help="bench against this database (default SQLite)")
    args = parser.parse_args(argv)

    result = measure(max(args.runs, 1), args.database_url)
    rows = report(result)
    if args.json:
        print(json.dumps({**result, "rows": rows}, indent=2))
        return 0
    m = result["module"]
    print(
        f"mlstudio module benchmarks — {result['backend']}, median of {result['runs']} runs, "
        f"{os.cpu_count()} CPUs; big module: {m['files']} files, {m['bytes'] / 1e6:.2f} MB"
    )
    print(f"{'figure':<48} {'median':>8} {'min':>8} {'max':>8} {'target':>8}  ok")
    for r in rows:
        print(
            f"{r['label']:<48} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['max_s']:>7.3f}s "
            f"{'< ' + str(r['target_s']) + 's':>8}  {'yes' if r['within'] else 'NO'}"
        )
    print(
        f"(first build of the requirements environment, not budgeted: {result['first_env_build_s']:.2f}s)"
    )
    print("phases of one 1 MB push, in-process:")
    for label, seconds in result["phases"].items():
        print(f"  {label:<46} {seconds:>7.3f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
