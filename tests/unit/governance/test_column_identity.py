"""The same-name proof: an output column is an input column only when its values say so."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mlstudio.data import io
from mlstudio.governance.classification import Classification
from mlstudio.governance.column_identity import fingerprints, proven_sources
from mlstudio.governance.propagation import propagate_python

pd = pytest.importorskip("pandas")

T = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], type=pa.int32()),
        "email": ["a@x", "b@x", "c@x", "d@x"],
        "amount": [1.5, None, 3.0, 4.0],
        "flag": [True, False, True, False],
        "hiv": [False, True, True, False],
    }
)
TAGS = {
    "id": Classification.parse("internal"),
    "email": Classification.parse("confidential+pii"),
    "amount": Classification.parse("confidential+financial"),
    "flag": Classification.parse("public"),
    "hiv": Classification.parse("restricted+health"),
}
INPUTS = {"t": TAGS}


def prove(output: pa.Table) -> dict[str, list[tuple[str, str]]]:
    return io.prove_same_name(output, INPUTS, {"t": T})


def from_pandas(frame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_a_pandas_round_trip_of_unchanged_columns_is_proven():
    proven = prove(from_pandas(T.to_pandas()))
    assert proven["id"] == [("t", "id")]  # int32 -> int64 through pandas: same values
    assert proven["email"] == [("t", "email")]
    assert proven["amount"] == [("t", "amount")]  # with a NULL


def test_values_of_another_column_under_the_name_are_not_proven():
    frame = T.to_pandas()
    assert prove(from_pandas(pd.DataFrame({"id": frame["email"]}))) == {}
    swapped = from_pandas(frame.rename(columns={"id": "email", "email": "id"}))
    assert "id" not in prove(swapped) and "email" not in prove(swapped)
    computed = from_pandas(pd.DataFrame({"amount": frame["amount"] * 2}))
    assert prove(computed) == {}


def test_filtered_and_reordered_rows_are_a_sub_multiset():
    frame = T.to_pandas()
    subset = from_pandas(frame[frame["id"] > 2].sort_values("id", ascending=False))
    proven = prove(subset)
    assert proven["id"] == [("t", "id")] and proven["email"] == [("t", "email")]
    # a value repeated more often than in the input is not a subset
    repeated = from_pandas(pd.DataFrame({"email": ["a@x", "a@x"]}))
    assert prove(repeated) == {}


def test_values_that_could_come_from_several_columns_take_all_their_tags():
    """flag holds hiv's values: both are booleans with the same counts, so the values cannot
    tell them apart; the column takes both columns' tags, never only the public one."""
    relabelled = pa.table({"flag": T.column("hiv")})
    proven = prove(relabelled)
    assert set(proven["flag"]) == {("t", "flag"), ("t", "hiv")}
    (column,) = propagate_python(INPUTS, ["flag"], proven=proven)
    assert column.classification.spec() == "restricted+health"
    assert column.provenance.rule == "passthrough"


def test_zero_copy_columns_share_buffers():
    selected = T.select(["id", "email"])
    assert fingerprints(selected)["id"].buffers == fingerprints(T)["id"].buffers
    assert prove(selected) == {"id": [("t", "id")], "email": [("t", "email")]}


def test_a_same_named_column_of_another_input_is_that_inputs():
    other = pa.table({"id": pa.array([101, 102], type=pa.int64())})
    output = pa.table({"id": pa.array([102, 101], type=pa.int64())})
    same_name = {"id": [("t", "id"), ("o", "id")]}
    assert proven_sources(output, {"t": T, "o": other}, same_name) == {"id": [("o", "id")]}


def test_propagation_uses_the_proof_not_the_name():
    frame = T.to_pandas()
    output = from_pandas(pd.DataFrame({"id": frame["email"], "email": frame["email"]}))
    proven = prove(output)
    columns = {c.name: c for c in propagate_python(INPUTS, output.column_names, proven=proven)}
    assert columns["id"].provenance.rule == "union"
    assert "pii" in columns["id"].classification.labels
    assert columns["email"].provenance.rule == "passthrough"
    assert columns["email"].classification.spec() == "confidential+pii"
