"""Classification values: levels, the join lattice, text and dict forms."""

from __future__ import annotations

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.governance.classification import (
    UNCLASSIFIED,
    Classification,
    Level,
    parse_column_spec,
)

C = Classification.parse


# --- Level ---------------------------------------------------------------------------------------
def test_levels_are_totally_ordered() -> None:
    assert Level.PUBLIC < Level.INTERNAL < Level.CONFIDENTIAL < Level.RESTRICTED
    assert max(Level.INTERNAL, Level.CONFIDENTIAL) is Level.CONFIDENTIAL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("public", Level.PUBLIC),
        ("INTERNAL", Level.INTERNAL),
        (" Confidential ", Level.CONFIDENTIAL),
        ("restricted", Level.RESTRICTED),
    ],
)
def test_level_parse_is_case_insensitive(text: str, expected: Level) -> None:
    assert Level.parse(text) is expected
    assert str(expected) == expected.name.lower()


@pytest.mark.parametrize("text", ["secret", "", "unclassified", "pub"])
def test_level_parse_error_names_valid_levels(text: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Level.parse(text)
    assert repr(text) in info.value.message
    assert "public, internal, confidential, restricted" in (info.value.hint or "")


# --- construction and views ----------------------------------------------------------------------
def test_unclassified_is_enforced_as_restricted() -> None:
    assert UNCLASSIFIED.unclassified
    assert UNCLASSIFIED.effective_level is Level.RESTRICTED
    public = Classification(Level.PUBLIC)
    assert not public.unclassified
    assert public.effective_level is Level.PUBLIC


def test_constructor_coerces_sets_and_rejects_bad_labels() -> None:
    c = Classification(Level.INTERNAL, {"pii"}, {"pii"})  # type: ignore[arg-type]
    assert isinstance(c.labels, frozenset)
    assert isinstance(c.pseudonymous, frozenset)
    assert Classification("confidential").level is Level.CONFIDENTIAL  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="invalid classification label 'PII'"):
        Classification(Level.INTERNAL, frozenset({"PII"}))
    with pytest.raises(InvalidInputError, match="pseudonymous labels ugc"):
        Classification(Level.INTERNAL, frozenset({"pii"}), frozenset({"ugc"}))


# --- join ----------------------------------------------------------------------------------------
def test_join_takes_max_level_and_union_of_labels() -> None:
    joined = C("internal+ugc").join(C("confidential+pii"))
    assert joined.level is Level.CONFIDENTIAL
    assert joined.labels == {"pii", "ugc"}
    assert joined.pseudonymous == frozenset()


def test_join_is_commutative_and_idempotent() -> None:
    a, b = C("internal+pii(pseudonymous)"), C("restricted+financial")
    assert a.join(b) == b.join(a)
    assert a.join(a) == a


def test_unclassified_dominates_join() -> None:
    joined = C("restricted+pii").join(UNCLASSIFIED)
    assert joined.level is None
    assert joined.unclassified
    assert joined.effective_level is Level.RESTRICTED
    assert joined.labels == {"pii"}  # labels of classified operands survive
    assert C("public").join(UNCLASSIFIED).unclassified


def test_label_stays_pseudonymous_only_if_pseudonymous_everywhere() -> None:
    hashed = C("confidential+pii(pseudonymous)")
    direct = C("internal+pii")
    assert hashed.join(direct).pseudonymous == frozenset()
    assert hashed.join(direct).labels == {"pii"}
    # An operand without the label does not make it identifying.
    assert hashed.join(C("internal+ugc")).pseudonymous == {"pii"}
    assert hashed.join(C("public+pii(pseudonymous)")).pseudonymous == {"pii"}


def test_join_all() -> None:
    empty = Classification.join_all([])
    assert empty == Classification(Level.PUBLIC)
    assert empty.labels == frozenset()
    many = Classification.join_all(
        [C("public"), C("internal+ugc"), C("confidential+pii(pseudonymous)")]
    )
    assert many.spec() == "confidential+pii(pseudonymous)+ugc"
    assert Classification.join_all(iter([C("public"), UNCLASSIFIED])).unclassified


