"""Outside a run, a workflow called as plain Python hands tables to its tasks as the types they
annotate, like ``mlstudio run`` does (issue 10, point 12)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from mlstudio import Dataset, dataset, task, workflow


@task
def total(customers: pd.DataFrame) -> float:
    return float(customers["amount"].sum())


@task
def count(customers: pa.Table, minimum: int = 0) -> int:
    return customers.num_rows if customers.num_rows >= minimum else 0


@task
def as_given(customers: Dataset) -> str:
    return type(customers).__name__


@workflow
def summary(customers: Dataset) -> dict:
    return {
        "total": total(customers),
        "rows": count(customers, minimum=1),
        "given": as_given(customers=customers),
        "mapped": count.map(customers=[customers, customers]),
    }


def test_a_workflow_called_as_plain_python_converts_datasets_like_a_run(studio, tmp_path):
    csv = tmp_path / "customers.csv"
    csv.write_text("id,amount\n1,2.5\n2,4.0\n")
    studio.ok("namespace", "create", "shop")
    studio.ok(
        "data",
        "import",
        str(csv),
        "--name",
        "shop/customers",
        "--domain",
        "experimentation",
        "--classify",
        "id=internal",
        "--classify",
        "amount=internal",
    )
    for key, value in studio.env().items():
        studio.monkeypatch.setenv(key, value)
    result = summary(dataset("shop/customers"))  # positional, keyword and mapped calls
    assert result == {"total": 6.5, "rows": 2, "given": "Dataset", "mapped": [2, 2]}
    # plain values are passed through untouched
    assert total(pd.DataFrame({"amount": [1.0, 2.0]})) == 3.0
