"""Training and evaluation of churn propensity models (scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlstudio import Model, task

NON_FEATURES = ("customer_id", "churned", "upgraded", "label_time")


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in NON_FEATURES]


@task
def split(
    features: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    test_fraction: float = 0.25,
    seed: int = 7,
) -> dict[str, Any]:
    """Split labelled customers into train and test sets (stratified by churn): ``features``
    with the labels (a training set), or joined with ``outcomes`` here. A feature missing at
    the label time (no usage within the view's max age) counts as 0."""
    from sklearn.model_selection import train_test_split

    data = features if outcomes is None else features.merge(outcomes, on="customer_id")
    data = data.drop(columns=[c for c in ("label_time",) if c in data.columns]).fillna(0.0)
    train, test = train_test_split(
        data, test_size=test_fraction, random_state=seed, stratify=data["churned"]
    )
    return {"train": train.reset_index(drop=True), "test": test.reset_index(drop=True)}


@task(cache="default")
def fit(data: dict[str, Any], kind: str = "logreg", seed: int = 7) -> Model:
    """Fit one candidate model: logistic regression or gradient-boosted trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = data["train"]
    columns = feature_columns(train)
    if kind == "logreg":
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    elif kind == "gbm":
        estimator = HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.08, random_state=seed
        )
    else:
        raise ValueError(f"unknown model kind {kind!r}; use logreg or gbm")
    estimator.fit(train[columns], train["churned"])
    print(f"fitted {kind} on {len(train)} customers, {len(columns)} features")
    return Model(estimator, kind=kind, features=columns, target="churned", trained_rows=len(train))


def heuristic(test: pd.DataFrame) -> np.ndarray:
    """The analysts' rule: low seat utilization plus support tickets means churn risk."""
    return (1.0 - test["seat_utilization"]).to_numpy() + 0.02 * test["tickets_total"].to_numpy()


def _at_top(scores: np.ndarray, labels: np.ndarray, fraction: float) -> tuple[float, float]:
    k = max(1, int(len(scores) * fraction))
    top = np.argsort(-scores, kind="stable")[:k]
    hits = labels[top].sum()
    return float(hits / k), float(hits / max(labels.sum(), 1))


@task
def evaluate(model: Model, data: dict[str, Any], top_fraction: float = 0.1) -> dict[str, Any]:
    """AUC, precision/recall in the top decile, and lift over a seat-utilization heuristic."""
    from sklearn.metrics import roc_auc_score

    test = data["test"]
    labels = test["churned"].to_numpy()
    scores = model.predict_proba(test[model.metadata["features"]])[:, 1]
    baseline = heuristic(test)
    precision, recall = _at_top(scores, labels, top_fraction)
    base_precision, base_recall = _at_top(baseline, labels, top_fraction)
    base_rate = float(labels.mean())
    return {
        "kind": model.metadata["kind"],
        "auc": round(float(roc_auc_score(labels, scores)), 4),
        "precision_at_top": round(precision, 4),
        "recall_at_top": round(recall, 4),
        "lift_over_random": round(precision / base_rate, 3) if base_rate else None,
        "baseline_auc": round(float(roc_auc_score(labels, baseline)), 4),
        "baseline_precision_at_top": round(base_precision, 4),
        "baseline_recall_at_top": round(base_recall, 4),
        "lift_over_baseline": round(precision / base_precision, 3) if base_precision else None,
        "test_rows": len(test),
        "churn_rate": round(base_rate, 4),
    }


@task
def compare(models: list[Model], data: dict[str, Any], seed: int = 7) -> dict[str, Any]:
    """Is each model better than the heuristic, and is the best better than the runner-up?
    Paired on the same test customers: DeLong for AUC, a paired bootstrap for log loss."""
    from mlstudio import evaluate

    test = data["test"]
    labels = test["churned"].to_numpy()
    scores = {"heuristic": heuristic(test)}
    for m in models:
        scores[m.metadata["kind"]] = m.predict_proba(test[m.metadata["features"]])[:, 1]
    kinds = [m.metadata["kind"] for m in models]
    vs_rule = evaluate(labels, scores, metrics=["auc"], seed=seed)
    models_only = {k: scores[k] for k in kinds}
    head = (
        evaluate(labels, models_only, metrics=["auc", "log_loss"], seed=seed)
        if len(kinds) > 1
        else None
    )
    return {
        "n": vs_rule["n_items"],
        "vs_heuristic": vs_rule["comparisons"],
        "head_to_head": head["comparisons"] if head else [],
    }


@task
def pick_best(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the highest AUC."""
    return max(evaluations, key=lambda e: e["auc"])
