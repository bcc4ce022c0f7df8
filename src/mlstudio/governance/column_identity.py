"""Prove that a Python task's output column holds an input column's values (the same-name rule).

A column named like an input column keeps that column's tags only when its values are provably
that column's: DESIGN's "same name" is not trusted by itself, since ``pd.DataFrame({"id":
t["email"]})`` is named ``id`` and holds emails. Each column is fingerprinted once (a 64-bit
hash per row, computed by DuckDB, vectorised) on the tables the worker handed the task and on
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
        if len(self.rows) > len(source.rows):
            return False
        if len(self.rows) == len(source.rows) and np.array_equal(self.rows, source.rows):
            return True
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
    hashed = _hash_columns(canonical)
    out: dict[str, Fingerprint] = {}
    for name, rows in hashed.items():
        out[name] = Fingerprint(rows, _buffers(table.column(name)))
    return out


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
        sources = [key for key, source in in_prints.items() if fp.is_copy_of(source)]
        if any(tuple(c) in sources for c in candidates):
            proven[name] = sources
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


def _hash_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """DuckDB's ``hash()`` of every row of each column (one vectorised query, or one per
    column when a column cannot be hashed)."""
    import pyarrow as pa

    from mlstudio.data.sql import sandboxed_connection

    names = list(columns)
    keys = [f"c{i}" for i in range(len(names))]
    table = pa.table(dict(zip(keys, columns.values(), strict=True)))
    con = sandboxed_connection({"t": table})
    try:
        try:
            select = ", ".join(f"hash({k}) AS {k}" for k in keys)
            result = con.sql(f"SELECT {select} FROM t").fetchnumpy()
            return {name: result[key] for name, key in zip(names, keys, strict=True)}
        except Exception:
            out: dict[str, Any] = {}
            for name, key in zip(names, keys, strict=True):
                try:
                    out[name] = con.sql(f"SELECT hash({key}) AS h FROM t").fetchnumpy()["h"]
                except Exception:
                    continue  # not hashable: never proven
            return out
    finally:
        con.close()


def _buffers(column: Any) -> tuple[int, ...]:
    addresses: list[int] = []
    for chunk in column.chunks:
        addresses.append(chunk.offset)
        addresses.extend(b.address if b is not None else 0 for b in chunk.buffers())
    return tuple(addresses)
