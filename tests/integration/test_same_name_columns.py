"""A Python task's column keeps an input column's tags only when it holds that column's values,
through real runs on SQLite and on Postgres (the same-name rule is proved, not assumed).

shop/customers: id internal, email confidential+pii, amount confidential+financial, region
internal. shop/accounts: id confidential+financial (other values), owner internal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.governance.classification import Classification
from mlstudio.testing.flows import task_of

CUSTOMERS = (
    "id,email,amount,region\n1,a@x.com,10.5,north\n2,b@y.com,20.0,south\n3,c@z.com,7.25,north\n"
)
ACCOUNTS = "id,owner\n101,ann\n102,bob\n103,cy\n"
UNION = "confidential+financial+pii"

FLOW = '''
import pandas as pd
import pyarrow as pa

from mlstudio import dataset, task, workflow


@task
def launder(t: pd.DataFrame) -> pd.DataFrame:
    """The issue's case: emails under the name of the internal id column."""
    return pd.DataFrame({"id": t["email"], "amount": t["amount"]})


@task
def renamed(t: pd.DataFrame) -> pd.DataFrame:
    return t.rename(columns={"email": "contact"})


@task
def swapped(t: pd.DataFrame) -> pd.DataFrame:
    return t.rename(columns={"id": "email", "email": "id"})


@task
def shuffled(t: pd.DataFrame) -> pd.DataFrame:
    """region holds the emails, reversed, under the name of an internal column."""
    out = t.copy()
    out["region"] = list(reversed(t["email"]))
    return out


@task
def other_input(t: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """id comes from accounts.id, not from customers.id."""
    return pd.DataFrame({"id": accounts["id"], "region": t["region"]})


@task
def filtered(t: pd.DataFrame) -> pd.DataFrame:
    """Rows filtered and sorted: each column is still its input column."""
    return t[t["amount"] > 8].sort_values("amount", ascending=False)


@task
def zero_copy(t: pa.Table) -> pa.Table:
    return t.select(["id", "email"])


@task
def computed(t: pd.DataFrame) -> pd.DataFrame:
    """Same name, new values: amount doubled."""
    return pd.DataFrame({"id": t["id"], "amount": t["amount"] * 2})


@workflow
def run_launder():
    return launder(dataset("shop/customers"))


@workflow
def run_renamed():
    return renamed(dataset("shop/customers"))


@workflow
def run_swapped():
    return swapped(dataset("shop/customers"))


@workflow
def run_shuffled():
    return shuffled(dataset("shop/customers"))


@workflow
def run_other_input():
    return other_input(dataset("shop/customers"), dataset("shop/accounts"))


@workflow
def run_filtered():
    return filtered(dataset("shop/customers"))


@workflow
def run_zero_copy():
    return zero_copy(dataset("shop/customers"))


@workflow
def run_computed():
    return computed(dataset("shop/customers"))
'''


@pytest.fixture
def flow(studio, tmp_path: Path) -> Path:
    studio.ok("namespace", "create", "shop")
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    studio.ok(
        "data", "import", customers, "--name", "shop/customers",
        "--classify", "id=internal",
        "--classify", "email=confidential+pii",
        "--classify", "amount=confidential+financial",
        "--classify", "region=internal",
    )  # fmt: skip
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(ACCOUNTS)
    studio.ok(
        "data", "import", accounts, "--name", "shop/accounts",
        "--classify", "id=confidential+financial",
        "--classify", "owner=internal",
    )  # fmt: skip
    studio.ok("domain", "set", "production", "--no-promoted-only")
    path = tmp_path / "wf" / "flow.py"
    path.parent.mkdir()
    path.write_text(FLOW)
    return path


def tags(studio, flow: Path, name: str) -> dict[str, tuple[str, str]]:
    result = studio.cli("run", f"{flow}:run_{name}", "--domain", "production", "--json")
    data = result.json
    assert data["state"] == "succeeded", task_of(data, name).get("error")
    return {
        c["name"]: (
            Classification.from_dict(c["classification"]).spec(),
            c["provenance"]["rule"],
        )
        for c in data["output"]["v"]["schema"]
    }


def test_a_column_named_like_an_input_column_but_holding_emails_is_pii(studio, flow):
    out = tags(studio, flow, "launder")
    assert out["id"] == (UNION, "union")  # raw emails: confidential and pii
    assert out["amount"] == ("confidential+financial", "passthrough")


def test_renamed_and_swapped_columns_do_not_keep_the_name_tags(studio, flow):
    out = tags(studio, flow, "renamed")
    assert out["contact"] == (UNION, "union")
    assert out["id"] == ("internal", "passthrough")
    out = tags(studio, flow, "swapped")
    assert out["id"] == (UNION, "union")  # holds the emails
    assert out["email"] == (UNION, "union")  # holds the ids: not the email column either
    out = tags(studio, flow, "shuffled")
    assert out["region"] == (UNION, "union")
    assert out["email"] == ("confidential+pii", "passthrough")


def test_a_same_named_column_of_another_input_takes_that_inputs_tags(studio, flow):
    out = tags(studio, flow, "other_input")
    # id holds accounts.id (101..103), not customers.id: its tags, not the name's first match
    assert out["id"] == ("confidential+financial", "passthrough")
    assert out["region"] == ("internal", "passthrough")


def test_genuine_pass_through_keeps_its_tags(studio, flow):
    out = tags(studio, flow, "filtered")
    assert out == {
        "id": ("internal", "passthrough"),
        "email": ("confidential+pii", "passthrough"),
        "amount": ("confidential+financial", "passthrough"),
        "region": ("internal", "passthrough"),
    }
    assert tags(studio, flow, "zero_copy") == {
        "id": ("internal", "passthrough"),
        "email": ("confidential+pii", "passthrough"),
    }
    out = tags(studio, flow, "computed")
    assert out["id"] == ("internal", "passthrough")
    assert out["amount"] == (UNION, "union")
