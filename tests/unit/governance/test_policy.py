"""Domain policy evaluation: clearance, labels, cross-domain reads and persistence."""

from __future__ import annotations

import itertools

import pytest

from mlstudio.errors import InvalidInputError, PolicyViolationError
from mlstudio.governance.classification import Classification, Level
from mlstudio.governance.policy import (
    DEFAULT_DOMAINS,
    DomainPolicy,
    Violation,
    enforce,
    evaluate_read,
    evaluate_write,
)

C = Classification.parse
EXPERIMENTATION = DEFAULT_DOMAINS["experimentation"]
PRODUCTION = DEFAULT_DOMAINS["production"]
ADHOC = DEFAULT_DOMAINS["adhoc"]

LEVELS = ["public", "internal", "confidential", "restricted", "unclassified"]
LABELS = ["", "pii", "pii(pseudonymous)", "financial"]

# The expected outcome, written out per domain (not derived from the implementation).
LEVEL_ALLOWED = {
    "experimentation": {"public", "internal", "confidential"},
    "production": {"public", "internal", "confidential", "restricted", "unclassified"},
    "adhoc": {"public", "internal"},
}
LABEL_ALLOWED = {
    "experimentation": {"", "pii(pseudonymous)", "financial"},
    "production": {"", "pii", "pii(pseudonymous)", "financial"},
    "adhoc": {""},
}


def matrix() -> list[tuple[str, str, str, set[str]]]:
    cases = []
    for domain, level, label in itertools.product(DEFAULT_DOMAINS, LEVELS, LABELS):
        expected = set()
        if level not in LEVEL_ALLOWED[domain]:
            expected.add("clearance")
        if label not in LABEL_ALLOWED[domain]:
            expected.add("label")
        cases.append((domain, level, label, expected))
    return cases


@pytest.mark.parametrize(("domain", "level", "label", "expected"), matrix())
def test_read_matrix(domain: str, level: str, label: str, expected: set[str]) -> None:
    spec = f"{level}+{label}" if label else level
    violations = evaluate_read(DEFAULT_DOMAINS[domain], "churn/customers", None, {"col": C(spec)})
    assert {v.rule for v in violations} == expected
    for violation in violations:
        assert violation.dataset == "churn/customers"
        assert violation.column == "col"
        assert violation.message.startswith(f"domain {domain} may not read churn/customers.col: ")
        assert f"(policy {domain}." in violation.message
        assert "\n" not in violation.message
    # Writing is held to the same column rules.
    written = evaluate_write(DEFAULT_DOMAINS[domain], "churn/out", {"col": C(spec)}, False)
    assert {v.rule for v in written} == expected


def test_label_message_names_dataset_column_label_and_policy() -> None:
    (violation,) = evaluate_read(
        EXPERIMENTATION, "churn/customers", "production", {"email": C("confidential+pii")}
    )
    assert violation == Violation(
        "churn/customers",
        "email",
        "label",
        "domain experimentation may not read churn/customers.email: label pii is not readable "
        "there (policy experimentation.denied_labels)",
        violation.hint,
    )
    assert violation.hint


def test_clearance_message_names_levels() -> None:
    (violation,) = evaluate_read(ADHOC, "churn/customers", None, {"income": C("confidential")})
    assert violation.rule == "clearance"
    assert "level confidential is above its clearance internal" in violation.message
    assert "(policy adhoc.clearance)" in violation.message


def test_unclassified_column_is_reported_as_unclassified() -> None:
    (violation,) = evaluate_read(
        EXPERIMENTATION, "churn/customers", None, {"notes": Classification()}
    )
    assert violation.rule == "clearance"
    assert violation.column == "notes"
    assert "unclassified" in violation.message
    assert "restricted" in violation.message
    assert "classify" in violation.hint
    assert evaluate_read(PRODUCTION, "churn/customers", None, {"notes": Classification()}) == []


def test_adhoc_labels_message_points_at_readable_labels() -> None:
    (violation,) = evaluate_read(ADHOC, "d", None, {"c": C("public+ugc")})
    assert "label ugc is not readable there (policy adhoc.readable_labels)" in violation.message


def test_all_violations_of_a_column_are_reported() -> None:
    violations = evaluate_read(ADHOC, "d", None, {"c": C("restricted+pii+financial")})
    assert [(v.rule, v.column) for v in violations] == [
        ("clearance", "c"),
        ("label", "c"),
        ("label", "c"),
    ]
    assert "financial" in violations[1].message
    assert "pii" in violations[2].message


