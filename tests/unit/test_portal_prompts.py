"""The portal's prompt pages and run costs in process (FastAPI's TestClient on a SQLite home):
prompts listed with their variables and aliases, a prompt's page with its template and the
report of the search that chose it, and a run's model-call cost on the runs list and the run
page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlstudio.testing.chat import chat_standin, summary_for

SQLITE = pytest.mark.parametrize("studio", ["sqlite"], indirect=True)

TASKS = """
import pandas as pd

from mlstudio import task, workflow
from mlstudio.genai import Prompt, llm_batch

SHORT = Prompt("short", "Summarize in five words: {body}", description="queue view")
LONG = Prompt("long", "Summarize: {body}", system="Be {tone}.",
              variables={"body": "string", "tone": "string"})


@task(classify={"*": "internal"})
def tickets() -> pd.DataFrame:
    return pd.DataFrame({"body": [f"ticket {i} paid twice" for i in range(4)]})


@task
def summarize(df: pd.DataFrame, url: str) -> pd.DataFrame:
    return llm_batch(df, model="openai:" + url, model_name="gen-1", prompt=SHORT,
                     price={"per_1k_output": 10.0}).to_pandas()


@workflow
def flow(url: str):
    return summarize(tickets(), url)
"""


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', html)[1]


@SQLITE
def test_prompt_pages_and_run_costs(studio, tmp_path: Path):
    from mlstudio.api.app import create_app
    from mlstudio.integrations.evaluation.compare import evaluate
    from mlstudio.integrations.genai.prompt_registry import set_alias

    root = tmp_path / "m"
    root.mkdir()
    (root / "module.toml").write_text('[module]\nname = "ui/gen"\nrequirements = []\n')
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "ui")
    assert studio.cli("module", "push", str(root), "--no-tests").code == 0
    with chat_standin("gen-1", reply=summary_for) as endpoint:
        run = studio.ok("run", "ui/gen/flow:latestAlpha", "-p", f"url={endpoint.url}")
    assert run["state"] == "succeeded", run
    platform = studio.platform()
    try:
        report = evaluate(["a"] * 20, {"short": ["a"] * 20, "long": ["b"] * 20})
        set_alias(platform, "alice", "ui/gen", "challenger", "short", 1,
                  {"stopped": "short is ahead", "items": 20, "comparison": report["comparisons"]})  # fmt: skip
        with TestClient(create_app(platform), follow_redirects=False) as client:
            _record, token = platform.tokens.create("alice")
            form = client.get("/ui/signin")
            client.post("/ui/signin", data={"token": token, "csrf": csrf_of(form.text)})
            listed = client.get("/ui/prompts").text
            assert 'data-prompt="ui/gen/short"' in listed and "challenger → @1" in listed
            assert "<code>tone</code>: string" in listed
            page = client.get("/ui/prompts/ui/gen/long@1").text
            assert '<pre id="template">Summarize: {body}</pre>' in page
            assert '<pre id="system">Be {tone}.</pre>' in page
            alias = client.get("/ui/prompts/ui/gen@challenger").text
            assert "Alias challenger" in alias and "short is ahead (20 items)" in alias
            assert "mcnemar" in alias and "worse" in alias
            missing = client.get("/ui/prompts/ui/gen/nope@1")
            assert missing.status_code == 404 and "defines no prompt" in missing.text
            runs = client.get("/ui/runs").text
            cost = re.search(rf'data-run="{run["id"]}".*?<td data-cost>([^<]*)</td>', runs, re.S)
            assert cost and cost[1].startswith("$0.") and cost[1] != "$0.0000"
            shown = client.get(f"/ui/runs/{run['id']}").text
            assert 'id="cost">cost $0.' in shown
    finally:
        platform.close()
