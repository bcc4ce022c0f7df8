"""Same-name proof benchmark (issue 9 point 2): the cost of proving that a Python task's output
columns are copies of its input columns, on a 1M-row table.

    python bench/bench_same_name.py [--rows 1000000] [--repeat 3] [--json]

The input has five columns (int64 id, string email, float64 amount, string region, timestamp
ts). Scenarios, each the time of ``io.prove_same_name`` (fingerprint every input column once
and every same-named output column once, then compare):

* ``pandas_round_trip``: the output is the input through pandas (no shared buffers: every
  column is hashed and compared row by row).
* ``filtered``: rows filtered and sorted through pandas (the sub-multiset check).
* ``zero_copy``: ``pa.Table.select`` of the input (shared buffers).
* ``laundered``: ``id`` holds the emails (proof fails, the column gets the union).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pyarrow as pa

from mlstudio.data import io
from mlstudio.governance.classification import Classification


def make_input(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    ids = np.arange(rows, dtype=np.int64)
    return pa.table(
        {
            "id": ids,
            "email": pa.array([f"user{i}@example.com" for i in ids]),
            "amount": rng.random(rows) * 100,
            "region": pa.array(rng.choice(["north", "south", "east", "west"], rows)),
            "ts": pa.array(ids * 1_000_000, type=pa.timestamp("us")),
        }
    )


def scenarios(table: pa.Table) -> dict[str, pa.Table]:
    frame = table.to_pandas()
    filtered = frame[frame["amount"] > 50].sort_values("amount")
    laundered = frame.copy()
    laundered["id"] = frame["email"]
    return {
        "pandas_round_trip": pa.Table.from_pandas(frame, preserve_index=False),
        "filtered": pa.Table.from_pandas(filtered, preserve_index=False),
        "zero_copy": table.select(["id", "email", "amount"]),
        "laundered": pa.Table.from_pandas(laundered, preserve_index=False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    table = make_input(args.rows)
    tags = {name: Classification.parse("internal") for name in table.column_names}
    inputs = {"t": tags}
    results = {}
    for name, output in scenarios(table).items():
        times = []
        proven: dict = {}
        for _ in range(args.repeat):
            start = time.perf_counter()
            proven = io.prove_same_name(output, inputs, {"t": table})
            times.append(time.perf_counter() - start)
        results[name] = {
            "median_s": round(statistics.median(times), 3),
            "proven": sorted(proven),
            "output_rows": output.num_rows,
        }
    if args.json:
        print(json.dumps({"rows": args.rows, "scenarios": results}, indent=2))
        return
    print(f"{args.rows:,} input rows, 5 columns, median of {args.repeat}")
    for name, result in results.items():
        print(
            f"  {name:<18} {result['median_s'] * 1000:8.0f} ms  "
            f"({result['output_rows']:,} rows; proven: {', '.join(result['proven']) or '-'})"
        )


if __name__ == "__main__":
    main()
