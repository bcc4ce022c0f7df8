"""The end-to-end propensity workflow, composed from the data and features modules."""

from __future__ import annotations

from typing import Any

from modeling import compare, evaluate, fit, pick_best, split
from traffic import score, scoring_requests

from mlstudio import Model, dataset, task, use, workflow


def _ci(ci: dict[str, float] | None) -> str:
    return f"[{ci['low']:+.3f}, {ci['high']:+.3f}]" if ci else "[-]"


def _p(p: float | None) -> str:
    return "-" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _verdicts(tests: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Is it better? Paired on the same {tests['n']} test customers "
        "(AUC: DeLong; log loss: paired bootstrap), 95% intervals:",
        "",
        "| comparison | metric | A | B | Δ (B - A) | Δ 95% CI | p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in tests["vs_heuristic"] + tests["head_to_head"]:
        lines.append(
            f"| {c['candidate']} vs {c['baseline']} | {c['metric']} | {c['a']['mean']:.3f} "
            f"| {c['b']['mean']:.3f} | {c['delta']:+.3f} | {_ci(c['delta_ci'])} "
            f"| {_p(c['p_value'])} | **{c['verdict']}** |"
        )
    return lines


@task
def report(
    best: dict[str, Any],
    candidates: list[dict[str, Any]],
    n_customers: int,
    tests: dict[str, Any] | None = None,
) -> str:
    """A short Markdown report of the model comparison."""
    lines = [
        f"# Churn propensity — {n_customers} customers",
        "",
        "| model | AUC | precision@top10% | recall@top10% | lift vs random | lift vs heuristic |",
        "|---|---|---|---|---|---|",
    ]
    for c in candidates:
        lines.append(
            f"| {c['kind']} | {c['auc']:.3f} | {c['precision_at_top']:.3f} | {c['recall_at_top']:.3f} "
            f"| {c['lift_over_random']:.2f}x | {c['lift_over_baseline']:.2f}x |"
        )
    lines += [
        "",
        f"Baseline heuristic (low seat utilization + tickets): AUC {best['baseline_auc']:.3f}, "
        f"precision@top10% {best['baseline_precision_at_top']:.3f}.",
        f"Chosen model: **{best['kind']}** (AUC {best['auc']:.3f}; churn rate {best['churn_rate']:.1%}).",
    ]
    if tests:
        lines += _verdicts(tests)
    return "\n".join(lines)


@workflow
def train(seed: int = 7, kinds: list[str] | None = None) -> dict[str, Any]:
    """Classified datasets → features (a feature view joined point-in-time at each label's
    time, and Python) → candidate models → evaluation → report.

    Reads churn/customers, churn/usage and churn/outcomes (written by churn/data/generate);
    the execution layer checks every column a task is handed against the run's domain.
    """
    summary, _ = _candidates(seed, kinds)
    return summary


@workflow
def retrain(seed: int = 7, kinds: list[str] | None = None) -> dict[str, Any]:
    """``train``, then the chosen model becomes the next version of churn-propensity and its
    ``challenger`` (a monitor's retrain; ``champion`` moves only with an approval by someone
    else)."""
    summary, models = _candidates(seed, kinds)
    summary["challenger"] = challenger(models, summary["best"])
    return summary


@workflow
def traffic(days: int = 70, per_day: int = 200, change_day: int = 56, seed: int = 7) -> Any:
    """Simulated scoring requests (churn/scoring-requests), batch-scored by the champion
    (churn/scored-requests), for the monitoring walkthrough."""
    table = use("churn/features:latest").build(dataset("churn/customers"), dataset("churn/usage"))
    requests = scoring_requests(table, days=days, per_day=per_day, change_day=change_day, seed=seed)
    return score(requests)


def _candidates(seed: int, kinds: list[str] | None) -> tuple[dict[str, Any], list[Any]]:
    feats = use("churn/features:latest")
    customers = dataset("churn/customers")
    table = feats.training(dataset("churn/outcomes"), customers)  # point-in-time
    sets = split(table, seed=seed)
    models = fit.map(kind=kinds or ["logreg", "gbm"], data=sets, seed=seed)
    evaluations = [evaluate(m, sets) for m in models]
    best = pick_best(evaluations)
    tests = compare(models, sets, seed=seed)
    summary = report(best, evaluations, count_rows(customers), tests)
    return {"best": best, "tests": tests, "report": summary}, models


@task(register="churn-propensity", alias="challenger")
def challenger(models: list[Model], best: dict[str, Any]) -> Model:
    """The chosen candidate, registered (the next version of churn-propensity) as challenger."""
    return next(m for m in models if m.metadata.get("kind") == best["kind"])


@task(columns={"customers": ["customer_id"]})
def count_rows(customers: Any) -> int:
    """How many customers the model was built on."""
    return customers.num_rows
