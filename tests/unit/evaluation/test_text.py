"""Text scores: SQuAD-style normalisation, token F1, ROUGE-L (hand-computed cases), similarity."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation import text


def test_normalisation_drops_case_punctuation_articles_and_extra_spaces():
    assert text.normalize_text("  The  Cat, sat on A mat! ") == "cat sat on mat"
    assert text.normalize_text("The cat", drop_articles=False) == "the cat"
    assert text.normalize_text("theatre") == "theatre"  # only whole-word articles go


def test_exact_match_is_on_normalised_strings():
    assert text.exact_match("The  Cat.", "cat") == 1.0
    assert text.exact_match("cats", "cat") == 0.0


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("The cat!", "a cat sat", 2 / 3),  # P = 1/1, R = 1/2
        ("cat cat dog", "cat dog dog", 2 / 3),  # bag overlap 2 of 3 each way
        ("cat", "dog", 0.0),
        ("", "", 1.0),
        ("the", "cat", 0.0),  # prediction normalises to nothing
    ],
)
def test_token_f1_hand_computed(pred, ref, expected):
    assert text.token_f1(pred, ref) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("the cat sat on the mat", "the cat is on the mat", 5 / 6),  # LCS 5 of 6 and 6
        ("police kill the gunman", "police killed the gunman", 3 / 4),  # LCS police the gunman
        ("the gunman kill police", "police killed the gunman", 1 / 2),  # LCS the gunman
        ("a b c d", "a c", 2 / 3),  # P 2/4, R 2/2; articles are kept for ROUGE
        ("x y", "z", 0.0),
        ("", "", 1.0),
        ("", "cat", 0.0),
    ],
)
def test_rouge_l_hand_computed(pred, ref, expected):
    assert text.rouge_l(pred, ref) == pytest.approx(expected)


def test_rouge_l_beta_weights_recall():
    # P = 2/4, R = 1: F_beta = (1 + b²) P R / (R + b² P); beta = 2 -> 5 * 0.5 / (1 + 2) = 5/6
    assert text.rouge_l("a b c d", "a c", beta=2.0) == pytest.approx(5 / 6)


def test_lcs_length_matches_brute_force_on_small_random_lists():
    from itertools import combinations

    rng = np.random.default_rng(3)
    for _ in range(30):
        a = list(rng.choice(list("abc"), size=int(rng.integers(0, 7))))
        b = list(rng.choice(list("abc"), size=int(rng.integers(0, 7))))
        subs = {c for r in range(len(a) + 1) for c in combinations(a, r)}
        best = max(r for r in range(len(b) + 1) for c in combinations(b, r) if c in subs)
        assert text.lcs_length(a, b) == best


def _lcs_table(a, b):
    """The textbook O(len(a) * len(b)) table, as a reference for the bit-parallel version."""
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    for i, u in enumerate(a, 1):
        for j, v in enumerate(b, 1):
            table[i, j] = (
                table[i - 1, j - 1] + 1 if u == v else max(table[i - 1, j], table[i, j - 1])
            )
    return int(table[-1, -1])


def test_lcs_length_matches_the_textbook_table_on_long_lists():
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(12)]
    for _ in range(10):
        a = list(rng.choice(words, size=int(rng.integers(50, 150))))
        b = list(rng.choice(words, size=int(rng.integers(1, 150))))
        assert text.lcs_length(a, b) == _lcs_table(a, b)
        assert text.lcs_length(b, a) == _lcs_table(a, b)


def test_ngram_similarity_hand_computed_and_bounds():
    # " abc " and " abd " share one of three 3-grams each: cosine 1/3
    assert text.ngram_similarity("abc", "abd") == pytest.approx(1 / 3)
    assert text.ngram_similarity("Hello world", "hello  world") == pytest.approx(1.0)
    assert text.ngram_similarity("abc", "xyz") == 0.0
    assert text.ngram_similarity("", "") == 1.0
    assert text.ngram_similarity("", "abc") == 0.0
    close = text.ngram_similarity("the quick brown fox", "the quick brown fox!")
    far = text.ngram_similarity("the quick brown fox", "a slow red dog")
    assert 0 <= far < close < 1


def test_ngram_similarity_is_the_same_in_another_process():
    code = (
        "from mlstudio.integrations.evaluation.text import ngram_similarity as s;"
        "print(repr(s('model evaluation', 'evaluating models')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == text.ngram_similarity("model evaluation", "evaluating models")


def test_similarity_scores_with_a_user_embedding():
    table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "z": [0.0, 0.0]}

    def embed(texts):
        return np.array([table[t] for t in texts])

    out = text.similarity_scores(["a", "a", "c", "z"], ["a", "b", "a", "a"], embed)
    np.testing.assert_allclose(out[:3], [1.0, 0.0, 1 / np.sqrt(2)])
    assert np.isnan(out[3])  # a zero vector has no direction


def test_similarity_scores_refuses_bad_embeddings_and_lengths():
    with pytest.raises(InvalidInputError, match="2 predictions for 1 references"):
        text.similarity_scores(["a", "b"], ["a"])
    with pytest.raises(InvalidInputError, match="shapes"):
        text.similarity_scores(["a"], ["b"], lambda ts: np.ones(3))

    def broken(texts):
        raise RuntimeError("model not loaded")

    with pytest.raises(InvalidInputError, match="RuntimeError: model not loaded"):
        text.similarity_scores(["a"], ["b"], broken)


def test_embedding_similarity_uses_the_packaged_model_and_ranks_meaning_over_letters():
    from mlstudio.integrations.evaluation.metrics import get_metric

    metric = get_metric("embedding_similarity")
    refs = ["The cat sits on the mat.", "The cat sits on the mat.", "It is raining today."]
    preds = ["A kitten is resting on the rug.", "The car sits on the map.", ""]
    scores = metric.item_scores(refs, preds)
    assert scores[0] > scores[1]  # same meaning beats same letters (the lexical proxy's opposite)
    lexical = get_metric("similarity").item_scores(refs, preds)
    assert lexical[1] > lexical[0]
    assert scores[2] == 0.0  # an empty answer is a real, bad answer
    assert "e5" in metric.description.lower() or "embeddings" in metric.description
