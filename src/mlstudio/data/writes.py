"""Files that leave the platform (exports, run outputs): written whole or not at all.

Every writer goes to a temporary file next to the target and renames it into place, so a
reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstudio.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}


def check_target(target: Path) -> None:
    """The folder exists and the target is not a folder (checked before any work is done)."""
    if not target.parent.is_dir():
        raise NotFoundError(
            f"folder {target.parent} does not exist", hint="create it or pick another path"
        )
    if target.is_dir():
        raise InvalidInputError(f"{target} is a folder", hint="give a file name")


def write_atomically(target: Path, write: Callable[[str], None]) -> None:
    """``write(tmp_path)`` then rename ``tmp_path`` to ``target``; the temp file never stays."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(target: Path, chunks: Iterable[bytes]) -> int:
    """Stream ``chunks`` into ``target`` atomically; returns the bytes written."""
    written = 0

    def write(tmp: str) -> None:
        nonlocal written
        with open(tmp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)

    write_atomically(target, write)
    return written


def write_table(table: pa.Table, target: Path, fmt: str) -> None:
    """Write ``table`` as ``fmt`` (csv, parquet, or json records) to ``target`` atomically."""
    import pyarrow as pa

    def write(tmp: str) -> None:
        if fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        elif fmt == "json":
            import json

            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(table.to_pylist(), handle, default=json_default)
                handle.write("\n")
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp, compression="zstd")

    try:
        write_atomically(target, write)
    except (pa.ArrowException, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInputError(
            f"cannot write {target.name} as {fmt}: {reason}",
            hint="nested columns export only as .parquet" if fmt == "csv" else None,
        ) from None


def json_default(value: Any) -> Any:
    """JSON for what Arrow hands back beyond JSON's types (dates, decimals, bytes)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
