"""The shell blocks of Markdown docs, as a test runs them: parsed in order, run in one shell.

What runs:

- every ```` ```bash ```` (``sh``, ``shell``) block: each line is a command (``\\`` continues
  a line, a here-document runs as one command); every command must exit 0;
- every ```` ```console ```` block: each ``$ `` line is a command and the lines after it are
  its sample output. A command whose sample output starts with ``error:`` is documented to
  fail: it must exit non-zero, and its ``error:`` line must start with the documented text
  (up to the first ``…``).

An HTML comment on the line before a block changes how it is run:

- ``<!-- docs-test: skip (reason) -->``: not run (illustrative; the reason is required);
- ``<!-- docs-test: server -->``: run against a real ``mlstudio server`` on the same home
  (``MLSTUDIO_URL`` and ``MLSTUDIO_TOKEN`` are set for it);
- ``<!-- docs-test: instead `COMMAND` (reason) -->``: run ``COMMAND`` in its place (e.g. the
  install line: the test runs the package it was installed with);
- ``<!-- docs-test: file PATH -->``: the block (of any language) is written to ``PATH`` in the
  working folder, so the commands after it can use it.

Ids in commands written with an ellipsis (``run_01a2…``, ``dcl_…``) stand for the newest id
of that kind printed by an earlier command.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SHELLS = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(?P<word>[A-Za-z_]\w*)['\"]?")
_PLACEHOLDER = re.compile(r"\b(?P<kind>[a-z]+)_[0-9a-f]*…")
_ID = re.compile(r"\b(?P<kind>[a-z]+)_[0-9a-f]{22}\b")


class DocError(ValueError):
    """A doc a test cannot run as written (an unknown marker, a skip without a reason)."""


@dataclass(frozen=True)
class Command:
    text: str
    line: int
    error: str | None = None  # documented error text (console blocks), or None: must exit 0


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    body: str
    mode: str = "run"  # run | skip | server | instead | file
    argument: str = ""  # skip/instead: the reason; instead: the command; file: the path
    commands: tuple[Command, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.doc.name}:{self.line}"


def _marker(text: str, doc: Path, line: int) -> tuple[str, str, str]:
    """``(mode, argument, reason)`` of a ``docs-test:`` comment."""
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    where = f"{doc.name}:{line}"
    if word == "server" and not rest:
        return "server", "", ""
    if word == "skip":
        match = re.fullmatch(r"\((.+)\)", rest)
        if not match:
            raise DocError(f"{where}: docs-test: skip needs a reason: skip (why)")
        return "skip", match.group(1), match.group(1)
    if word == "instead":
        match = re.fullmatch(r"`([^`]+)`\s*\((.+)\)", rest)
        if not match:
            raise DocError(f"{where}: use docs-test: instead `COMMAND` (why)")
        return "instead", match.group(1), match.group(2)
    if word == "file" and rest and " " not in rest:
        if Path(rest).is_absolute() or ".." in Path(rest).parts:
            raise DocError(f"{where}: docs-test: file takes a path inside the working folder")
        return "file", rest, ""
    raise DocError(
        f"{where}: unknown marker 'docs-test: {text}' (use skip (why), server, "
        "instead `COMMAND` (why) or file PATH)"
    )


def parse_doc(path: Path) -> list[Block]:
    """Every shell block of ``path`` (and every block with a marker), in document order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: tuple[str, str, int] | None = None  # (mode, argument, line) of the last marker
    i = 0
    while i < len(lines):
        marker = _MARKER.match(lines[i])
        if marker:
            mode, argument, _reason = _marker(marker.group("body"), path, i + 1)
            pending = (mode, argument, i + 1)
            i += 1
            continue
        fence = _FENCE.match(lines[i])
        if not fence:
            if lines[i].strip() and pending is not None:
                raise DocError(f"{path.name}:{pending[2]}: a docs-test marker must precede a block")
            i += 1
            continue
        start, closing, lang = i + 1, fence.group("fence"), fence.group("lang").lower()
        body_lines: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(closing):
            body_lines.append(lines[i][len(fence.group("indent")) :])
            i += 1
        i += 1  # the closing fence
        mode, argument = (pending[0], pending[1]) if pending else ("run", "")
        pending = None
        if lang not in SHELLS and mode != "file":
            continue
        body = "\n".join(body_lines) + "\n"
        commands: tuple[Command, ...] = ()
        if mode in ("run", "server"):
            split = console_commands if lang == "console" else bash_commands
            commands = tuple(split(body_lines, start + 1))
        blocks.append(Block(path, start, lang, body, mode, argument, commands))
    return blocks


