"""Propagation through Python tasks and model training (SQL cases are in test_sql_lineage)."""

from __future__ import annotations

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.governance.classification import UNCLASSIFIED, Classification, Level
from mlstudio.governance.propagation import (
    ColumnProvenance,
    PropagatedColumn,
    model_classification,
    propagate_python,
    propagate_sql,
)

C = Classification.parse

CUSTOMERS = {
    "id": C("internal"),
    "email": C("confidential+pii"),
    "segment": C("public"),
}
ORDERS = {
    "id": C("restricted"),
    "amount": C("confidential+financial"),
}


def by_name(columns: list[PropagatedColumn]) -> dict[str, PropagatedColumn]:
    return {col.name: col for col in columns}


def test_python_task_adding_a_column_gets_union_of_all_inputs() -> None:
    out = by_name(propagate_python({"customers": CUSTOMERS}, ["id", "segment", "score"]))
    assert out["score"].classification == C("confidential+pii")
    assert out["score"].provenance == ColumnProvenance(
        "union", ("customers.id", "customers.email", "customers.segment")
    )


def test_python_passthrough_keeps_the_column_tags() -> None:
    out = by_name(propagate_python({"customers": CUSTOMERS}, ["id", "segment", "email"]))
    assert out["segment"].classification == C("public")
    assert out["segment"].provenance == ColumnProvenance("passthrough", ("customers.segment",))
    assert out["id"].classification == C("internal")
    assert out["email"].classification == C("confidential+pii")


def test_python_passthrough_of_a_name_in_several_inputs_joins_them() -> None:
    inputs = {"customers": CUSTOMERS, "orders": ORDERS}
    out = by_name(propagate_python(inputs, ["id", "features"]))
    assert out["id"].classification == C("restricted")
    assert out["id"].provenance == ColumnProvenance("passthrough", ("customers.id", "orders.id"))
    assert out["features"].classification == C("restricted+pii+financial")


def test_python_output_order_is_preserved() -> None:
    names = ["score", "id", "email", "x"]
    assert [c.name for c in propagate_python({"customers": CUSTOMERS}, names)] == names


def test_declared_lineage_overrides_union_and_passthrough() -> None:
    inputs = {"customers": CUSTOMERS, "orders": ORDERS}
    out = by_name(
        propagate_python(
            inputs,
            ["id", "segment_code", "spend"],
            declared={"segment_code": ["customers.segment"], "id": ["customers.id"]},
        )
    )
    assert out["segment_code"].classification == C("public")
    assert out["segment_code"].provenance == ColumnProvenance("declared", ("customers.segment",))
    # Declared wins over the passthrough join of customers.id and orders.id.
    assert out["id"].classification == C("internal")
    assert out["id"].provenance.rule == "declared"
    assert out["spend"].provenance.rule == "union"
    assert out["spend"].classification == C("restricted+pii+financial")


def test_declared_sources_may_use_table_names_with_dots_and_slashes() -> None:
    inputs = {"churn/customers.v2": {"a.b": C("internal+ugc")}}
    (col,) = propagate_python(inputs, ["x"], declared={"x": ["churn/customers.v2.a.b"]})
    assert col.classification == C("internal+ugc")


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        ({"score": ["customers.nope"]}, "unknown source 'customers.nope'"),
        ({"score": ["nowhere.id"]}, "unknown source 'nowhere.id'"),
        ({"score": ["id"]}, "unknown source 'id'"),
        ({"missing": ["customers.id"]}, "does not produce"),
        ({"score": []}, "names no source"),
    ],
)
def test_bad_declared_lineage_is_rejected(declared: dict[str, list[str]], fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        propagate_python({"customers": CUSTOMERS}, ["score"], declared=declared)
    assert fragment in info.value.message
    assert info.value.hint


def test_unclassified_source_makes_derived_columns_unclassified() -> None:
    inputs = {"customers": {**CUSTOMERS, "notes": UNCLASSIFIED}}
    out = by_name(propagate_python(inputs, ["id", "score"]))
    assert out["id"].classification == C("internal")  # passthrough is unaffected
    assert out["score"].classification.unclassified
    assert out["score"].classification.effective_level is Level.RESTRICTED
    assert out["score"].classification.labels == {"pii"}


def test_unclassified_source_reaching_a_model_makes_it_restricted() -> None:
    features = {"age": C("internal"), "note_len": UNCLASSIFIED}
    labels = {"churned": C("confidential")}
    model = model_classification({"features": features, "labels": labels})
    assert model.unclassified
    assert model.effective_level is Level.RESTRICTED


def test_model_inherits_union_of_training_data() -> None:
    hashed = {"email_key": C("confidential+pii(pseudonymous)"), "age": C("internal")}
    model = model_classification({"train": hashed, "extra": {"amount": C("internal+financial")}})
    assert model == C("confidential+financial+pii(pseudonymous)")
    assert model_classification({}) == C("public")


def test_python_task_with_no_inputs_is_public() -> None:
    (col,) = propagate_python({}, ["generated"])
    assert col.classification == C("public")
    assert col.provenance == ColumnProvenance("union", ())


def test_sql_and_python_agree_on_passthrough() -> None:
    inputs = {"customers": CUSTOMERS}
    sql_cols = propagate_sql("SELECT id, email FROM customers", inputs)
    py_cols = propagate_python(inputs, ["id", "email"])
    assert [c.classification for c in sql_cols] == [c.classification for c in py_cols]


def test_inputs_must_be_mappings() -> None:
    with pytest.raises(InvalidInputError):
        propagate_python({"customers": ["id"]}, ["id"])  # type: ignore[dict-item]
