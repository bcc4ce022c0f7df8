"""A drift reference: a dataset (``NS/NAME[@V]``, e.g. the training set) or a window of the
monitored source itself (``window:FROM..TO``, TO excluded: e.g. a deployment's first weeks of
traffic, for a model whose training set is not a dataset).

A window reference is read from the source's rows at each run, so it needs no second read
right. Windows that end before TO are not judged for drift (they would be compared with
themselves); until the reference window is complete, drift waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.monitoring.windows import Frame, parse_window, window_key

PREFIX = "window:"
_HINT = "use window:FROM..TO (TO excluded), e.g. window:2026-01-05..2026-02-02"


@dataclass(frozen=True)
class ReferenceWindow:
    start: str
    end: str

    def periods(self, period: str) -> tuple[int, int]:
        return parse_window(self.start, period), parse_window(self.end, period)


def parse_reference(text: str) -> ReferenceWindow | None:
    """The window of a ``window:FROM..TO`` reference, or None for a dataset reference
    (checked as a dataset ref)."""
    if not text.startswith(PREFIX):
        from mlstudio.data.catalog import parse_dataset_ref

        parse_dataset_ref(text)
        return None
    start, sep, end = text.removeprefix(PREFIX).partition("..")
    if not sep or not start.strip() or not end.strip():
        raise InvalidInputError(f"invalid reference window {text!r}", hint=_HINT)
    window = ReferenceWindow(start.strip(), end.strip())
    lo, hi = window.periods("hour")
    if hi <= lo:
        raise InvalidInputError(f"reference window {text!r} ends before it starts", hint=_HINT)
    return window


def reference_columns(
    reference: str,
    fr: Frame,
    period: str,
    columns: Sequence[str],
    todo: list[int],
    read_dataset: Callable[[str], Any],
) -> tuple[dict[str, Any], list[int], dict[str, Any] | None]:
    """``(columns of the reference, the windows to judge, a note or None)``."""
    window = parse_reference(reference)
    if window is None:
        ref = read_dataset(reference)
        cols = {
            c: ref.column(c).to_numpy(zero_copy_only=False)
            for c in columns
            if c in ref.column_names
        }
        return cols, todo, None
    lo, hi = window.periods(period)
    if hi > fr.now_period:
        note = {"until": window_key(hi, period), "reason": "the reference window is not complete"}
        return {}, [], note
    inside = (fr.period >= lo) & (fr.period < hi)
    if not inside.any():
        return {}, [], {"reason": f"the reference window {reference} has no rows"}
    cols = {c: fr.columns[c][inside] for c in columns if c in fr.columns}
    return cols, [p for p in todo if p >= hi], None
