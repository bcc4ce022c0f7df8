"""Prompt search in a task (``mlstudio.genai.prompt_search``) on SQLite and Postgres: two
prompts compared paired on an evaluation set through a real OpenAI-compatible endpoint on
loopback; the search stops at the first look where the leader is significantly ahead,
registers it as the module's ``challenger`` prompt with its report, and a budget that refuses
a look stops the search with the reason; bad input is refused before any call."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.testing.chat import chat_standin
from mlstudio.testing.flows import task_of

TASKS = """
import pandas as pd

from mlstudio import task, workflow
from mlstudio.genai import Prompt, prompt_search, propose_prompts

TOPICS = ["billing", "shipping", "login"]
ONE_WORD = Prompt("one_word", "Answer with the topic in one word. The ticket:\\n{body}")
VERBOSE = Prompt("verbose", "The ticket:\\n{body}\\nWhat is it about?")


@task(classify={"*": "internal"})
def tickets(n: int) -> pd.DataFrame:
    topics = [TOPICS[i % 3] for i in range(n)]
    return pd.DataFrame({"body": [f"ticket {i} is about {t}" for i, t in enumerate(topics)],
                         "answer": topics})


@task
def search(df: pd.DataFrame, url: str, chunk: int = 40, usd: float = 0.0) -> dict:
    return prompt_search([VERBOSE, ONE_WORD], df, model="openai:" + url, model_name="gen-1",
                         chunk=chunk, register="challenger",
                         price={"per_1k_output": usd})


@task
def judged_search(df: pd.DataFrame, url: str, judge_url: str) -> dict:
    return prompt_search([VERBOSE, ONE_WORD], df, model="openai:" + url, model_name="gen-1",
                         chunk=40, judge="openai:" + judge_url, judge_model="judge-1")


@task
def proposed(df: pd.DataFrame, url: str) -> dict:
    candidates = propose_prompts(VERBOSE, model="openai:" + url, model_name="gen-1", n=3)
    return prompt_search(candidates, df, model="openai:" + url, model_name="gen-1", chunk=40,
                         register="challenger")


@workflow
def choose(url: str, n: int = 120, chunk: int = 40, usd: float = 0.0):
    return search(tickets(n), url, chunk, usd)


@workflow
def rewritten(url: str, n: int = 120):
    return proposed(tickets(n), url)


@workflow
def judged(url: str, judge_url: str, n: int = 120):
    return judged_search(tickets(n), url, judge_url)
