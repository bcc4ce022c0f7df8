"""How task values are stored: small JSON inline in the metadata DB, everything else as a
content-addressed artifact (Parquet for tables, JSON, or pickle)."""

from __future__ import annotations

import io
import json
import math
import pickle
from dataclasses import dataclass
from typing import Any

from mlstudio.core.canonical import canonical_bytes
from mlstudio.core.hashing import sha256_bytes
from mlstudio.errors import SerializationError

INLINE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ValueRef:
    """A stored value: ``inline`` JSON, or an ``artifact`` digest with its format."""

    digest: str
    format: str  # json | parquet | pickle
    type: str
    size: int
    inline: Any = None
    is_inline: bool = False
    schema: list[dict[str, Any]] | None = None  # tables: per column name, type, classification
    rows: int | None = None
    classification: dict[str, Any] | None = None  # non-tables derived from tables (e.g. models)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "digest": self.digest,
            "format": self.format,
            "type": self.type,
            "size": self.size,
        }
        if self.is_inline:
            out["inline"] = self.inline
        for key in ("schema", "rows", "classification"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValueRef:
        return cls(
            digest=data["digest"],
            format=data["format"],
            type=data.get("type", ""),
            size=data.get("size", 0),
            inline=data.get("inline"),
            is_inline="inline" in data,
            schema=data.get("schema"),
            rows=data.get("rows"),
            classification=data.get("classification"),
        )


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _table_of(value: Any) -> Any | None:
    from mlstudio.data.dataset import Dataset

    if isinstance(value, Dataset):
        return value.to_arrow()
    module = type(value).__module__
    if module.startswith("pyarrow") and type(value).__name__ == "Table":
        return value
    if module.startswith("pandas") and type(value).__name__ == "DataFrame":
        import pyarrow as pa

        return pa.Table.from_pandas(value, preserve_index=False)
    return None


def parquet_bytes(table: Any) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def encode(
    value: Any,
    what: str = "value",
    table_hook: Any = None,
    classification: dict[str, Any] | None = None,
) -> tuple[ValueRef, bytes | None]:
    """Serialize ``value``; returns its ref and the bytes to store (None when inline).

    ``table_hook(table) -> (table, schema)`` classifies and checks a table before it is
    serialized (the governance write check); ``classification`` is recorded for non-tables.
    """
    table = _table_of(value)
    if table is not None:
        schema = None
        if table_hook is not None:
            table, schema = table_hook(table)
        data = parquet_bytes(table)
        return ValueRef(
            sha256_bytes(data), "parquet", "Dataset", len(data), schema=schema, rows=table.num_rows
        ), data
    if _is_json(value):
        data = canonical_bytes(value)
        type_name = type(value).__name__
        if len(data) <= INLINE_LIMIT:
            return ValueRef(
                sha256_bytes(data),
                "json",
                type_name,
                len(data),
                inline=value,
                is_inline=True,
                classification=classification,
            ), None
        return ValueRef(
            sha256_bytes(data), "json", type_name, len(data), classification=classification
        ), data
    if isinstance(value, tuple) and _is_json(list(value)):
        return encode(list(value), what, classification=classification)
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise SerializationError(
            f"{what} of type {type(value).__name__} cannot be serialized: {exc}",
            hint="return JSON-able values, a table (Dataset/pandas/Arrow), or a picklable object",
        ) from exc
    return ValueRef(
        sha256_bytes(data), "pickle", type(value).__name__, len(data), classification=classification
    ), data


def decode(ref: ValueRef, fetch: Any) -> Any:
    """Turn a ref back into a value; ``fetch(digest) -> bytes`` reads (verified) artifacts."""
    if ref.is_inline:
        return ref.inline
    if ref.format == "parquet":
        from mlstudio.data.dataset import Dataset

        def load() -> Any:
            import pyarrow.parquet as pq

            return pq.read_table(io.BytesIO(fetch(ref.digest)))

        return Dataset(digest=ref.digest, loader=load)
    data = fetch(ref.digest)
    if ref.format == "json":
        return json.loads(data)
    if ref.format == "pickle":
        return pickle.loads(data)
    raise SerializationError(f"unknown stored format {ref.format!r}")
