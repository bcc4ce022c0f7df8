"""Multiple-testing adjustment (Holm, Benjamini-Hochberg) and per-slice comparisons.

Every tested slice of every slice column is one hypothesis in one family; ``adjust`` is public so
the caller can put several metrics' slices into one family too. Slices with fewer than ``min_n``
pairs are reported (means, delta, CI) but not tested and not in the family.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.stats import PairedResult, as_scores, paired_compare

METHODS = ("holm", "bh")


def adjust(p_values: Sequence[float | None], method: str = "holm") -> list[float | None]:
    """Adjusted p-values in the input order; ``None`` entries stay None and are not counted.

    ``holm``: step-down family-wise error control; ``bh``: Benjamini-Hochberg false discovery
    rate (``scipy.stats.false_discovery_control``).
    """
    import numpy as np
    from scipy.stats import false_discovery_control

    if method not in METHODS:
        raise InvalidInputError(
            f"unknown adjustment method {method!r}", hint=f"use one of {', '.join(METHODS)}"
        )
    present = [i for i, p in enumerate(p_values) if p is not None]
    values = np.array([float(p_values[i]) for i in present], dtype=float)  # type: ignore[arg-type]
    if values.size and not ((values >= 0) & (values <= 1)).all():
        raise InvalidInputError(
            "p-values must be between 0 and 1", hint="pass None for untested hypotheses"
        )
    out: list[float | None] = [None] * len(p_values)
    if not values.size:
        return out
    if method == "bh":
        adjusted = false_discovery_control(values, method="bh")
    else:
        m = len(values)
        order = np.argsort(values, kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * values[order])
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
    for i, p in zip(present, adjusted, strict=True):
        out[i] = float(p)
    return out


@dataclass(frozen=True)
class SliceResult:
    """One slice (``column == value``) of the evaluation items."""

    column: str
    value: Any
    n: int
    tested: bool
    result: PairedResult | None
    adjusted_p: float | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return {
            "column": self.column,
            "value": value,
            "n": self.n,
            "tested": self.tested,
            "result": self.result.to_dict() if self.result is not None else None,
            "adjusted_p": self.adjusted_p,
            "note": self.note,
        }


def _groups(values: Sequence[Any]) -> list[tuple[Any, list[int]]]:
    """Slice value -> item positions; missing labels (None, NaN) form one group, value None."""
    groups: dict[Any, list[int]] = {}
    for i, value in enumerate(list(values)):
        if hasattr(value, "item"):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = None
        groups.setdefault(value, []).append(i)
    keys = list(groups)
    with contextlib.suppress(TypeError):  # unorderable labels: first appearance
        keys.sort(key=lambda k: (k is None, k))
    return [(key, groups[key]) for key in keys]


def compare_slices(
    a: Any,
    b: Any,
    labels: Mapping[str, Sequence[Any]],
    *,
    min_n: int = 10,
    method: str = "holm",
    **compare_kw: Any,
) -> list[SliceResult]:
    """``paired_compare`` on every slice of every label column, adjusted as one family.

    ``compare_kw`` goes to ``paired_compare`` (``clusters`` is sliced with the items). Slice
    ``k`` uses ``seed + k`` so slices do not share random streams. ``n`` counts the slice's pairs
    after NaN pairs are dropped.
    """
    import numpy as np

    if method not in METHODS:
        raise InvalidInputError(
            f"unknown adjustment method {method!r}", hint=f"use one of {', '.join(METHODS)}"
        )
    xa, xb = as_scores(a, "a"), as_scores(b, "b")
    if len(xa) != len(xb):
        raise InvalidInputError(
            f"a has {len(xa)} scores but b has {len(xb)}",
            hint="score both candidates on the same items, in the same order",
        )
    clusters = compare_kw.pop("clusters", None)
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.ndim != 1 or len(clusters) != len(xa):
            raise InvalidInputError(
                f"clusters has {len(clusters)} labels for {len(xa)} items",
                hint="pass one cluster label per item",
            )
    seed = int(compare_kw.pop("seed", 0))
    valid = ~(np.isnan(xa) | np.isnan(xb))
    slices: list[SliceResult] = []
    k = 0
    for column, values in labels.items():
        if len(values) != len(xa):
            raise InvalidInputError(
                f"slice column {column!r} has {len(values)} labels for {len(xa)} items",
                hint="pass one label per item, in the same order as the scores",
            )
        for value, positions in _groups(values):
            idx = np.asarray(positions, dtype=np.intp)
            pairs = int(valid[idx].sum())
            result = paired_compare(
                xa[idx],
                xb[idx],
                clusters=None if clusters is None else clusters[idx],
                seed=seed + k,
                **compare_kw,
            )
            k += 1
            tested = pairs >= min_n and result.p_value is not None
            note = None
            if pairs < min_n:
                note = f"{pairs} items: reported, not tested (min {min_n})"
                result = replace(
                    result,
                    p_value=None,
                    verdict="untestable",
                    mde=None,
                    required_n=None,
                    notes=(*result.notes, note),
                )
            elif result.p_value is None:
                note = "not testable: " + ("; ".join(result.notes) or "no variation")
            slices.append(SliceResult(column, value, pairs, tested, result, None, note))
    adjusted = adjust([s.result.p_value if s.tested and s.result else None for s in slices], method)
    return [replace(s, adjusted_p=p) for s, p in zip(slices, adjusted, strict=True)]
