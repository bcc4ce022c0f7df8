"""Prove that a Python task's output column holds an input column's values (the same-name rule).

A column named like an input column keeps that column's tags only when its values are provably
that column's: DESIGN's "same name" is not trusted by itself, since ``pd.DataFrame({"id":
t["email"]})`` is named ``id`` and holds emails. Each column is fingerprinted once (64 bits per
row: the value's bit pattern for 64-bit numbers and timestamps, else DuckDB's vectorised
``hash()``) on the tables the worker handed the task and on
the table it returned. An output column ``c`` *is* an input column ``s`` when

* it shares ``s``'s Arrow buffers (a zero-copy pass-through: ``t.select``, ``t.filter`` of a
  ``pa.Table`` keep them only when nothing changed), or
* it has as many rows and the same value in every row (row-aligned equality), or
* its values are a sub-multiset of ``s``'s (rows filtered, sorted or sampled without
  replacement).

Values say nothing about which column they came from when two input columns share them (a
boolean flag and a boolean pii column), so the tags kept are the join of *every* input column
``c`` could have been taken from that way, and the same-named column must be among them;
otherwise ``c`` gets the union of all inputs (coarse, as for any computed column).

Values are compared after a canonical cast (integers to int64, floats to float64, strings to
large_string, timestamps to microseconds, dictionaries decoded), so a pandas round trip of an
unchanged column is recognised. A column DuckDB cannot hash is never proven.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Fingerprint:
    """One column: per-row hashes (in row order), its buffers, and its value multiset."""

    rows: Any  # numpy uint64 array
    buffers: tuple[int, ...]
    _multiset: tuple[Any, Any] | None = field(default=None, repr=False)

    def multiset(self) -> tuple[Any, Any]:
        """Sorted distinct hashes and their counts (computed once)."""
        if self._multiset is None:
            import numpy as np

            self._multiset = np.unique(self.rows, return_counts=True)
        return self._multiset

    def is_copy_of(self, source: Fingerprint) -> bool:
        """Same buffers, row-aligned equal values, or a sub-multiset of ``source``'s values."""
        import numpy as np

        if self.buffers and self.buffers == source.buffers:
            return True
        rows, other = self.rows, source.rows
        if len(rows) > len(other):
            return False
        if len(rows) == len(other):
            if np.array_equal(rows, other):
                return True
            # a permutation: cheap necessary conditions before sorting
            if rows.sum(dtype=np.uint64) != other.sum(dtype=np.uint64):
                return False
            if np.bitwise_xor.reduce(rows) != np.bitwise_xor.reduce(other):
                return False
        elif len(rows):
            sample = rows[: min(len(rows), 4)]
            if not bool((other[None, :] == sample[:, None]).any(axis=1).all()):
                return False
        return self._within(source)

    def _within(self, source: Fingerprint) -> bool:
        import numpy as np

        values, counts = self.multiset()
        source_values, source_counts = source.multiset()
        if len(values) > len(source_values):
            return False
        at = np.searchsorted(source_values, values)
        if len(at) and at[-1] >= len(source_values):
            return False
        return bool(np.all(source_values[at] == values) and np.all(source_counts[at] >= counts))


def fingerprints(table: Any, columns: list[str] | None = None) -> dict[str, Fingerprint]:
    """Fingerprint ``columns`` (default: all) of an Arrow table; unhashable columns are left out."""
    names = list(table.column_names) if columns is None else columns
    wanted = [n for n in names if n in table.column_names]
    if not wanted:
        return {}
    canonical = {name: _canonical(table.column(name)) for name in wanted}
    rows = {
        name: bits for name, c in canonical.items() if (bits := _fixed_width_bits(c)) is not None
    }
    rest = {name: c for name, c in canonical.items() if name not in rows}
    if rest:
        rows.update(_hash_columns(rest))
    return {
        name: Fingerprint(rows[name], _buffers(table.column(name)))
        for name in wanted
        if name in rows
    }


