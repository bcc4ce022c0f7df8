"""Artifact store throughput (issue 20): content-addressed put and verified get of 1 KB and
100 MB blobs on local files and on S3 (a ``moto_server`` on loopback), side by side.

    python bench/bench_storage.py [--small 500] [--big-mb 100] [--repeats 3] [--json]

Each figure is measured ``--repeats`` times and printed as min / median with the 1-minute load
average. moto keeps objects in memory in one Python process, so the S3 figures are those of the
S3 protocol path (signing, HTTP, multipart, s3fs) on this machine, not of a real S3 region.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure(cas, small: int, big: bytes) -> dict[str, float]:
    blobs = [secrets.token_bytes(1024) for _ in range(small)]
    t0 = time.perf_counter()
    digests = [cas.put(b) for b in blobs]
    put_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in digests:
        cas.get(d)
    get_small = time.perf_counter() - t0
    big = secrets.token_bytes(16) + big  # a new blob each repeat (a found blob is not rewritten)
    t0 = time.perf_counter()
    digest = cas.put(big)
    put_big = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert cas.get(digest) == big
    get_big = time.perf_counter() - t0
    mb = len(big) / 1e6
    return {
        "put_1kb_per_s": small / put_small,
        "get_1kb_per_s": small / get_small,
        "put_big_mb_per_s": mb / put_big,
        "get_big_mb_per_s": mb / get_big,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500, help="1 KB blobs per repeat")
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from mlstudio.store.artifacts.cas import ContentStore
    from mlstudio.store.artifacts.objectstore import FsspecObjectStore, LocalObjectStore
    from mlstudio.testing.s3 import start_s3_server

    big = os.urandom(args.big_mb * 1024 * 1024)
    out: dict = {"cores": os.cpu_count(), "loads": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = start_s3_server(Path(tmp) / "s3")
        try:
            os.environ.update(server.env())
            stores = {
                "local": ContentStore(LocalObjectStore(Path(tmp) / "artifacts")),
                "s3 (moto)": ContentStore(FsspecObjectStore(f"s3://{server.new_bucket()}/b")),
            }
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in stores}
            for _ in range(args.repeats):  # alternate, so both see the same machine
                for name, cas in stores.items():
                    runs[name].append(measure(cas, args.small, big))
                    out["loads"].append(round(os.getloadavg()[0], 2))
        finally:
            server.stop()
    figures = {
        name: {
            key: {"min": min(r[key] for r in rs), "median": statistics.median(r[key] for r in rs)}
            for key in rs[0]
        }
        for name, rs in runs.items()
    }
    out["figures"] = figures
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    loads = out["loads"]
    print(
        f"artifact store throughput, {args.repeats} repeats, load {min(loads):.2f}-"
        f"{max(loads):.2f}, {out['cores']} cores (higher is better; min / median)"
    )
    labels = {
        "put_1kb_per_s": "put 1 KB blobs/s",
        "get_1kb_per_s": "get 1 KB blobs/s (verified)",
        "put_big_mb_per_s": f"put {args.big_mb} MB, MB/s",
        "get_big_mb_per_s": f"get {args.big_mb} MB, MB/s (verified)",
    }
    for key, label in labels.items():
        local, s3 = figures["local"][key], figures["s3 (moto)"][key]
        print(
            f"  {label:30} local {local['min']:9.1f} / {local['median']:9.1f}   "
            f"s3 {s3['min']:9.1f} / {s3['median']:9.1f}   local/s3 "
            f"{local['median'] / s3['median']:.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