# --- raise_to / pseudonymize ---------------------------------------------------------------------
def test_raise_to_never_lowers() -> None:
    c = C("confidential+pii(pseudonymous)")
    assert c.raise_to(Level.INTERNAL).level is Level.CONFIDENTIAL
    assert c.raise_to("restricted").level is Level.RESTRICTED
    raised = c.raise_to(labels=["financial"])
    assert raised.labels == {"pii", "financial"}
    assert raised.pseudonymous == {"pii"}
    # Adding a label that was pseudonymous makes it identifying (more restrictive).
    assert c.raise_to(labels=["pii"]).pseudonymous == frozenset()
    # An unclassified column stays unclassified (enforced restricted) when raised.
    assert UNCLASSIFIED.raise_to(Level.CONFIDENTIAL, ["pii"]).level is None
    with pytest.raises(InvalidInputError):
        c.raise_to(labels=["Bad Label"])


def test_pseudonymize_keeps_level_and_labels() -> None:
    c = C("confidential+pii+financial").pseudonymize()
    assert c.level is Level.CONFIDENTIAL
    assert c.labels == {"pii", "financial"}
    assert c.pseudonymous == {"pii", "financial"}
    assert UNCLASSIFIED.pseudonymize().unclassified


def test_is_at_least() -> None:
    assert C("restricted+pii").is_at_least(C("confidential+pii"))
    assert not C("confidential").is_at_least(C("confidential+pii"))
    assert not C("confidential+pii(pseudonymous)").is_at_least(C("confidential+pii"))
    assert C("restricted").is_at_least(UNCLASSIFIED)  # classifying as restricted is no lowering
    assert not C("confidential").is_at_least(UNCLASSIFIED)


# --- text form -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("confidential+pii+financial", "confidential+financial+pii"),
        ("PUBLIC", "public"),
        ("internal + PII", "internal+pii"),
        ("unclassified", "unclassified"),
        ("unclassified+pii", "unclassified+pii"),
        ("confidential+pii(pseudonymous)", "confidential+pii(pseudonymous)"),
        ("confidential+pii(pseudonymous)+pii", "confidential+pii"),
    ],
)
def test_parse_and_spec_round_trip(text: str, spec: str) -> None:
    parsed = C(text)
    assert parsed.spec() == spec
    assert str(parsed) == spec
    assert C(spec) == parsed


def test_parse_values() -> None:
    c = C("confidential+pii+financial")
    assert c.level is Level.CONFIDENTIAL
    assert c.labels == {"pii", "financial"}
    assert C("unclassified") == UNCLASSIFIED


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("secret+pii", "unknown level 'secret'"),
        ("", "empty classification"),
        ("confidential+", "bad label ''"),
        ("confidential+p-i-i", "bad label 'p-i-i'"),
        ("confidential+1pii", "bad label '1pii'"),
        ("pii", "unknown level 'pii'"),
    ],
)
def test_parse_errors_name_the_problem_and_the_fix(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        C(text)
    assert fragment in info.value.message
    assert info.value.hint


# --- dict form -----------------------------------------------------------------------------------
def test_dict_round_trip() -> None:
    c = C("restricted+pii(pseudonymous)+financial")
    data = c.to_dict()
    assert data == {
        "level": "restricted",
        "labels": ["financial", "pii"],
        "pseudonymous": ["pii"],
    }
    assert Classification.from_dict(data) == c
    assert UNCLASSIFIED.to_dict()["level"] is None
    assert Classification.from_dict(UNCLASSIFIED.to_dict()) == UNCLASSIFIED
    assert Classification.from_dict({"level": "public"}) == Classification(Level.PUBLIC)


@pytest.mark.parametrize(
    "data",
    [
        {"level": "top"},
        {"level": "public", "labels": "pii"},
        {"level": "public", "labels": ["PII"]},
        {"level": "public", "labels": ["pii"], "pseudonymous": ["ugc"]},
        {"level": "public", "colour": "red"},
        ["public"],
    ],
)
def test_from_dict_rejects_bad_input(data: object) -> None:
    with pytest.raises(InvalidInputError):
        Classification.from_dict(data)  # type: ignore[arg-type]


# --- column spec ---------------------------------------------------------------------------------
def test_parse_column_spec() -> None:
    column, c = parse_column_spec("email=confidential+pii")
    assert column == "email"
    assert c == Classification(Level.CONFIDENTIAL, frozenset({"pii"}))
    assert parse_column_spec(" amount = Internal+financial ")[0] == "amount"


@pytest.mark.parametrize("text", ["email", "=confidential", "email=secret", "email=confidential+"])
def test_parse_column_spec_errors_name_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_column_spec(text)
    assert repr(text) in info.value.message
    assert "COL=LEVEL[+LABEL...]" in (info.value.hint or "")
    assert "\n" not in info.value.one_line()
