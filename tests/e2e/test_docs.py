"""Every shell block of README.md and docs/*.md runs as written, in order, on a fresh home.

How blocks are read and marked: :mod:`mlstudio.testing.docs`. One document is one test with its
own home and working folder; the installed ``mlstudio`` runs in one shell session, as a reader
would type the commands. Blocks marked ``server`` run against a real server (and a worker) on
the same home.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from mlstudio.testing.docs import (
    SHELLS,
    Block,
    DocError,
    Ids,
    Outcome,
    ShellSession,
    parse_doc,
)
from mlstudio.testing.docs import documented_prefix as prefix_of
from mlstudio.testing.flows import mlstudio_executable
from mlstudio.testing.servers import Server, clean_env, start_server
from mlstudio.workflows.records import RUN_TERMINAL

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 300.0


def _shell_env(home: Path) -> dict[str, str]:
    env = clean_env(home, "")
    env.pop("MLSTUDIO_DATABASE_URL")  # the documented default: SQLite in the home
    env["PATH"] = f"{Path(mlstudio_executable()).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    return env


class DocRun:
    """One document's commands, their shell, ids seen so far and the server (once needed)."""

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "home"
        self.work = tmp / "work"
        self.work.mkdir(parents=True)
        self.shell = ShellSession(self.work, _shell_env(self.home))
        self.ids = Ids()
        self.server: Server | None = None
        self.worker = None

    def run(self, text: str) -> Outcome:
        outcome = self.shell.run(text, COMMAND_TIMEOUT_S)
        self.ids.saw(outcome.stdout + outcome.stderr)
        return outcome

    def serve(self) -> None:
        if self.server is None:
            self.server = start_server(self.home, f"sqlite:///{(self.home / 'studio.db')}")
            self.worker = self.server.spawn("worker", "--concurrency", "2")
        token = self.server.token("alice")
        self.run(f"export MLSTUDIO_URL={self.server.url} MLSTUDIO_TOKEN={token}")

    def settle(self) -> None:
        """Wait (with a deadline) until no run a command left in the background is unfinished."""
        import time

        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            listed = self.run("mlstudio runs list --limit 1000 --json")
            assert listed.code == 0, listed.stderr
            going = [r["id"] for r in json.loads(listed.stdout) if r["state"] not in RUN_TERMINAL]
            if not going:
                return
            assert time.monotonic() < deadline, f"runs still unfinished: {going}"
            time.sleep(0.5)

    def close(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            self.worker.wait(timeout=60)
        if self.server is not None:
            self.server.stop()
        self.shell.close()


def _failure(block: Block, line: int, text: str, why: str, outcome: Outcome | None) -> str:
    shown = [f"{block.doc.name}:{line}: {text}", f"  {why}"]
    if outcome is not None:
        shown += [f"  stdout: {outcome.stdout[-3000:]}", f"  stderr: {outcome.stderr[-3000:]}"]
    return "\n".join(shown)


def _check(block: Block, doc_run: DocRun) -> None:
    for command in block.commands:
        try:
            text = doc_run.ids.fill(command.text)
        except DocError as exc:
            pytest.fail(_failure(block, command.line, command.text, str(exc), None))
        outcome = doc_run.run(text)
        if command.error is None:
            if outcome.code != 0:
                why = f"exited {outcome.code}; documented to succeed"
                pytest.fail(_failure(block, command.line, text, why, outcome))
            continue
        expected = prefix_of(doc_run.ids.fill(command.error))
        actual = outcome.stderr.strip().splitlines()[-1] if outcome.stderr.strip() else ""
        if outcome.code == 0 or not actual.startswith(f"error: {expected}"):
            why = f"documented to fail with 'error: {expected}…' (exit {outcome.code})"
            pytest.fail(_failure(block, command.line, text, why, outcome))


def _has_shell_blocks(doc: Path) -> bool:
    fences = re.findall(r"^\s*(?:```|~~~)\s*(\w+)", doc.read_text(encoding="utf-8"), re.M)
    return any(lang.lower() in SHELLS for lang in fences)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "doc", [d for d in DOCS if _has_shell_blocks(d)], ids=lambda d: str(d.relative_to(REPO))
)
def test_every_documented_command_works_as_written(doc: Path, tmp_path: Path) -> None:
    blocks = parse_doc(doc)
    assert any(b.commands for b in blocks), f"{doc.name}: no command to run"
    doc_run = DocRun(tmp_path)
    try:
        for block in blocks:
            if block.mode == "skip":
                continue
            if block.mode == "file":
                target = doc_run.work / block.argument
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.body, encoding="utf-8")
                continue
            if block.mode == "instead":
                outcome = doc_run.run(block.argument)
                if outcome.code != 0:
                    pytest.fail(_failure(block, block.line, block.argument, "failed", outcome))
                continue
            if block.mode == "server":
                doc_run.serve()
            try:
                _check(block, doc_run)
            finally:
                if block.mode == "server":
                    doc_run.run("unset MLSTUDIO_URL MLSTUDIO_TOKEN")
        doc_run.settle()
    finally:
        doc_run.close()