def proven_sources(
    output: Any,
    handed: Mapping[str, Any],
    same_name: Mapping[str, list[tuple[str, str]]],
) -> dict[str, list[tuple[str, str]]]:
    """Output column -> every ``(input, column)`` it is a copy of, for the output columns in
    ``same_name`` (-> the same-named input columns) whose copy includes a same-named one.

    ``handed`` maps an input name to the Arrow table the task was handed."""
    if not same_name:
        return {}
    out_prints = fingerprints(output, list(same_name))
    in_prints: dict[tuple[str, str], Fingerprint] = {}
    for arg, table in handed.items():
        for column, fp in fingerprints(table).items():
            in_prints[(arg, column)] = fp
    proven: dict[str, list[tuple[str, str]]] = {}
    for name, candidates in same_name.items():
        fp = out_prints.get(name)
        if fp is None:
            continue
        named = [c for c in candidates if c in in_prints and fp.is_copy_of(in_prints[c])]
        if not named:
            continue  # not the values of any same-named column: the union
        others = [k for k, s in in_prints.items() if k not in named and fp.is_copy_of(s)]
        proven[name] = [*named, *others]
    return proven


def _canonical(column: Any) -> Any:
    import pyarrow as pa

    typ = column.type
    if pa.types.is_dictionary(typ):
        column = column.cast(typ.value_type)
        typ = column.type
    if pa.types.is_integer(typ) and not pa.types.is_uint64(typ):
        return column.cast(pa.int64())
    if pa.types.is_floating(typ):
        return column.cast(pa.float64())
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return column.cast(pa.large_string())
    if pa.types.is_timestamp(typ):
        return column.cast(pa.timestamp("us", tz=typ.tz), safe=False)
    return column


_NULL_BITS = 0x9E3779B97F4A7C15  # stands for NULL in a fixed-width column's bit patterns


def _fixed_width_bits(column: Any) -> Any:
    """A 64-bit column's values as their bit patterns (exact, no hashing), or ``None``."""
    import numpy as np
    import pyarrow as pa

    typ = column.type
    if not (
        typ == pa.int64() or typ == pa.uint64() or typ == pa.float64() or pa.types.is_timestamp(typ)
    ):
        return None
    combined = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if combined.null_count:
        combined = combined.fill_null(
            pa.scalar(0, type=typ) if not pa.types.is_floating(typ) else pa.scalar(0.0, type=typ)
        )
        bits = combined.to_numpy(zero_copy_only=False).view(np.uint64).copy()
        mask = column.is_null().to_numpy(zero_copy_only=False)
        bits[mask] = _NULL_BITS
        return bits
    return combined.to_numpy(zero_copy_only=False).view(np.uint64)


def _hash_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """DuckDB's ``hash()`` of every row of each column (one vectorised query, or one per
    column when a column cannot be hashed)."""
    import pyarrow as pa

    names = list(columns)
    keys = [f"c{i}" for i in range(len(names))]
    table = pa.table(dict(zip(keys, columns.values(), strict=True)))
    with _LOCK:
        con = _connection()
        con.register("t", table)
        try:
            try:
                select = ", ".join(f"hash({k}) AS {k}" for k in keys)
                result = _arrow(con.sql(f"SELECT {select} FROM t"))
                return {
                    name: result.column(key).to_numpy()
                    for name, key in zip(names, keys, strict=True)
                }
            except Exception:
                out: dict[str, Any] = {}
                for name, key in zip(names, keys, strict=True):
                    try:
                        hashed = _arrow(con.sql(f"SELECT hash({key}) AS h FROM t")).column(0)
                    except Exception:
                        continue  # not hashable: never proven
                    out[name] = hashed.to_numpy()
                return out
        finally:
            con.unregister("t")


_LOCK = threading.Lock()
_CONNECTIONS: dict[int, Any] = {}


def _connection() -> Any:
    """One sandboxed DuckDB connection per process (a forked child opens its own)."""
    import os

    pid = os.getpid()
    if pid not in _CONNECTIONS:
        from mlstudio.data.sql import sandboxed_connection

        _CONNECTIONS.clear()  # a parent's connection is not used across fork
        _CONNECTIONS[pid] = sandboxed_connection({})
    return _CONNECTIONS[pid]


def _arrow(relation: Any) -> Any:
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def _buffers(column: Any) -> tuple[int, ...]:
    addresses: list[int] = []
    for chunk in column.chunks:
        addresses.append(chunk.offset)
        addresses.extend(b.address if b is not None else 0 for b in chunk.buffers())
    return tuple(addresses)
