"""Write a table as a new version of a governed dataset: the one path services share.

The namespace must let ``actor`` write datasets, and the domain's policy must allow writing
every column's classification there; a refusal is audited. The bytes go to the artifact
store as Parquet, the version records its columns (with classifications) and its source."""

from __future__ import annotations

import io
from typing import Any


def save_table(
    store: Any,
    cas: Any,
    actor: str,
    full_name: str,
    table: Any,
    columns: list[dict[str, Any]],
    *,
    domain: str,
    source: dict[str, Any],
    action: str,
    details: dict[str, Any] | None = None,
) -> str:
    """Store ``table`` (pyarrow) as the next version of ``full_name``; returns ``NS/NAME@V``."""
    import pyarrow.parquet as pq

    from mlstudio.data.catalog import classifications, load_policy, parse_dataset_name
    from mlstudio.governance.audit import refusals_audited
    from mlstudio.governance.policy import enforce, evaluate_write
    from mlstudio.governance.rbac import Authorizer

    dataset = parse_dataset_name(full_name)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    digest = cas.put(data)

    def work(uow: Any) -> str:
        Authorizer(uow.identity).require_namespace(actor, dataset.namespace, "write datasets")
        policy = load_policy(uow, domain)
        enforce(evaluate_write(policy, dataset.full, classifications(columns), True))
        record = uow.datasets.create_version(
            {
                "namespace": dataset.namespace,
                "full_name": dataset.full,
                "digest": digest,
                "domain": domain,
                "num_rows": table.num_rows,
                "size_bytes": len(data),
                "columns": columns,
                "source": source,
                "created_by": actor,
            }
        )
        uow.audit.record(
            actor,
            action,
            f"dataset:{record.ref}",
            details={"rows": table.num_rows, "domain": domain, **(details or {})},
        )
        return record.ref

    with refusals_audited(store, actor, action, f"dataset:{dataset.full}", {"domain": domain}):
        return store.retrying(work)