"""


def last_word(prompt: str) -> str:
    """The stand-in's answer: the last word of the prompt's last line."""
    lines = [line for line in prompt.strip().splitlines() if line.strip()]
    return lines[-1].split()[-1]


@pytest.fixture
def module(studio, tmp_path: Path) -> Path:
    root = tmp_path / "search"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "support/search"\ndescription = "prompt search"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "support")
    result = studio.cli("module", "push", str(root), "--no-tests", "--json")
    assert result.code == 0, result.stderr
    return root


@pytest.fixture
def endpoint():
    with chat_standin("gen-1", reply=last_word) as server:
        yield server


def test_the_search_stops_when_the_leader_is_ahead_and_registers_it(studio, module, endpoint):
    done = studio.ok("run", "support/search/choose:latestAlpha", "-p", f"url={endpoint.url}")
    assert done["state"] == "succeeded", done
    report = done["output_value"]
    assert report["winner"] == "one_word"
    assert report["stopped"] == "one_word is significantly ahead of every other candidate"
    assert report["items"] == 40 and len(report["looks"]) == 1  # stopped at the first look
    assert report["looks"][0]["means"] == {"verbose": 0.0, "one_word": 1.0}
    comparison = report["comparison"][0]
    assert comparison["baseline"] == "one_word" and comparison["verdict"] == "worse"
    assert report["interim_confidence"] == pytest.approx(1 - 0.05 / 3)
    assert len(endpoint.requests) == 80  # 40 items x 2 candidates, nothing more
    shown = studio.ok("prompt", "show", "support/search@challenger")
    assert shown["name"] == "one_word" and shown["module_version"] == 1
    assert shown["alias"]["report"]["winner"] == "one_word"
    listed = {p["name"]: p for p in studio.ok("prompt", "list", "support/search")}
    assert listed["one_word"]["aliases"] == ["challenger → @1"]
    moved = studio.ok("audit", "--action", "prompt.alias")
    assert moved[0]["resource"] == "prompt:support/search@challenger"


def test_a_budget_that_refuses_a_look_stops_the_search_with_the_reason(studio, module):
    # answers of 64 words (64 tokens, the most a call may take): every call costs what its
    # batch reserved, $0.064 at $1 per 1k. A look of 20 items x 2 candidates spends $2.56; the
    # next look's first batch (16 items, $1.024) does not fit in the $0.44 left of $3.
    studio.ok("namespace", "budget", "support", "--usd", "3")
    with chat_standin("gen-1", reply=lambda p: " ".join([last_word(p)] * 64)) as endpoint:
        done = studio.ok(
            "run", "support/search/choose:latestAlpha", "-p", f"url={endpoint.url}",
            "-p", "chunk=20", "-p", "usd=1",
        )  # fmt: skip
        assert len(endpoint.requests) == 40  # look 1 only: the refused look made no call
    report = done["output_value"]
    assert report["stopped"].startswith("the budget refused look 2: ")
    assert "needs up to $1.0240, but namespace support has $0.4400 left" in report["stopped"]
    assert report["items"] == 20 and report["winner"] is None
    assert report["cost_usd"] == pytest.approx(2.56)
    missing = studio.cli("prompt", "show", "support/search@challenger")
    assert missing.code == 3 and "has no prompt alias 'challenger'" in missing.stderr


def test_an_llm_judge_in_both_orders_picks_the_answer_that_matches_the_reference(
    studio, module, endpoint
):
    with chat_standin("judge-1") as judge:  # prefers the answer equal to the reference
        done = studio.ok(
            "run", "support/search/judged:latestAlpha", "-p", f"url={endpoint.url}",
            "-p", f"judge_url={judge.url}",
        )  # fmt: skip
        prompts = judge.prompts()
    report = done["output_value"]
    assert report["winner"] == "one_word" and report["items"] == 40
    assert report["metric"] == "pairwise LLM judge"
    verdict = report["comparison"][0]
    assert verdict["wins"] == {"verbose": 0, "one_word": 40} and verdict["inconsistent"] == 0
    assert verdict["ci"][0] > 0.5
    assert len(prompts) == 80  # every item judged twice, the answers swapped
    assert sum("Answer X:\nabout?" in p for p in prompts) == 40  # verbose's answer first
    assert sum("Answer Y:\nabout?" in p for p in prompts) == 40  # and second
    assert all("Reference answer:\n" in p for p in prompts)


def test_rewrites_proposed_by_a_model_compete_and_the_generated_winner_is_kept(studio, module):
    def reply(prompt: str) -> str:
        if prompt.startswith("Rewrite the prompt template"):
            return "1. The topic, in one word, of: {body}\n2. {body} (which topic?)\n3. {ticket}"
        return last_word(prompt)

    with chat_standin("gen-1", reply=reply) as endpoint:
        done = studio.ok("run", "support/search/rewritten:latestAlpha", "-p", f"url={endpoint.url}")
    report = done["output_value"]
    assert set(report["candidates"]) == {"verbose", "verbose_1", "verbose_2"}  # {ticket} dropped
    assert report["winner"] == "verbose_1" and report["registered"]["generated"] is True
    shown = studio.ok("prompt", "show", "support/search@challenger")
    assert shown["template"] == "The topic, in one word, of: {body}"
    assert shown["generated"] is True and shown["alias"]["report"]["winner"] == "verbose_1"


def test_too_few_items_for_one_look_is_refused_before_any_call(studio, module, endpoint):
    failed = studio.cli(
        "run", "support/search/choose:latestAlpha", "-p", f"url={endpoint.url}", "-p", "n=12",
        "--json",
    )  # fmt: skip
    assert failed.code == 1
    error = task_of(studio.ok("runs", "show", failed.json["id"]), "search")["error"]
    assert "the evaluation set has 12 items, fewer than one look (40)" in error
    assert endpoint.requests == []
