"""``data delete NS/NAME[@V]``: remove a dataset version, or every version, from the catalog.

Owners and maintainers of the namespace (and admins) may delete; a version something still needs
(see :mod:`mlstudio.maintenance.needs`) is refused, naming what needs it and the fix, and nothing
is deleted. A deleted version's number is never given out again and a reference to it says it
was deleted. The Parquet blob stays in the artifact store until ``mlstudio gc`` finds nothing
that references it any more (another version with the same content, a cache entry, a kept run).
"""

from __future__ import annotations

from typing import Any

from mlstudio.core.clock import iso
from mlstudio.data.catalog import get_dataset, parse_dataset_ref
from mlstudio.errors import NotFoundError
from mlstudio.governance.rbac import Authorizer
from mlstudio.maintenance.needs import audited, dataset_needs, refuse


def delete_dataset(store: Any, actor: str, ref: str) -> dict[str, Any]:
    """Delete ``NS/NAME@V``, or every version of ``NS/NAME``; returns what was deleted."""
    name, version = parse_dataset_ref(ref)

    def work(uow: Any) -> dict[str, Any]:
        Authorizer(uow.identity).require_namespace(actor, name.namespace, "delete datasets")
        if version is None:
            records = uow.datasets.versions(name.full)
            if not records:
                raise NotFoundError(
                    f"dataset {name.full} does not exist", hint="see: mlstudio data list"
                )
        else:
            records = [get_dataset(uow, name.full, version)]
        needs = []
        for record in records:
            needs += [
                (record.ref, need)
                for need in dataset_needs(uow, record.full_name, record.version, record.digest)
            ]
        if needs:
            refuse(needs[0][0], [need for _, need in needs])
        for record in records:
            uow.maintenance.delete_dataset_version(record.full_name, record.version)
            uow.maintenance.record_deletion(
                "dataset", record.full_name, record.version, record.digest, actor
            )
            uow.audit.record(
                actor,
                "data.delete",
                f"dataset:{record.ref}",
                details={"digest": record.digest, "rows": record.num_rows, "domain": record.domain},
            )
        remaining = [r.version for r in uow.datasets.versions(name.full)]
        return {
            "kind": "dataset",
            "name": name.full,
            "versions": [r.version for r in records],
            "remaining": remaining,
            "deleted": [
                {"ref": r.ref, "digest": r.digest, "created_at": iso(r.created_at)} for r in records
            ],
        }

    return audited(store, actor, "data.delete", f"dataset:{ref.strip()}", work)
