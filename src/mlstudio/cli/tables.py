"""Tables that fit the terminal without cutting what matters.

An id or a name is never cut: such a column (:attr:`Col.key`; by default the first one) is
kept on one line (folded onto more lines only when the ids and names alone are wider than
the terminal). Other cells wrap, and a word longer than its column folds onto the next
line instead of ending in ``…``. When the key columns and the shortest readable width of the
others do not fit, the less important columns (:attr:`Col.drop`, highest first) are left out
and named under the table; ``--wide`` shows every column, each at its full width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

WideFlag = Annotated[
    bool, typer.Option("--wide", help="Show every column at full width (lines may wrap).")
]

_BORDERS = 1  # the table's left edge
_PER_COLUMN = 3  # padding on both sides and the right edge


@dataclass(frozen=True)
class Col:
    """A column: ``key`` columns (ids, names) are never cut or dropped; ``drop`` > 0 marks a
    column that may be left out when the table is too wide (higher goes first)."""

    header: str
    key: bool = False
    drop: int = 0


def columns_of(columns: Sequence[str | Col]) -> list[Col]:
    """Plain headers become columns; the first is a key column unless said otherwise."""
    out = [c if isinstance(c, Col) else Col(c) for c in columns]
    if out and not any(c.key for c in out) and not isinstance(columns[0], Col):
        out[0] = Col(out[0].header, key=True, drop=0)
    return out


def _longest_line(texts: Sequence[str]) -> int:
    return max((len(line) for text in texts for line in text.splitlines() or [""]), default=0)


def _longest_word(texts: Sequence[str]) -> int:
    return max((len(word) for text in texts for word in text.split()), default=0)


def rigid(column: Col, index: int, rows: list[list[str]]) -> bool:
    """Never wrapped: a key column, or one of single words (times, states, numbers), which
    rich would otherwise squeeze below its words when it makes room."""
    return column.key or all(len(row[index].split()) <= 1 for row in rows)


def need(columns: list[Col], rows: list[list[str]]) -> list[int]:
    """The narrowest each column can be without cutting or splitting a word."""
    return [
        (_longest_line if rigid(c, i, rows) else _longest_word)([c.header, *[r[i] for r in rows]])
        for i, c in enumerate(columns)
    ]


def total_width(widths: Sequence[int]) -> int:
    return _BORDERS + sum(w + _PER_COLUMN for w in widths)


def fit(columns: list[Col], rows: list[list[str]], width: int) -> list[int]:
    """Indexes of the columns to show in ``width`` characters: a rigid column needs its
    longest line (header included), another its longest word; columns are dropped (highest
    ``drop`` first) until the rest fits, or none is left to drop."""
    needed = need(columns, rows)
    shown = list(range(len(columns)))

    def total() -> int:
        return total_width([needed[i] for i in shown])

    for index in sorted(
        (i for i, c in enumerate(columns) if c.drop > 0 and not c.key),
        key=lambda i: (-columns[i].drop, -i),
    ):
        if total() <= width:
            break
        shown.remove(index)
    return shown


def render(
    title: str | None,
    columns: Sequence[str | Col],
    rows: list[list[Any]],
    *,
    wide: bool = False,
) -> None:
    """Print a table to stdout (see the module's docstring for what is kept)."""
    from rich.table import Table

    from mlstudio.cli.output import console

    cols = columns_of(columns)
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    out = console()
    shown = list(range(len(cols))) if wide else fit(cols, cells, out.width)
    needed = need(cols, cells)
    # even the ids and names alone are too wide: fold them onto more lines rather than crop
    squeezed = not wide and total_width([needed[i] for i in shown]) > out.width
    hidden = [cols[i].header for i in range(len(cols)) if i not in shown]
    caption = f"not shown: {', '.join(hidden)} (--wide shows every column)" if hidden else None
    t = Table(
        title=title,
        show_lines=False,
        header_style="bold",
        caption=caption,
        caption_justify="left",
    )
    for i in shown:
        column = cols[i]
        keep_whole = wide or (rigid(column, i, cells) and not squeezed)
        t.add_column(column.header, no_wrap=keep_whole, overflow="fold")
    for row in cells:
        t.add_row(*[row[i] for i in shown])
    if wide:  # as wide as the table needs: the terminal wraps long lines, nothing is cut
        natural = out.measure(t, options=out.options.update(width=10_000)).maximum
        out.width = max(out.width, natural)
    out.print(t)
