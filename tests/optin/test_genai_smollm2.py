"""SmolLM2-135M-Instruct, a real generative model shipped in a wheel: ``local:smollm2`` in
process, and behind ``llama_cpp.server`` (a real OpenAI-compatible server process) through the
``openai:`` provider — batch inference in a task, its kept answers on a re-run, and a prompt
search judged by exact match against reference answers."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstudio.testing.flows import task_of, wait_until


def test_the_local_model_generates_and_counts_its_tokens():
    from mlstudio.integrations.genai.registry import open_provider

    model = open_provider("local:smollm2")
    messages = [{"role": "user", "content": "Name the capital of France in one word."}]
    first = model.generate(messages, max_tokens=8)
    assert first.text and first.output_tokens > 0 and first.input_tokens > 5
    assert model.generate(messages, max_tokens=8).text == first.text  # temperature 0
    assert model.count_tokens("hello world") >= 2
    with pytest.raises(Exception, match="does not embed"):
        model.embed(["x"])


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    from mlstudio.integrations.genai.local_llm import gguf_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()),
         "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        def ready() -> bool:
            try:
                return httpx.get(url + "/models", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, "llama_cpp.server to answer", 120)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


TASKS = """
import pandas as pd

from mlstudio import task, workflow
from mlstudio.genai import Prompt, llm_batch, prompt_search

SUMMARY = Prompt("summary", "Summarize in at most eight words:\\n{body}")
TERSE = Prompt("terse", "Answer with one word, yes or no. {question}")
CHATTY = Prompt("chatty", "{question} Explain your reasoning at length.")


@task(classify={"*": "internal"})
def tickets(n: int) -> pd.DataFrame:
    return pd.DataFrame({"body": [f"Ticket {i}: my invoice was charged twice in May." for i in range(n)]})


@task(classify={"*": "internal"})
def questions() -> pd.DataFrame:
    rows = [("Is the sky blue on a clear day?", "yes"), ("Is fire cold?", "no"),
            ("Is water wet?", "yes"), ("Do fish live in trees?", "no")] * 5
    return pd.DataFrame({"question": [q for q, _ in rows], "answer": [a for _, a in rows]})


@task
def summarize(df: pd.DataFrame, url: str) -> pd.DataFrame:
    return llm_batch(df, model="openai:" + url, model_name="smollm2", prompt=SUMMARY,
                     max_tokens=24, concurrency=1).to_pandas()


@task
def search(df: pd.DataFrame, url: str) -> dict:
    return prompt_search([CHATTY, TERSE], df, model="openai:" + url, model_name="smollm2",
                         chunk=10, max_tokens=4)


@workflow
def summaries(url: str, n: int = 6):
    return summarize(tickets(n), url)


@workflow
def choose(url: str):
    return search(questions(), url)
"""


def test_batch_inference_and_prompt_search_through_the_llama_server(studio, llama_server, tmp_path):
    root = tmp_path / "llm"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "llm/demo"\ndescription = "smollm2"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "llm")
    assert studio.cli("module", "push", str(root), "--no-tests").code == 0
    first = studio.ok("run", "llm/demo/summaries:latestAlpha", "-p", f"url={llama_server}")
    assert first["state"] == "succeeded", first
    again = studio.ok("run", "llm/demo/summaries:latestAlpha", "-p", f"url={llama_server}",
                      "--no-cache")  # fmt: skip
    result = studio.cli("runs", "output", again["id"], "--task", "summarize", "--json")
    rows = result.json["value"]
    assert len(rows) == 6 and all(r["status"] == "ok" and r["output"] for r in rows)
    assert all(r["cached"] for r in rows)  # the re-run asked the model nothing
    chosen = studio.ok("run", "llm/demo/choose:latestAlpha", "-p", f"url={llama_server}")
    report = chosen["output_value"]
    assert report["items"] >= 10 and report["looks"], report
    assert set(report["looks"][0]["means"]) == {"chatty", "terse"}
    assert task_of(studio.ok("runs", "show", chosen["id"]), "search")["state"] == "succeeded"


def test_the_tier_has_its_packages():
    import llama_cpp

    from mlstudio.integrations.genai.local_llm import gguf_path

    assert Path(gguf_path()).stat().st_size > 50_000_000
    assert llama_cpp.__version__
