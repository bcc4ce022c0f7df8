"""Cost of per-task cache keys (issue 10, points 2 and 3): prints each figure.

    python bench/bench_cache_keys.py [--runs 15] [--json]

- push: computing the code identity of every task of each bundled example module
  (``src/mlstudio/examples``) from its built files, as ``module push`` does after importing it
  (the import itself, in a subprocess, is not part of the figure);
- plan, working copy: the identities of a working copy at plan time, the first time (computed)
  and again (read back from the cache folder by module digest);
- environment: resolving a task's imports to the env component, cold (reading every installed
  distribution's metadata), from the snapshot remembered on disk (a new engine), and per task
  within one engine (memoised);
- the size of one task run's stored key components (JSON), which every task run writes.

Each figure is the median of ``--runs`` in-process runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "src" / "mlstudio" / "examples"


def median_ms(fn: Callable[[], Any], runs: int, setup: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def example_modules() -> list[Path]:
    return sorted(p.parent for p in EXAMPLES.glob("*/module.toml"))


def push_figures(runs: int) -> list[dict[str, Any]]:
    from mlstudio.modules.archive import build_module
    from mlstudio.modules.code_identity import identities_of_definitions
    from mlstudio.modules.introspect import introspect
    from mlstudio.modules.manifest import load_manifest

    out = []
    for folder in example_modules():
        manifest = load_manifest(folder)
        build = build_module(folder, manifest.exclude)
        definitions = introspect(folder, manifest)
        files = {f.path: f.data for f in build.files}
        result = identities_of_definitions(files, definitions)
        ms = median_ms(lambda f=files, d=definitions: identities_of_definitions(f, d), runs)
        out.append(
            {
                "module": manifest.name.full,
                "files": len(build.files),
                "tasks": len(result),
                "whole_module": sorted(n for n, i in result.items() if "whole_module" in i),
                "push_identity_ms": round(ms, 2),
            }
        )
    return out


def plan_figures(runs: int) -> dict[str, float]:
    """A working copy of the propensity example, loaded like the planner loads it."""
    from mlstudio.modules.archive import build_module
    from mlstudio.workflows.cache.task_code import task_code_for
    from mlstudio.workflows.code import CodeLoader

    source = EXAMPLES / "propensity"
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        build = build_module(source)
        blobs = {"archive": build.archive}
        loader = CodeLoader(cache, lambda digest: blobs[digest])
        ref = {
            "digest": build.digest,
            "archive": "archive",
            "entrypoints": ["modeling.py", "pipeline.py"],
        }
        loaded = loader.load(ref)
        root = Path(loaded.root)
        remembered = cache / "code-identity"

        def forget() -> None:
            shutil.rmtree(remembered, ignore_errors=True)

        def compute() -> None:
            task_code_for(ref, root, loaded.modules, loaded.definitions, cache)

        cold = median_ms(compute, runs, setup=forget)
        compute()
        warm = median_ms(compute, runs)
    return {"plan_identity_cold_ms": round(cold, 2), "plan_identity_warm_ms": round(warm, 2)}


def environment_figures(runs: int) -> dict[str, Any]:
    from mlstudio.workflows.cache import environment, keys

    imports = {"imports": ["numpy", "pandas", "sklearn"]}
    code = {"digest": "0" * 64}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        snapshots = cache / "environments"

        def new_engine() -> environment.TaskEnvironments:
            return environment.TaskEnvironments(cache, lambda code: None)

        cold = median_ms(
            lambda: new_engine()(code, imports),
            runs,
            setup=lambda: shutil.rmtree(snapshots, ignore_errors=True),
        )
        new_engine()(code, imports)
        remembered = median_ms(lambda: new_engine()(code, imports), runs)
        engine = new_engine()
        part = engine(code, imports)
        per_task = median_ms(lambda: [engine(code, imports) for _ in range(1000)], runs) / 1000
        installed = engine.installed(None)
    identity_parts = {f"modeling.py:name{i}": "function:" + "0" * 16 for i in range(8)}
    components = keys.components(
        {"digest": "0" * 64, "parts": identity_parts},
        "fit",
        {"kind": {"c": "gbm"}, "data": {"v": {"digest": "1" * 64}}},
        part,
        "",
    )
    return {
        "installed_distributions": len(installed.versions),
        "packages_in_part": len(part["packages"]),
        "env_cold_ms": round(cold, 2),
        "env_remembered_ms": round(remembered, 2),
        "env_per_task_us": round(per_task * 1000, 2),
        "components_bytes": len(json.dumps(components)),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = {
        "push": push_figures(args.runs),
        **plan_figures(args.runs),
        **environment_figures(args.runs),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print("code identity at push (per module, all its tasks):")
    for row in figures["push"]:
        fallback = (
            f", whole-module: {', '.join(row['whole_module'])}" if row["whole_module"] else ""
        )
        print(
            f"  {row['module']:<20} {row['files']:>2} files {row['tasks']:>2} tasks "
            f"{row['push_identity_ms']:>7.2f} ms{fallback}"
        )
    print(
        f"working copy at plan time: {figures['plan_identity_cold_ms']:.2f} ms computed, "
        f"{figures['plan_identity_warm_ms']:.2f} ms remembered"
    )
    print(
        f"environment ({figures['installed_distributions']} installed, "
        f"{figures['packages_in_part']} in the part for numpy+pandas+sklearn): "
        f"{figures['env_cold_ms']:.1f} ms cold, {figures['env_remembered_ms']:.2f} ms from the "
        f"remembered snapshot, {figures['env_per_task_us']:.2f} µs per task in one engine"
    )
    print(f"stored key components of one task run: {figures['components_bytes']} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
