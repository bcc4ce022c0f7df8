"""``Dataset``: the handle a task gets for tabular data (an Arrow table, Parquet at rest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa


class Dataset:
    """A table handed to a task. Loaded lazily; ``to_arrow()``, ``to_pandas()``, ``sql()``."""

    def __init__(
        self,
        table: pa.Table | None = None,
        *,
        digest: str | None = None,
        loader: Callable[[], pa.Table] | None = None,
        name: str | None = None,
    ) -> None:
        if table is None and loader is None:
            raise ValueError("a Dataset needs a table or a loader")
        self._table = table
        self._loader = loader
        self.digest = digest
        self.name = name

    @classmethod
    def from_arrow(cls, table: pa.Table, name: str | None = None) -> Dataset:
        return cls(table, name=name)

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, name: str | None = None) -> Dataset:
        import pyarrow as pa

        return cls(pa.Table.from_pandas(df, preserve_index=False), name=name)

    @classmethod
    def from_pydict(cls, columns: dict[str, list[Any]], name: str | None = None) -> Dataset:
        import pyarrow as pa

        return cls(pa.table(columns), name=name)

    def to_arrow(self) -> pa.Table:
        if self._table is None:
            assert self._loader is not None
            self._table = self._loader()
        return self._table

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def sql(self, query: str, **others: Dataset) -> Dataset:
        """Run DuckDB SQL where this dataset is the table ``data`` (and ``others`` by name)."""
        from mlstudio.data.sql import run_sql

        return run_sql(query, {"data": self, **others})

    @property
    def columns(self) -> list[str]:
        return list(self.to_arrow().column_names)

    @property
    def num_rows(self) -> int:
        return self.to_arrow().num_rows

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        loaded = self._table is not None
        shape = f"{self._table.num_rows}x{self._table.num_columns}" if loaded else "not loaded"
        label = self.name or (self.digest[:12] if self.digest else "in-memory")
        return f"Dataset({label}, {shape})"


def as_table(data: Any, what: str) -> pa.Table:
    """``data`` (an Arrow table, a pandas DataFrame or a ``Dataset``) as an Arrow table, or a
    one-line refusal starting with ``what`` (e.g. "predict scores")."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if hasattr(data, "to_arrow"):
        return data.to_arrow()
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas comes with the ml extra
        pandas = None
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    from mlstudio.errors import InvalidInputError

    raise InvalidInputError(
        f"{what} a table, not {type(data).__name__}",
        hint="pass an Arrow table, a pandas DataFrame or a Dataset",
    )
