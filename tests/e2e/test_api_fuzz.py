"""Schemathesis against a real ``mlstudio server``: no 5xx, no response outside the document.

A server process on each backend, with some state in it (a namespace, a pushed module, a
dataset, a run, a schedule, a webhook) and an admin token; then ``st run`` over its own OpenAPI
document with every check (``--checks all``), a fixed seed and a bounded number of examples per
operation, so the run is reproducible and takes well under two minutes. Accepted deviations from
the checks' defaults are in ``schemathesis.toml`` beside this file, each with its reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlstudio.testing.flows import working_copy
from mlstudio.workflows.options import RunOptions

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20241202
MAX_EXAMPLES = 6
ST_TIMEOUT_S = 300  # a hang, not the budget: a run takes ~20 s on two cores

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

MANIFEST = '[module]\nname = "team/app"\ndescription = "an app"\nowners = ["alice"]\n'
TASKS = """
from mlstudio import task, workflow

@task
def hello(name: str = "world") -> str:
    return f"hello {name}"

@workflow
def main(name: str = "world") -> str:
    return hello(name)
"""


def schemathesis_cli() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    if found is None:  # pragma: no cover - the dev extra installs it
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    return found


def seed_state(server, tmp_path: Path) -> None:
    """Something for the operations to find: without it most answer 404 and test little."""
    platform = server.platform()
    platform.modules.create_namespace("alice", "team")
    platform.identity.add_user("alice", "bob")
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "module.toml").write_text(MANIFEST)
    (folder / "tasks.py").write_text(TASKS)
    platform.modules.push("alice", folder, run_tests=False)
    data = tmp_path / "customers.csv"
    data.write_text("id,plan\n1,pro\n2,free\n")
    platform.datasets.import_file("alice", data, "team/customers", classify=["id=internal"])
    flow = working_copy(tmp_path)
    platform.runs.submit("alice", flow, {}, RunOptions(domain="experimentation"))
    platform.schedules.add("alice", flow, "0 * * * *")
    platform.webhooks.subscribe("alice", "http://127.0.0.1:9/hook", ["run.succeeded"])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_schemathesis_finds_no_server_error_or_schema_violation(server_factory, backend, tmp_path):
    server = server_factory(backend, "--no-workers")
    seed_state(server, tmp_path)
    token = server.token("alice")
    report = tmp_path / "st-report.json"
    args = [
        schemathesis_cli(),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",  # hypothesis' lambda descriptions are not thread-safe (a SystemError in ast)
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=ST_TIMEOUT_S, cwd=tmp_path, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"schemathesis found problems ({backend}):\n{output[-30000:]}\n"
        f"--- server log\n{server.log_text()[-10000:]}"
    )
    assert "Tested:" in output and report.exists(), output[-5000:]
    tested = json.loads(report.read_text())
    assert tested, "an empty report: nothing was tested"
    assert "Traceback" not in server.log_text(), server.log_text()[-10000:]
