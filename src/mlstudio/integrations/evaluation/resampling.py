"""Bootstrap resampling for the paired comparison (:mod:`.stats`): exactly uniform index
draws, resampled sums over reused buffers, multinomial counts for few-valued scores, and
draws shared by equal-size slices of one comparison (:func:`shared_draws`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstudio.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

_CHUNK_ELEMENTS = 1_000_000  # permutation draws generated at once: bounds memory
_INDEX_CHUNK = 200_000  # bootstrap indices drawn at once: 1.6 MB, stays in cache


def _chunks(total: int, width: int, elements: int = _CHUNK_ELEMENTS) -> list[int]:
    rows = max(1, elements // max(1, width))
    return [min(rows, total - start) for start in range(0, total, rows)]


_MASK32 = 0xFFFFFFFF
_U32 = "<u4" if sys.byteorder == "little" else ">u4"  # native uint32
_LITTLE = sys.byteorder == "little"


def resample_indices(n: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(rows, n)`` int64 array of item indices drawn uniformly from ``0..n-1``."""
    return uniform_below(n, rows * n, rng).reshape(rows, n)


def uniform_below(
    n: int, size: int, rng: np.random.Generator, out: np.ndarray | None = None
) -> np.ndarray:
    """``size`` integers drawn uniformly from ``0..n-1`` (``0 < n < 2**32``), int64.

    Lemire's multiply-shift on the 32-bit halves of the generator's raw 64-bit output,
    vectorised, with its rejection step (a draw whose low 32 bits fall below ``2**32 mod n`` is
    redrawn), so every value is exactly uniform: the algorithm ``Generator.integers`` runs one
    value at a time, at a fraction of its per-value cost. Reproducible for a generator state.
    ``out`` (a uint64 or int64 buffer of at least ``size``) is filled and a view of it returned:
    the bootstrap reuses one buffer for every chunk, so no pass allocates fresh pages.
    """
    import numpy as np

    if not 0 < n < 2**32:
        raise InvalidInputError(f"cannot draw below {n}", hint="pass 1 to 2**32 - 1 items")
    half = (size + 1) // 2
    raw = rng.bit_generator.random_raw(half).view(_U32)  # two 32-bit draws per 64 bits
    if out is None or len(out) < 2 * half:
        out = np.empty(2 * half, dtype=np.uint64)
    scaled = out[: 2 * half].view(np.uint64)
    # the low halves of the raw draws first, then the high halves (as uint64: the product
    # of a 32-bit draw and n < 2**32 is exact)
    lo, hi = (0, 1) if _LITTLE else (1, 0)
    np.multiply(raw[lo::2], np.uint64(n), out=scaled[:half])
    np.multiply(raw[hi::2], np.uint64(n), out=scaled[half:])
    scaled = scaled[:size]
    threshold = (1 << 32) % n
    if threshold:
        mask = np.uint64(_MASK32)
        redo = np.flatnonzero((scaled & mask) < np.uint64(threshold))  # contiguous: SIMD
        while len(redo):  # expected count: size * threshold / 2**32
            fresh = (rng.bit_generator.random_raw(len(redo)) >> np.uint64(32)) * np.uint64(n)
            ok = (fresh & mask) >= np.uint64(threshold)
            scaled[redo[ok]] = fresh[ok]
            redo = redo[~ok]
    scaled >>= np.uint64(32)
    return scaled.view(np.int64)  # < n < 2**32 after the shift: the same numbers


def _few_values(d: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, counts) when ``d`` takes few distinct values (binary or graded scores)."""
    import numpy as np

    values, counts = np.unique(d, return_counts=True)
    return (values, counts) if len(values) * 8 <= len(d) else None


def bootstrap_means(
    d: np.ndarray, codes: np.ndarray | None, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap distribution of the mean of ``d``: items resampled, or clusters when given."""
    import numpy as np

    if codes is not None:
        sums = np.bincount(codes, weights=d)
        sizes = np.bincount(codes).astype(float)
        total, count = _resampled_sums([sums, sizes], resamples, rng)
        return total / count
    return bootstrap_means_many([d], resamples, rng)[0]


