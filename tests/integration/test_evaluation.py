"""``mlstudio eval compare`` end to end on SQLite and Postgres: registered models and a baseline
column scored on a governed evaluation set, paired statistics, slices, the stored report, the
item-level scores dataset (classified, reproducible), the tracking run, refusals, and the
evaluation gate on a model alias."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TASKS = """
import pandas as pd

from mlstudio import Model, dataset, task, workflow


@task
def fit(t: pd.DataFrame, columns: list[str]) -> Model:
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit(t[columns], t["y"])
    return Model(est, features=columns, target="y")


@workflow
def train(columns: list[str]):
    return fit(dataset("ev/train"), columns)
"""


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    p = 1 / (1 + np.exp(-(2.0 * x1 + 1.0 * x2)))
    y = (rng.random(n) < p).astype(int)
    segments = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)]
    return [
        {
            "x1": round(float(x1[i]), 6),
            "x2": round(float(x2[i]), 6),
            "heuristic": round(float(1 / (1 + math.exp(-x2[i]))), 6),
            "segment": str(segments[i]),
            "account": f"acc{i // 4}",
            "y": int(y[i]),
        }
        for i in range(n)
    ]


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


CLASSIFY = [
    "--classify", "x1=internal", "--classify", "x2=internal", "--classify", "heuristic=internal",
    "--classify", "segment=internal", "--classify", "account=internal",
]  # fmt: skip


@pytest.fixture
def ev(studio, tmp_path: Path) -> dict[str, Any]:
    """ev/train and ev/holdout (400 items; y confidential), models churn/1 (x2 only, weak) and
    churn/2 (x1 and x2, strong), trained by alice in namespace ev."""
    studio.ok("namespace", "create", "ev")
    studio.ok("user", "add", "bob")
    studio.ok("namespace", "grant", "ev", "bob", "maintainer")
    for name, n, seed in (("train", 600, 1), ("holdout", 400, 2)):
        path = _csv(tmp_path / f"{name}.csv", _rows(n, seed))
        studio.ok(
            "data",
            "import",
            path,
            "--name",
            f"ev/{name}",
            *CLASSIFY,
            "--classify",
            "y=confidential",
        )
    root = tmp_path / "ev-models"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "ev/models"\ndescription = "eval"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("module", "push", root, "--no-tests")
    for columns in ('["x2"]', '["x1", "x2"]'):
        run = studio.ok("run", "ev/models/train:latestAlpha", "-p", f"columns={columns}")
        assert run["state"] == "succeeded", run
        studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "ev")
    return {"holdout": _rows(400, 2)}


def compare(studio, *args: str) -> dict[str, Any]:
    return studio.ok("eval", "compare", *args, "--resamples", "500")


def test_compare_reports_paired_deltas_slices_and_a_ranking(studio, ev):
    report = compare(
        studio,
        "column:heuristic", "models:/churn/1", "models:/churn/2",
        "--on", "ev/holdout", "--metric", "auc", "--metric", "log_loss", "--slice", "segment",
    )  # fmt: skip
    assert report["dataset"] == "ev/holdout@1" and report["n_items"] == 400
    assert report["label"] == "y" and report["task"] == "classification"
    assert [c["name"] for c in report["candidates"]] == ["heuristic", "churn_1", "churn_2"]
    by = {(c["metric"], c["candidate"]): c for c in report["comparisons"]}
    assert set(by) == {(m, c) for m in ("auc", "log_loss") for c in ("churn_1", "churn_2")}
    strong = by[("auc", "churn_2")]
    assert strong["test"] == "delong" and strong["verdict"] == "better"
    assert strong["delta_ci"]["low"] > 0 and strong["delta"] > 0
    assert strong["a"]["mean"] < strong["b"]["mean"]
    # heuristic is the logistic of x2, the weak model a logistic in x2: the same ranking
    weak = by[("auc", "churn_1")]
    assert abs(weak["delta"]) < 1e-9 and weak["verdict"] == "untestable"  # identical rankings
    loss = by[("log_loss", "churn_2")]
    assert loss["higher_is_better"] is False and loss["delta"] < 0 and loss["verdict"] == "better"
    # slices: 4 segments x 2 metrics x 2 candidates in one family, adjusted p >= raw p
    assert {s["value"] for s in report["slices"]} == {"a", "b", "c", "d"}
    tested = [s for s in report["slices"] if s["tested"]]
    assert report["family_size"] == len(tested) > 0
    assert all(s["adjusted_p"] >= s["p_value"] - 1e-12 for s in tested)
    assert report["ranking"][0]["name"] == "churn_2"  # log_loss: lower is better
    assert report["ranking_metric"] == "log_loss"


def test_item_level_scores_are_a_classified_dataset_that_reproduces_the_report(
    studio, ev, tmp_path
):
    report = compare(studio, "models:/churn/1", "models:/churn/2", "--on", "ev/holdout",
                     "--metric", "log_loss")  # fmt: skip
    assert report["scores"] == "ev/holdout-eval@1"
    shown = studio.ok("data", "show", "ev/holdout-eval")
    cols = {c["name"]: c for c in shown["columns"]}
    assert {"item", "y", "pred__churn_1", "pred__churn_2"} <= set(cols)
    assert cols["y"]["classification"] == "confidential"  # copied columns keep their tags
    # a score derives from the label and the model: at least the label's level
    assert cols["score__log_loss__churn_2"]["effective_level"] in ("confidential", "restricted")
    out = tmp_path / "scores.csv"
    studio.ok("data", "export", "ev/holdout-eval", str(out))
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 400
    a = np.array([float(r["score__log_loss__churn_1"]) for r in rows])
    b = np.array([float(r["score__log_loss__churn_2"]) for r in rows])
    [c] = report["comparisons"]
    assert c["delta"] == pytest.approx(float(np.mean(b - a)), rel=1e-9)
    assert c["n"] == 400 and c["test"] == "paired permutation"


def test_the_report_is_stored_shown_listed_and_tracked(studio, ev, tmp_path):
    html = tmp_path / "report.html"
    report = compare(studio, "column:heuristic", "models:/churn/2", "--on", "ev/holdout",
                     "--metric", "accuracy", "--report", str(html))  # fmt: skip
    assert "<svg" in html.read_text() and report["id"] in html.read_text()
    shown = studio.ok("eval", "show", report["id"])
    assert shown["comparisons"] == report["comparisons"]
    assert studio.ok("eval", "show", report["id"][:10])["id"] == report["id"]
    [listed] = studio.ok("eval", "list")
    assert listed["id"] == report["id"] and listed["verdicts"] == {
        "accuracy/churn_2": report["comparisons"][0]["verdict"]
    }
    from mlstudio.integrations.tracking.service import TrackingService

    with studio.opened() as p:
        tracking = TrackingService(p.store, p.cas)
        tracked = tracking.get_run(report["tracking_run"])
        paths = {a["path"] for a in tracking.list_artifacts(report["tracking_run"], "evaluation")}
        md = tracking.artifact(report["tracking_run"], "evaluation/report.md").decode()
    assert tracked["tags"]["mlstudio.evaluation"] == report["id"]
    assert tracked["status"] == "FINISHED"
    assert paths == {"evaluation/report.md", "evaluation/report.html", "evaluation/report.json"}
    assert "| accuracy | churn_2 |" in md
    audit = studio.ok("audit", "--action", "eval.compare")
    assert [e["resource"] for e in audit] == [f"evaluation:{report['id']}"]


def test_a_domain_that_may_not_read_the_evaluation_set_is_refused_before_scoring(studio, ev):
    refused = studio.fails("eval", "compare", "column:heuristic", "models:/churn/2",
                           "--on", "ev/holdout", "--domain", "adhoc")  # fmt: skip
    assert "adhoc" in refused.stderr
    assert studio.ok("eval", "list") == []
    denied = [e for e in studio.ok("audit", "--action", "data.read") if e["decision"] == "deny"]
    assert denied and denied[0]["details"]["domain"] == "adhoc"


BAD_INPUT = [
    (["models:/churn/2", "--on", "ev/holdout"], "at least two candidates"),
    (["column:heuristic", "column:heuristic", "--on", "ev/holdout"], "named twice"),
    (["column:nope", "models:/churn/2", "--on", "ev/holdout"], "neither a registered model"),
    (["column:heuristic", "models:/churn/2", "--on", "ev/holdout", "--metric", "auk"], "auk"),
    (["column:heuristic", "column:x1", "--on", "ev/holdout"], "--label"),
    (["column:heuristic", "models:/churn/2", "--on", "ev/holdout", "--slice", "zz"], "zz"),
    (["column:heuristic", "models:/churn/2", "--on", "ev/nope"], "ev/nope"),
    (["column:heuristic", "models:/churn/9", "--on", "ev/holdout"], "9"),
    (["column:heuristic", "models:/churn/2", "--on", "ev/holdout", "--report", "r.txt"], ".md"),
    (
        ["column:heuristic", "models:/churn/2", "--on", "ev/holdout", "--correction", "x"],
        "holm",
    ),
]


def test_bad_input_is_one_line_and_changes_nothing(studio, ev):
    for args, needle in BAD_INPUT:
        failed = studio.fails("eval", "compare", *args)
        assert needle in failed.stderr and len(failed.stderr.strip().splitlines()) == 1, args
    assert studio.ok("eval", "list") == []


def test_a_gated_alias_moves_only_with_a_passing_evaluation_or_an_approvers_override(studio, ev):
    gate = studio.ok("model", "gate", "churn", "prod", "--on", "ev/holdout", "--metric", "auc",
                     "--margin", "0.01")  # fmt: skip
    assert gate["gate"] == {"on": "ev/holdout", "metric": "auc", "margin": 0.01, "slices": []}
    first = studio.ok("model", "alias", "churn", "prod", "1")  # nothing to compare against yet
    assert first["moved"] and first["gate"]["passed"]
    refused = studio.fails("model", "alias", "churn", "prod", "2")
    assert "no evaluation" in refused.stderr and "mlstudio eval compare" in refused.stderr
    shown = studio.ok("model", "show", "churn")
    assert shown["model"]["aliases"]["prod"] == 1 and shown["gates"]["prod"]["metric"] == "auc"
    report = compare(studio, "models:/churn/1", "models:/churn/2", "--on", "ev/holdout",
                     "--metric", "auc")  # fmt: skip
    moved = studio.ok("model", "alias", "churn", "prod", "2")
    assert moved["gate"]["evaluation"] == report["id"] and moved["gate"]["passed"]
    # back to the weak version: the same evaluation, read the other way round, refuses it
    back = studio.fails("model", "alias", "churn", "prod", "1")
    assert "not non-inferior" in back.stderr
    # alice trained both versions: she may not override; bob (a maintainer) may, with a reason
    assert (
        "author"
        in studio.fails(
            "model", "alias", "churn", "prod", "1", "--override-reason", "rollback"
        ).stderr
    )
    over = studio.ok("model", "alias", "churn", "prod", "1", "--override-reason", "incident 42",
                     user="bob")  # fmt: skip
    assert over["gate"] == {"passed": False, "overridden_by": "bob", "reason": "incident 42"}
    [event] = studio.ok("audit", "--action", "model.gate.override")
    assert event["actor"] == "bob" and event["details"]["reason"] == "incident 42"
    assert "not non-inferior" in event["details"]["refused"]
    studio.ok("model", "gate", "churn", "prod", "--remove")
    assert studio.ok("model", "alias", "churn", "prod", "2")["moved"]


def test_gate_bad_input(studio, ev):
    assert "--on" in studio.fails("model", "gate", "churn", "prod", "--metric", "auc").stderr
    assert (
        "without a version"
        in studio.fails(
            "model", "gate", "churn", "prod", "--on", "ev/holdout@1", "--metric", "auc"
        ).stderr
    )
    assert (
        "auk"
        in studio.fails(
            "model", "gate", "churn", "prod", "--on", "ev/holdout", "--metric", "auk"
        ).stderr
    )
    assert "no gate" in studio.fails("model", "gate", "churn", "prod", "--remove").stderr
    assert [
        e for e in studio.ok("audit", "--action", "model.gate") if e["decision"] != "deny"
    ] == []


def test_text_candidates_and_precomputed_scores(studio, tmp_path):
    """String predictions are scored by the text metrics; a column that already holds per-item
    scores (a judge's grade) is compared with the label-free ``score`` metric."""
    studio.ok("namespace", "create", "tx")
    rng = np.random.default_rng(5)
    words = ["the cat sat", "a dog ran", "red fish", "blue sky", "old tree"]
    rows = []
    for i in range(120):
        ref = words[i % 5]
        rows.append(
            {
                "answer": ref,
                "a": ref if rng.random() < 0.5 else "something else",
                "b": ref if rng.random() < 0.8 else "something else",
                "grade_a": round(float(rng.random()), 4),
                "grade_b": round(float(rng.random() * 0.5 + 0.5), 4),
            }
        )
    path = _csv(tmp_path / "qa.csv", rows)
    studio.ok("data", "import", path, "--name", "tx/qa",
              *[f"--classify={c}=internal" for c in rows[0]])  # fmt: skip
    text = studio.ok("eval", "compare", "column:a", "column:b", "--on", "tx/qa", "--label",
                     "answer", "--metric", "exact_match", "--metric", "token_f1")  # fmt: skip
    assert text["task"] == "text"
    em = next(c for c in text["comparisons"] if c["metric"] == "exact_match")
    assert em["test"].startswith("mcnemar") and em["delta"] > 0
    expected = np.mean([r["b"] == r["answer"] for r in rows]) - np.mean(
        [r["a"] == r["answer"] for r in rows]
    )
    assert em["delta"] == pytest.approx(expected)
    graded = studio.ok("eval", "compare", "column:grade_a", "column:grade_b", "--on", "tx/qa",
                       "--metric", "score")  # fmt: skip
    [g] = graded["comparisons"]
    assert g["verdict"] == "better" and g["test"] == "paired permutation"
    assert g["delta"] == pytest.approx(
        np.mean([r["grade_b"] for r in rows]) - np.mean([r["grade_a"] for r in rows])
    )


def test_lift_of_an_online_experiment(studio, tmp_path):
    studio.ok("namespace", "create", "ab")
    rng = np.random.default_rng(9)
    rows = []
    for unit in range(2000):
        variant = "control" if unit % 2 else "treatment"
        pre = float(rng.gamma(2.0, 10.0))
        revenue = 0.8 * pre + rng.normal(0, 5) + (1.5 if variant == "treatment" else 0.0)
        rows.append({"account": f"a{unit}", "variant": variant, "pre": round(pre, 3),
                     "revenue": round(revenue, 3)})  # fmt: skip
    path = _csv(tmp_path / "ab.csv", rows)
    studio.ok("data", "import", path, "--name", "ab/outcomes",
              *[f"--classify={c}=internal" for c in rows[0]])  # fmt: skip
    base = ["eval", "lift", "--experiment", "ab/outcomes", "--metric", "revenue",
            "--variant-column", "variant", "--unit-column", "account"]  # fmt: skip
    plain = studio.ok(*base)
    cuped = studio.ok(*base, "--pre-period-column", "pre")
    [p], [c] = plain["results"], cuped["results"]
    assert (p["control"], p["treatment"], p["n_control"], p["n_treatment"]) == (
        "control", "treatment", 1000, 1000,
    )  # fmt: skip
    assert p["srm_ok"] and c["cuped"] and c["variance_reduction"] > 0.5
    width = lambda r: r["ci_abs"][1] - r["ci_abs"][0]  # noqa: E731
    assert width(c) < 0.75 * width(p)  # the pre-period covariate narrows the interval
    assert c["ci_abs"][0] < 1.5 < c["ci_abs"][1]
    missing = studio.fails(*base[:-1], "nope")
    assert "nope" in missing.stderr
    assert [e["action"] for e in studio.ok("audit", "--action", "eval.lift")] == ["eval.lift"] * 2


def test_a_lift_names_the_model_versions_each_variant_was_served_by(studio, tmp_path):
    """Outcomes joined to a serving prediction log carry ``model`` and ``version``: the report
    lists them per variant, and says when a variant mixed versions or fell back."""
    studio.ok("namespace", "create", "ab")
    rows = []
    for unit in range(400):
        treated = unit % 2 == 0
        version = ("2" if unit % 10 else "3") if treated else "1"
        if treated and unit % 50 == 0:
            version = ""  # a fallback answered (no model version)
        rows.append({"account": f"a{unit}", "variant": "treatment" if treated else "control",
                     "model": "churn", "version": version,
                     "revenue": 10.0 + (1.0 if treated else 0.0) + (unit % 7) * 0.1})  # fmt: skip
    path = _csv(tmp_path / "ab.csv", rows)
    studio.ok("data", "import", path, "--name", "ab/served",
              *[f"--classify={c}=internal" for c in rows[0]])  # fmt: skip
    args = ["eval", "lift", "--experiment", "ab/served", "--metric", "revenue",
            "--variant-column", "variant", "--unit-column", "account"]  # fmt: skip
    out = studio.ok(*args)
    assert out["served"]["control"] == [{"model": "churn", "version": 1, "rows": 200}]
    treatment = {(e["version"], e["rows"]) for e in out["served"]["treatment"]}
    assert treatment == {(2, 160), (3, 32), (None, 8)}
    [result] = out["results"]
    assert result["served"]["control"] == out["served"]["control"]
    assert "variant treatment was answered by 2 model versions" in " ".join(out["notes"])
    assert "8 rows were answered by a fallback" in " ".join(out["notes"])
    shown = studio.cli(*args)
    assert "served treatment: churn/2 (160 rows), churn/3 (32 rows), fallback (8 rows)" in (
        shown.stdout.replace("\n", " ")
    )
    # outcomes without model columns: no served section
    plain = [{k: v for k, v in r.items() if k not in ("model", "version")} for r in rows]
    studio.ok("data", "import", _csv(tmp_path / "plain.csv", plain), "--name", "ab/plain",
              *[f"--classify={c}=internal" for c in plain[0]])  # fmt: skip
    assert "served" not in studio.ok(*args[:3], "ab/plain", *args[4:])