@pytest.mark.parametrize(
    ("reader", "dataset_domain", "allowed"),
    [
        ("experimentation", "experimentation", True),
        ("experimentation", "production", True),
        ("experimentation", "adhoc", False),
        ("experimentation", None, True),
        ("production", "production", True),
        ("production", "experimentation", False),
        ("production", "adhoc", False),
        ("production", None, True),
        ("adhoc", "production", True),
        ("adhoc", "experimentation", True),
        ("adhoc", None, True),
    ],
)
def test_cross_domain_reads(reader: str, dataset_domain: str | None, allowed: bool) -> None:
    violations = evaluate_read(
        DEFAULT_DOMAINS[reader], "churn/scores", dataset_domain, {"score": C("public")}
    )
    if allowed:
        assert violations == []
    else:
        (violation,) = violations
        assert violation.rule == "domain"
        assert violation.column is None
        assert violation.message == (
            f"domain {reader} may not read churn/scores: it belongs to domain {dataset_domain} "
            f"(policy {reader}.readable_domains)"
        )


def test_a_domain_always_reads_its_own_datasets() -> None:
    policy = DomainPolicy("sandbox", Level.INTERNAL, None, frozenset(), True, False)
    assert evaluate_read(policy, "d", "sandbox", {}) == []
    assert [v.rule for v in evaluate_read(policy, "d", "production", {})] == ["domain"]


@pytest.mark.parametrize(
    ("domain", "persist_named", "expected"),
    [
        ("adhoc", True, ["persist"]),
        ("adhoc", False, []),
        ("experimentation", True, []),
        ("production", True, []),
    ],
)
def test_persist(domain: str, persist_named: bool, expected: list[str]) -> None:
    violations = evaluate_write(
        DEFAULT_DOMAINS[domain], "churn/out", {"x": C("public")}, persist_named
    )
    assert [v.rule for v in violations] == expected
    if expected:
        assert violations[0].column is None
        assert violations[0].message == (
            "domain adhoc may not persist churn/out: its outputs are temporary "
            "(policy adhoc.may_persist)"
        )


def test_write_messages_say_write() -> None:
    (violation,) = evaluate_write(EXPERIMENTATION, "churn/out", {"email": C("internal+pii")}, True)
    assert violation.message.startswith("domain experimentation may not write churn/out.email:")


def test_allow_list_and_deny_list_together() -> None:
    policy = DomainPolicy(
        "partners",
        Level.CONFIDENTIAL,
        readable_labels=frozenset({"ugc", "pii"}),
        readable_domains=None,
        may_persist=True,
        promoted_only=False,
        denied_labels=frozenset({"pii"}),
    )
    assert policy.label_readable("ugc")
    assert not policy.label_readable("pii")  # deny wins over allow
    assert not policy.label_readable("financial")  # not on the allow-list
    assert not policy.label_readable("pii", pseudonymous=True)  # pseudonymous not enabled


def test_enforce_raises_policy_violation_with_all_details() -> None:
    violations = evaluate_read(ADHOC, "d", "production", {"a": C("restricted"), "b": C("public")})
    assert len(violations) == 1
    violations = evaluate_read(ADHOC, "d", None, {"a": C("restricted"), "b": C("public+pii")})
    with pytest.raises(PolicyViolationError) as info:
        enforce(violations)
    assert info.value.message == f"{violations[0].message} (and 1 more)"
    assert info.value.hint == violations[0].hint
    assert [d["column"] for d in info.value.details] == ["a", "b"]
    enforce([])  # nothing to enforce


@pytest.mark.parametrize("policy", list(DEFAULT_DOMAINS.values()), ids=list(DEFAULT_DOMAINS))
def test_policy_dict_round_trip(policy: DomainPolicy) -> None:
    assert DomainPolicy.from_dict(policy.to_dict()) == policy


def test_default_domains_shape() -> None:
    assert EXPERIMENTATION.clearance is Level.CONFIDENTIAL
    assert EXPERIMENTATION.denied_labels == {"pii"}
    assert PRODUCTION.clearance is Level.RESTRICTED and PRODUCTION.promoted_only
    assert ADHOC.clearance is Level.INTERNAL and not ADHOC.may_persist
    assert ADHOC.readable_labels == frozenset()
    with pytest.raises(TypeError):
        DEFAULT_DOMAINS["x"] = ADHOC  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"clearance": "top"}, "unknown classification level"),
        ({"name": "Bad Name"}, "invalid domain name"),
        ({"readable_labels": "pii"}, "must be a list or null"),
        ({"readable_labels": ["PII"]}, "invalid classification label"),
        ({"may_persist": "yes"}, "must be true or false"),
        ({"colour": "red"}, "unknown domain policy keys: colour"),
    ],
)
def test_from_dict_rejects_bad_input(change: dict[str, object], fragment: str) -> None:
    data = {**ADHOC.to_dict(), **change}
    with pytest.raises(InvalidInputError) as info:
        DomainPolicy.from_dict(data)
    assert fragment in info.value.message


def test_from_dict_requires_access_keys() -> None:
    with pytest.raises(InvalidInputError) as info:
        DomainPolicy.from_dict({"name": "x", "clearance": "public"})
    assert "readable_labels" in info.value.message
    assert "null" in (info.value.hint or "")