def _resampled_sums(
    arrays: Sequence[np.ndarray], resamples: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """For each of several equal-length arrays, the sums of ``resamples`` resamples of it, all
    taken at the same indices (drawn once per chunk, ``_INDEX_CHUNK`` at a time).

    One index buffer and one gather buffer serve every chunk and array (``np.take(...,
    mode="clip")`` into ``out``: the indices are in range, so clipping changes nothing and the
    gather is not buffered), so the hot loop allocates nothing."""
    import numpy as np

    n = len(arrays[0])
    chunks = _chunks(resamples, n, _INDEX_CHUNK)
    width = chunks[0] * n
    indices = np.empty(width + 1, dtype=np.uint64)  # uniform_below fills whole 64-bit draws
    gathered = np.empty(width, dtype=float)
    out = [np.empty(resamples, dtype=float) for _ in arrays]
    memo = _DRAWS.get()
    key = (n, resamples, repr(rng.bit_generator.state)) if memo is not None else None
    kept = memo.draws.get(key) if memo is not None else None
    keep = (
        memo is not None
        and kept is None
        and n <= _MEMO_MAX_N
        and memo.size + resamples * n * 2 <= _MEMO_BYTES
    )
    stored: list[np.ndarray] = []
    done = 0
    for c, rows in enumerate(chunks):
        if kept is not None:  # the same draws as before, from the same generator state
            idx = indices[: rows * n].view(np.int64).reshape(rows, n)
            np.copyto(idx, kept[0][c].reshape(rows, n), casting="safe")
        else:
            idx = uniform_below(n, rows * n, rng, out=indices).reshape(rows, n)
            if keep:
                stored.append(idx.astype(np.uint16))
        block = gathered[: rows * n].reshape(rows, n)
        for x, sums in zip(arrays, out, strict=True):
            np.take(x, idx, out=block, mode="clip")
            np.sum(block, axis=1, out=sums[done : done + rows])
        done += rows
    if kept is not None:
        rng.bit_generator.state = kept[1]  # where drawing them had left it
    elif keep and memo is not None:
        memo.draws[key] = (stored, rng.bit_generator.state)
        memo.size += resamples * n * 2
    return out


@dataclass
class _Memo:
    draws: dict[Any, Any]  # (items, resamples, generator state) -> (uint16 chunks, end state)
    size: int = 0  # bytes kept


_DRAWS: ContextVar[_Memo | None] = ContextVar("mlstudio_bootstrap_draws", default=None)
_MEMO_MAX_N = 2**16 - 1  # memoised draws are kept as uint16
_MEMO_BYTES = 64 * 2**20


@contextmanager
def shared_draws() -> Iterator[None]:
    """Inside the block, bootstrap index draws are memoised by (items, resamples, generator
    state): a later bootstrap from the same seed over as many items (the per-slice comparisons
    of ``eval compare``, which all start from the same seed) reuses them instead of drawing
    them again, and leaves its generator where drawing them would have. The draws, and so every
    result, are exactly the same; only slices up to 65,535 items and 64 MB of draws are kept."""
    token = _DRAWS.set(_Memo({}))
    try:
        yield
    finally:
        _DRAWS.reset(token)


def bootstrap_means_many(
    arrays: Sequence[np.ndarray], resamples: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Bootstrap distributions of the means of several arrays (e.g. one per slice).

    Arrays of equal length share the resampled indices (drawn once, applied to each: every
    array's distribution is the same as on its own, they are only dependent on each other), so
    ten slices of equal size cost one index draw. Arrays with few distinct values draw
    multinomial counts of those values instead (the same distribution as resampling items).
    ``bootstrap_means_many([d], B, rng)[0]`` is ``bootstrap_means(d, None, B, rng)``.
    """
    import numpy as np

    out: list[np.ndarray | None] = [None] * len(arrays)
    by_length: dict[int, list[int]] = {}
    for i, d in enumerate(arrays):
        few = _few_values(d) if len(d) else None
        if few is not None:
            values, counts = few
            n = len(d)
            out[i] = rng.multinomial(n, counts / n, size=resamples) @ values / n
        elif len(d):
            by_length.setdefault(len(d), []).append(i)
        else:
            out[i] = np.full(resamples, np.nan)
    for n, members in by_length.items():
        centres = [float(arrays[i].mean()) for i in members]
        centred = [
            np.asarray(arrays[i], dtype=float) - c for i, c in zip(members, centres, strict=True)
        ]
        sums = _resampled_sums(centred, resamples, rng)
        for j, i in enumerate(members):
            out[i] = centres[j] + sums[j] / n
    return [x for x in out if x is not None]
