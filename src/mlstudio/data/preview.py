"""``data head NS/NAME[@V] [-n 20] [--columns a,b] [--domain D]``: the first rows, read as a
domain would read them.

Checked like any read (:mod:`mlstudio.data.reads`): the caller needs viewer or runner on the
domain, and only columns that domain may read are shown. Without ``--columns`` the others are
left out and listed as ``withheld`` with the reason; asking for a column the domain may not read
is a one-line denial naming it (audited), and a column the dataset does not have is named as
such. Nothing readable at all (or a dataset of a domain this one may not read) is a denial.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from mlstudio.errors import InvalidInputError, PermissionDeniedError

MAX_ROWS = 1000


def head(
    store: Any,
    cas: Any,
    actor: str,
    ref: str,
    *,
    rows: int = 20,
    columns: Sequence[str] | None = None,
    domain: str = "experimentation",
) -> dict[str, Any]:
    from mlstudio.data import reads
    from mlstudio.data.catalog import (
        EXPORT_VIEW_ROLES,
        classifications,
        get_dataset,
        load_policy,
        parse_dataset_ref,
        require_domain_role,
    )
    from mlstudio.governance.policy import evaluate_read, validate_domain
    from mlstudio.governance.rbac import record_denial

    if not 1 <= rows <= MAX_ROWS:
        raise InvalidInputError(
            f"-n {rows}: a preview shows 1 to {MAX_ROWS} rows",
            hint="for the whole table: mlstudio data export NS/NAME FILE",
        )
    wanted = _column_list(columns)
    name, version = parse_dataset_ref(ref)
    validate_domain(domain)
    with store.read() as uow:
        record = get_dataset(uow, name.full, version)
        policy = load_policy(uow, domain)
        try:
            require_domain_role(uow, actor, domain, EXPORT_VIEW_ROLES, "read datasets")
        except PermissionDeniedError as exc:
            record_denial(store, actor, "data.head", f"dataset:{record.ref}", exc)
            raise
    tags = classifications(record.columns)
    available = [c["name"] for c in record.columns]
    if wanted is not None:
        missing = [c for c in wanted if c not in tags]
        if missing:
            raise InvalidInputError(
                f"{record.ref} has no column {', '.join(repr(c) for c in missing)}",
                hint=f"its columns are {', '.join(available)}",
            )
    checks = {"action": "data.head", "resource": f"dataset:{record.ref}", "extra": {}}
    asked = {c: tags[c] for c in (wanted if wanted is not None else available)}
    withheld: list[dict[str, Any]] = []
    if wanted is None:  # show what may be read, say what is left out
        by_column: dict[str, str] = {}
        for violation in evaluate_read(policy, record.full_name, None, asked):
            if violation.column is not None:
                by_column.setdefault(violation.column, violation.message)
        withheld = [{"column": c, "reason": by_column[c]} for c in available if c in by_column]
        readable = {c: k for c, k in asked.items() if c not in by_column}
        # a dataset-level refusal, or nothing left to show, is a denial of the whole read
        asked = readable or asked
    reads.authorize_read(store, actor, policy, record.full_name, record.domain, asked, **checks)
    shown = list(asked)
    table = _first_rows(cas.get(record.digest), shown, rows)
    reads.audit_sensitive(store, actor, policy, asked, rows=table.num_rows, **checks)
    from mlstudio.data.writes import json_default

    values = [{k: _plain(v, json_default) for k, v in row.items()} for row in table.to_pylist()]
    return {
        "dataset": record.ref,
        "domain": domain,
        "columns": shown,
        "rows": values,
        "total_rows": record.num_rows,
        "withheld": withheld,
    }


def _column_list(columns: Sequence[str] | None) -> list[str] | None:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (each once); None or empty: every column."""
    if not columns:
        return None
    out: list[str] = []
    for item in columns:
        for name in item.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    if not out:
        raise InvalidInputError("--columns names no column", hint="e.g. --columns id,score")
    return out


def _first_rows(blob: bytes, columns: list[str], rows: int) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(io.BytesIO(blob))
    batches = []
    count = 0
    for batch in reader.iter_batches(batch_size=rows, columns=columns):
        batches.append(batch)
        count += batch.num_rows
        if count >= rows:
            break
    if not batches:
        return reader.schema_arrow.empty_table().select(columns)
    return pa.Table.from_batches(batches).slice(0, rows)


def _plain(value: Any, default: Any) -> Any:
    """A JSON-ready cell (dates, decimals and bytes become strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_plain(v, default) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, default) for k, v in value.items()}
    return default(value)