def bash_commands(lines: list[str], first_line: int) -> list[Command]:
    """The commands of a bash block: ``\\`` continuations joined, here-documents kept whole."""
    out: list[Command] = []
    i = 0
    while i < len(lines):
        text, number = lines[i], first_line + i
        i += 1
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        while text.endswith("\\") and i < len(lines):
            text += "\n" + lines[i]
            i += 1
        heredoc = _HEREDOC.search(text)
        if heredoc:
            while i < len(lines):
                text += "\n" + lines[i]
                i += 1
                if lines[i - 1].strip() == heredoc.group("word"):
                    break
        out.append(Command(text, number))
    return out


def console_commands(lines: list[str], first_line: int) -> list[Command]:
    """The ``$ `` commands of a console block, each with the error its sample output shows."""
    out: list[Command] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        text, number = lines[i][2:], first_line + i
        i += 1
        while text.endswith("\\") and i < len(lines):
            text += "\n" + lines[i]
            i += 1
        error = None
        if i < len(lines) and lines[i].startswith("error: "):
            error = lines[i][len("error: ") :]
        out.append(Command(text, number, error))
    return out


def documented_prefix(error: str) -> str:
    """The part of a documented error line a real one must start with: up to the first ``…``
    (and without the ``(`` that opens an elided hint)."""
    head = error.split("…", 1)[0]
    return head.rstrip().removesuffix("(").rstrip() if "…" in error else head.rstrip()


@dataclass
class Ids:
    """The newest id of every kind (``run``, ``tok``, ``dcl``, …) that commands printed."""

    newest: dict[str, str] = field(default_factory=dict)

    def saw(self, text: str) -> None:
        for match in _ID.finditer(text):
            self.newest[match.group("kind")] = match.group(0)

    def fill(self, text: str) -> str:
        """``text`` with each ``KIND_…`` placeholder replaced by the newest id of that kind."""

        def replace(match: re.Match[str]) -> str:
            found = self.newest.get(match.group("kind"))
            if found is None:
                raise DocError(
                    f"{match.group(0)} stands for an id no earlier command printed "
                    f"(kinds seen: {', '.join(sorted(self.newest)) or 'none'})"
                )
            return found

        return _PLACEHOLDER.sub(replace, text)


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


class ShellSession:
    """One ``bash`` process that runs commands one after another (variables, ``export`` and
    ``cd`` carry over, as in a terminal); each command's output goes to its own files."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.outputs = cwd.parent / f"{cwd.name}-outputs"
        self.outputs.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._send("set -o pipefail\n")

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, command: str, timeout_s: float) -> Outcome:
        """Run ``command``; its exit code and output. Raises TimeoutError past ``timeout_s``."""
        self.count += 1
        out = self.outputs / f"{self.count}.out"
        err = self.outputs / f"{self.count}.err"
        sentinel = f"__docs_test_done_{self.count}__"
        self._send(f"{{\n{command}\n}} >{out} 2>{err} </dev/null\nprintf '{sentinel} %d\\n' $?\n")
        code = self._wait_for(sentinel, timeout_s)
        return Outcome(code, out.read_text(errors="replace"), err.read_text(errors="replace"))

    def _wait_for(self, sentinel: str, timeout_s: float) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    raise TimeoutError(f"no answer within {timeout_s:g} s")
                if not selector.select(timeout=left):
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the shell exited ({self.proc.wait()})")
                if line.startswith(sentinel):
                    return int(line.split()[-1])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
