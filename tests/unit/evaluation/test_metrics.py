"""The metric catalog against scikit-learn's numbers, hand-computed cases and bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.metrics import (
    Metric,
    calibration_table,
    custom_metric,
    default_metrics,
    get_metric,
    known_metrics,
    similarity_metric,
)


@pytest.fixture
def binary():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400).astype(float)
    p = np.clip(0.3 * y + rng.random(400) * 0.7, 0, 1)
    return y, p


def test_item_metrics_average_to_sklearn(binary):
    y, p = binary
    assert get_metric("accuracy").item_scores(y, p).mean() == pytest.approx(
        skm.accuracy_score(y, p >= 0.5)
    )
    assert get_metric("log_loss").item_scores(y, p).mean() == pytest.approx(skm.log_loss(y, p))
    assert get_metric("brier").item_scores(y, p).mean() == pytest.approx(skm.brier_score_loss(y, p))


def test_auc_statistic_matches_sklearn_with_ties_and_subsets(binary):
    y, p = binary
    p = np.round(p, 1)  # many ties
    auc = get_metric("auc")
    assert auc.kind == "auc"
    assert auc.statistic(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    idx = np.arange(0, 400, 3)
    assert auc.statistic(y, p, idx) == pytest.approx(skm.roc_auc_score(y[idx], p[idx]))
    assert math.isnan(auc.statistic([1, 1], [0.2, 0.9]))  # one class: undefined


def test_log_loss_is_clipped_not_infinite():
    scores = get_metric("log_loss").item_scores([1, 0], [0.0, 1.0])
    np.testing.assert_allclose(scores, -np.log(1e-15), rtol=1e-4)  # 1 - 1e-15 rounds


def test_precision_and_recall_at_k_over_the_top_scored_items():
    y = [1, 0, 1, 1, 0, 0]
    p = [0.9, 0.8, 0.7, 0.1, 0.2, 0.3]
    prec, rec = get_metric("precision@3"), get_metric("recall@3")
    assert (prec.kind, prec.task) == ("aggregate", "classification")
    assert prec.statistic(y, p) == pytest.approx(2 / 3)
    assert rec.statistic(y, p) == pytest.approx(2 / 3)
    # on a subset: items 1, 3, 5 -> scores 0.8, 0.1, 0.3; top 2 are items 1 and 5, no positives
    assert get_metric("precision@2").statistic(y, p, [1, 3, 5]) == 0.0
    assert get_metric("recall@2").statistic(y, p, [1, 3, 5]) == 0.0
    assert get_metric("precision@10").statistic(y, p) == pytest.approx(0.5)  # k > n: all items


def test_ece_hand_computed_and_calibration_table_matches_sklearn(binary):
    # bin 0 (p=0.05,0.05): observed 0.5 -> gap 0.45; bin 9 (p=0.95,0.95): observed 1 -> 0.05
    y = [0, 1, 1, 1]
    p = [0.05, 0.05, 0.95, 0.95]
    assert get_metric("ece").statistic(y, p) == pytest.approx((2 * 0.45 + 2 * 0.05) / 4)
    yb, pb = binary
    table = calibration_table(yb, pb, bins=10)
    assert [row["bin"] for row in table] == list(range(10))
    assert sum(row["n"] for row in table) == len(yb)
    filled = [row for row in table if row["n"]]
    prob_true, prob_pred = calibration_curve(yb, pb, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([r["observed_rate"] for r in filled], prob_true)
    np.testing.assert_allclose([r["mean_predicted"] for r in filled], prob_pred)
    ece = get_metric("ece").statistic(yb, pb)
    expected = sum(r["n"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in filled)
    assert ece == pytest.approx(expected / len(yb))


def test_probability_one_falls_in_the_last_bin():
    table = calibration_table([1], [1.0], bins=4)
    assert [r["n"] for r in table] == [0, 0, 0, 1]
    assert table[0]["mean_predicted"] is None


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    p = y + rng.normal(scale=0.5, size=200)
    assert get_metric("mae").item_scores(y, p).mean() == pytest.approx(
        skm.mean_absolute_error(y, p)
    )
    assert get_metric("mse").item_scores(y, p).mean() == pytest.approx(skm.mean_squared_error(y, p))
    rmse = get_metric("rmse")
    assert (rmse.kind, rmse.higher_is_better) == ("aggregate", False)
    assert rmse.statistic(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert rmse.statistic(y, p, [0, 1, 2]) == pytest.approx(
        np.sqrt(skm.mean_squared_error(y[:3], p[:3]))
    )


def test_item_metric_statistic_is_the_mean_on_the_subset():
    mae = get_metric("mae")
    assert mae.statistic([0, 0, 0], [1, 2, 6], [1, 2]) == pytest.approx(4.0)


def test_ndcg_per_query_matches_sklearn_in_first_appearance_order():
    rng = np.random.default_rng(5)
    groups, rel, score = [], [], []
    for q in ["q3", "q1", "q2"]:
        m = 8
        groups += [q] * m
        rel += list(rng.integers(0, 4, m))
        score += list(rng.permutation(m) / m)  # distinct scores: no tie handling differences
    rel_a, score_a = np.array(rel, float), np.array(score)
    for k in (3, 5):
        out = get_metric(f"ndcg@{k}").item_scores(rel_a, score_a, groups)
        expected = [
            skm.ndcg_score([rel_a[i * 8 : i * 8 + 8]], [score_a[i * 8 : i * 8 + 8]], k=k)
            for i in range(3)
        ]
        np.testing.assert_allclose(out, expected)


def test_mrr_and_per_query_precision_hand_computed():
    groups = ["a", "a", "a", "b", "b", "c", "c"]
    rel = [0, 1, 0, 2, 0, 0, 0]
    score = [0.9, 0.5, 0.7, 0.1, 0.8, 0.3, 0.4]
    mrr = get_metric("mrr").item_scores(rel, score, groups)
    # a: order 0.9 (0), 0.7 (0), 0.5 (1) -> 1/3; b: 0.8 (0), 0.1 (2) -> 1/2; c: none relevant
    np.testing.assert_allclose(mrr[:2], [1 / 3, 1 / 2])
    assert math.isnan(mrr[2])
    prec = get_metric("precision@2", task="ranking")
    assert (prec.kind, prec.task) == ("item", "ranking")
    np.testing.assert_allclose(prec.item_scores(rel, score, groups), [0.0, 0.5, 0.0])
    # the classification precision@k gives the same per-query scores when groups are given
    np.testing.assert_allclose(
        get_metric("precision@2").item_scores(rel, score, groups), [0.0, 0.5, 0.0]
    )
    rec = get_metric("recall@2", task="ranking").item_scores(rel, score, groups)
    np.testing.assert_allclose(rec[:2], [0.0, 1.0])
    assert math.isnan(rec[2])


def test_ranking_needs_groups_and_missing_scores_void_the_query():
    with pytest.raises(InvalidInputError, match="need groups"):
        get_metric("mrr").item_scores([1, 0], [0.2, 0.1])
    out = get_metric("ndcg@2").item_scores([1, 0, 1, 0], [0.2, None, 0.4, 0.3], [1, 1, 2, 2])
    assert math.isnan(out[0])
    assert out[1] == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="statistic"):
        get_metric("mrr").statistic([1, 0], [0.2, 0.1])


def test_text_metrics_item_scores():
    refs = ["The cat sat.", "Paris", "blue sky", "x"]
    preds = ["cat sat", "paris!", "the sky is blue", None]
    em = get_metric("exact_match").item_scores(refs, preds)
    np.testing.assert_array_equal(em[:3], [1.0, 1.0, 0.0])
    assert math.isnan(em[3])  # a missing prediction is NaN, not 0
    f1 = get_metric("token_f1").item_scores(refs, preds)
    assert f1[2] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))  # tokens sky is blue vs blue sky
    rl = get_metric("rouge_l").item_scores(refs, preds)
    assert rl[2] == pytest.approx(2 * (1 / 4) * (1 / 2) / (1 / 4 + 1 / 2))  # LCS 1 of 4 and 2


def test_similarity_is_named_honestly_and_accepts_an_embedding():
    sim = get_metric("similarity")
    assert "hashed char 3-gram cosine" in sim.description
    assert "lexical proxy" in sim.description
    scores = sim.item_scores(["hello world", "abc", "abc"], ["hello world", "xyz", ""])
    np.testing.assert_allclose(scores, [1.0, 0.0, 0.0])

    def embed(texts):
        return np.array([[len(t), 1.0] for t in texts])

    custom = similarity_metric(embed)
    assert "embed" in custom.description
    out = custom.item_scores(["ab"], ["abcd"])
    assert out[0] == pytest.approx((2 * 4 + 1) / (np.hypot(2, 1) * np.hypot(4, 1)))


def test_nan_predictions_give_nan_items_and_are_ignored_by_statistics():
    y = [1, 0, 1, 0]
    p = [0.9, float("nan"), 0.6, 0.2]
    acc = get_metric("accuracy").item_scores(y, p)
    assert math.isnan(acc[1])
    np.testing.assert_array_equal(acc[[0, 2, 3]], [1.0, 1.0, 1.0])
    assert get_metric("auc").statistic(y, p) == pytest.approx(1.0)
    assert math.isnan(get_metric("mae").item_scores([1.0, 2.0], [None, 2.5])[0])


def test_bad_classification_input_is_refused_with_the_count():
    with pytest.raises(InvalidInputError, match="3 predictions for 2 items"):
        get_metric("brier").item_scores([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="2 values that are not 0 or 1"):
        get_metric("accuracy").item_scores([0, 2, 3], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="2 probabilities outside") as err:
        get_metric("log_loss").item_scores([0, 1, 1], [-0.1, 0.5, 1.2])
    assert "probability" in err.value.hint
    with pytest.raises(InvalidInputError, match="must be numbers"):
        get_metric("auc").statistic([0, 1], ["low", "high"])
    with pytest.raises(InvalidInputError, match="missing"):
        get_metric("mae").item_scores([1.0, None], [1.0, 2.0])


def test_unknown_metric_lists_the_known_names_on_one_line():
    with pytest.raises(InvalidInputError) as err:
        get_metric("f2_score")
    message = err.value.message
    assert "\n" not in message
    for name in ("accuracy", "auc", "ndcg@k", "rouge_l", "rmse"):
        assert name in message
    assert err.value.hint
    with pytest.raises(InvalidInputError):
        get_metric("ndcg@0")


def test_k_is_parsed_and_the_catalog_is_consistent():
    assert get_metric("NDCG@7").name == "ndcg@7"
    assert get_metric("recall@20").statistic([1, 1, 0], [0.1, 0.2, 0.3]) == pytest.approx(1.0)
    catalog = known_metrics()
    assert all(isinstance(m, Metric) for m in catalog)
    assert {m.kind for m in catalog} == {"item", "auc", "aggregate"}
    for task in ("classification", "regression", "ranking", "text"):
        for name in default_metrics(task):
            assert get_metric(name).task == task
    assert default_metrics("classification") == ["auc", "log_loss", "accuracy"]
    with pytest.raises(InvalidInputError, match="unknown task"):
        default_metrics("vision")


def test_aggregate_metrics_have_no_item_scores():
    with pytest.raises(InvalidInputError, match="aggregate"):
        get_metric("rmse").item_scores([1.0], [1.0])
    with pytest.raises(InvalidInputError, match="aggregate"):
        get_metric("precision@3").item_scores([1, 0], [0.3, 0.2])


def test_custom_metric_on_rows_and_columns():
    def within_tolerance(item, prediction):
        """1 when the prediction is within the item's tolerance."""
        return float(abs(prediction - item["y"]) <= item["tol"])

    m = custom_metric("within_tol", within_tolerance)
    assert (m.kind, m.higher_is_better) == ("item", True)
    assert m.description == "1 when the prediction is within the item's tolerance."
    rows = [{"y": 1.0, "tol": 0.5}, {"y": 2.0, "tol": 0.1}]
    np.testing.assert_array_equal(m.item_scores(rows, [1.2, 2.5]), [1.0, 0.0])
    columns = {"y": [1.0, 2.0], "tol": [0.5, 1.0]}
    np.testing.assert_array_equal(m.item_scores(columns, [1.2, 2.5]), [1.0, 1.0])


def test_custom_metric_errors_name_the_item_and_nan_is_kept():
    def picky(item, prediction):
        if prediction < 0:
            raise ValueError("negative prediction")
        return float("nan") if prediction == 0 else prediction

    m = custom_metric("picky", picky, higher_is_better=False)
    out = m.item_scores([{}, {}], [0.0, 2.0])
    assert math.isnan(out[0]) and out[1] == 2.0
    with pytest.raises(InvalidInputError, match="raised on item 2: ValueError: negative"):
        m.item_scores([{}, {}, {}], [1.0, 2.0, -1.0])
    bad = custom_metric("bad", lambda item, pred: "good")
    with pytest.raises(InvalidInputError, match="returned 'good' on item 0"):
        bad.item_scores([{}], [1])
    with pytest.raises(InvalidInputError, match="2 predictions for 1 items"):
        m.item_scores([{}], [1.0, 2.0])


def test_importing_the_catalog_does_not_import_numpy():
    code = (
        "import sys; import mlstudio.integrations.evaluation.metrics, "
        "mlstudio.integrations.evaluation.judges, mlstudio.integrations.evaluation.lift; "
        "print('numpy' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
