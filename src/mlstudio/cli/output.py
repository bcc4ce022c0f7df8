"""How every command prints: JSON on stdout with ``--json``, Rich text otherwise, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 test``, ``2 tests`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def emit(data: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    if as_json or human is None:
        sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
    else:
        human(data)


@contextmanager
def progress_status(as_json: bool, initial: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr with the current step; silent under ``--json`` or without a TTY."""
    if as_json or not sys.stderr.isatty():
        yield lambda _msg: None
        return
    con = console(stderr=True)
    with con.status(initial) as status:
        yield lambda msg: status.update(msg)


def table(
    title: str | None, columns: Sequence[Any], rows: list[list[Any]], *, wide: bool = False
) -> None:
    """Print a table: ids and names (``tables.Col(key=True)``; by default the first column) are
    never cut, less important columns (``Col(drop=N)``) give way on a narrow terminal, and
    ``wide`` shows every column at full width. See :mod:`mlstudio.cli.tables`."""
    from mlstudio.cli.tables import render

    render(title, columns, rows, wide=wide)


def size(n: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 KiB``, ``12.0 MiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
