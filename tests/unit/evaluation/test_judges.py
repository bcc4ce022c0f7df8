"""Pairwise judges in both orders: position bias shows up, human agreement and kappa."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.judges import (
    JudgeReport,
    judge_pairwise,
    labels_judge,
    win_rate_summary,
)


def longer(item, x, y):
    """A fair rule: the longer answer wins, equal lengths tie."""
    if len(x) == len(y):
        return "tie"
    return "x" if len(x) > len(y) else "y"


ITEMS = [{"id": i} for i in range(5)]
A = ["aaa", "a", "aa", "aaaa", "b"]
B = ["a", "aaa", "bb", "a", "bbbb"]


def test_a_fair_judge_is_consistent_and_tallied():
    report = judge_pairwise(ITEMS, A, B, longer)
    assert report.outcomes == ["a", "b", "tie", "a", "b"]
    assert (report.a_wins, report.b_wins, report.ties, report.inconsistent) == (2, 2, 1, 0)
    assert report.consistency == 1.0
    assert report.human_agreement is None and report.cohen_kappa is None


def test_a_position_biased_judge_shows_up_as_inconsistent():
    calls = []

    def first_wins(item, x, y):
        calls.append((x, y))
        return "x"

    report = judge_pairwise(ITEMS, A, B, first_wins)
    assert report.inconsistent == 5 and report.consistency == 0.0
    assert report.a_wins == report.b_wins == 0
    assert calls[:2] == [(A[0], B[0]), (B[0], A[0])]  # both orders, A first


def test_partly_biased_judge_counts_only_the_flipped_items():
    def biased_when_close(item, x, y):
        if abs(len(x) - len(y)) <= 1:
            return "x"  # no opinion: falls back to the first position
        return longer(item, x, y)

    report = judge_pairwise(ITEMS, A, B, biased_when_close)
    # lengths (3,1) (1,3) (2,2) (4,1) (1,4): the middle one is close
    assert report.outcomes == ["a", "b", "inconsistent", "a", "b"]
    assert report.consistency == pytest.approx(0.8)


def test_float_judges_use_tie_delta():
    def score_diff(item, x, y):
        return float(x) - float(y)

    a, b = [1.0, 1.0, 2.0], [1.05, 3.0, 1.0]
    report = judge_pairwise([{}] * 3, a, b, score_diff, tie_delta=0.1)
    assert report.outcomes == ["tie", "b", "a"]
    strict = judge_pairwise([{}] * 3, a, b, score_diff)
    assert strict.outcomes == ["b", "b", "a"]
    numpy_ints = judge_pairwise([{}] * 2, [3, 1], [1, 1], lambda i, x, y: np.int64(x - y))
    assert numpy_ints.outcomes == ["a", "tie"]


def test_human_agreement_and_kappa_match_sklearn():
    rng = np.random.default_rng(11)
    n = 60
    a = list(rng.integers(0, 5, n))
    b = list(rng.integers(0, 5, n))

    def bigger(item, x, y):
        return "tie" if x == y else ("x" if x > y else "y")

    truth = ["tie" if u == v else ("a" if u > v else "b") for u, v in zip(a, b, strict=True)]
    human = {}
    for i in range(0, n, 2):  # a labelled half, with some human disagreement
        human[i] = truth[i] if rng.random() < 0.7 else str(rng.choice(["a", "b", "tie"]))
    report = judge_pairwise([{}] * n, a, b, bigger, human=human)
    keys = sorted(human)
    judged = [report.outcomes[i] for i in keys]
    given = [human[i] for i in keys]
    assert report.human_n == len(keys)
    assert report.human_agreement == pytest.approx(np.mean(np.array(judged) == np.array(given)))
    assert report.cohen_kappa == pytest.approx(cohen_kappa_score(judged, given))
    assert 0 < report.cohen_kappa < 1


def test_inconsistent_verdicts_count_against_human_agreement():
    report = judge_pairwise(ITEMS, A, B, lambda item, x, y: "x", human={0: "a", 1: "b"})
    assert report.human_agreement == 0.0
    assert report.cohen_kappa == pytest.approx(cohen_kappa_score(["inconsistent"] * 2, ["a", "b"]))


def test_labels_judge_uses_imported_labels_and_notes_the_unlabelled():
    labels = {0: "a", 1: "b", 3: "tie"}
    judge = labels_judge(labels, key=lambda item: item["id"])
    report = judge_pairwise(ITEMS, A, B, judge)
    assert report.outcomes == ["a", "b", "tie", "tie", "tie"]
    assert report.consistency == 1.0
    assert report.notes == ("2 of 5 items had no human label and were judged a tie",)
    assert judge({"id": 1}, "p", "q") == "y"  # called directly, x is A


def test_win_rate_summary_uses_a_wilson_interval():
    outcomes = ["b"] * 30 + ["a"] * 12 + ["tie"] * 5 + ["inconsistent"] * 3
    report = JudgeReport(50, 12, 30, 5, 3, 47 / 50, outcomes)
    summary = win_rate_summary(report)
    assert summary["decided"] == 42
    assert summary["b_win_rate"] == pytest.approx(30 / 42)
    low, high = proportion_confint(30, 42, alpha=0.05, method="wilson")
    assert summary["ci"] == pytest.approx([low, high])
    empty = win_rate_summary(JudgeReport(2, 0, 0, 2, 0, 1.0, ["tie", "tie"]))
    assert empty["b_win_rate"] is None and empty["ci"] is None


def test_report_to_dict_is_json_ready():
    report = judge_pairwise(ITEMS[:1], A[:1], B[:1], longer, human={0: "a"})
    data = report.to_dict()
    assert data["outcomes"] == ["a"] and data["human_n"] == 1
    assert data["cohen_kappa"] is None  # one label only: kappa is undefined
    assert math.isnan(report.cohen_kappa)
    assert any("kappa is undefined" in note for note in data["notes"])


def test_a_judge_that_raises_names_the_item():
    def flaky(item, x, y):
        if item["id"] == 3:
            raise TimeoutError("LLM timed out")
        return "tie"

    with pytest.raises(InvalidInputError, match="item 3: TimeoutError: LLM timed out"):
        judge_pairwise(ITEMS, A, B, flaky)


@pytest.mark.parametrize("verdict", ["A", "maybe", float("nan"), None, True])
def test_a_judge_returning_nonsense_is_refused(verdict):
    with pytest.raises(InvalidInputError, match="on item 0"):
        judge_pairwise(ITEMS, A, B, lambda item, x, y: verdict)


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidInputError, match="5 items but 4 predictions for A"):
        judge_pairwise(ITEMS, A[:4], B, longer)
    with pytest.raises(InvalidInputError, match="no items"):
        judge_pairwise([], [], [], longer)
    with pytest.raises(InvalidInputError, match="item 9"):
        judge_pairwise(ITEMS, A, B, longer, human={9: "a"})
    with pytest.raises(InvalidInputError, match="not a, b or tie"):
        judge_pairwise(ITEMS, A, B, longer, human={0: "x"})
    with pytest.raises(InvalidInputError, match="not a, b or tie"):
        labels_judge({0: "left"}, key=lambda item: item["id"])


def test_llm_verdicts_are_read_from_the_first_word_only():
    from mlstudio.integrations.evaluation.llm_judge import parse_verdict

    assert [parse_verdict(t) for t in ("X", " y.", "TIE\n", "**X** because", "x: shorter")] == [
        "x",
        "y",
        "tie",
        "x",
        "x",
    ]
    assert [parse_verdict(t) for t in ("", "Answer X", "xylophone", "Both", "T")] == [None] * 5
