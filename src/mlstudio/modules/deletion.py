"""``module delete NS/NAME@V``: remove a module version no tag, live or pinned run, or schedule
needs (see :mod:`mlstudio.maintenance.needs`).

Owners and maintainers of the namespace (and admins) may delete. The version number is never
given out again, and ``module show NS/NAME@V`` says who deleted it and when. The archive stays
in the artifact store until ``mlstudio gc`` finds nothing that references it (a run kept by the
retention policy still does: its clones keep working).
"""

from __future__ import annotations

from typing import Any

from mlstudio.core.clock import iso
from mlstudio.core.ids import ModuleRef
from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.rbac import Authorizer
from mlstudio.maintenance.needs import audited, module_needs, refuse


def parse_version_ref(text: str) -> ModuleRef:
    """``NS/NAME@V``; a tag or a bare name is refused (a deletion names one version)."""
    ref = ModuleRef.parse(text)
    if ref.version is None:
        raise InvalidInputError(
            f"module delete takes one version, not {text.strip()!r}",
            hint=f"name it: mlstudio module delete {ref.module}@V "
            f"(versions: mlstudio module show {ref.module})",
        )
    return ref


def deleted_message(uow: Any, module: str, version: int) -> NotFoundError | None:
    """The error for a reference to a deleted version (None when it was never deleted)."""
    if not 0 < version < 2**31:  # no such number was ever given out
        return None
    deleted = uow.maintenance.deletion("module", module, version)
    if deleted is None:
        return None
    return NotFoundError(
        f"{module}@{version} was deleted by {deleted['deleted_by']} at "
        f"{iso(deleted['deleted_at'])}",
        hint=f"see the versions left: mlstudio module show {module}",
    )


def delete_module_version(store: Any, actor: str, ref_text: str) -> dict[str, Any]:
    ref = parse_version_ref(ref_text)
    name, version = ref.module, ref.version
    assert version is not None

    def work(uow: Any) -> dict[str, Any]:
        Authorizer(uow.identity).require_namespace(actor, name.namespace, "delete module versions")
        module = uow.modules.get_module(name.full, for_update=True)
        if module is None:
            raise NotFoundError(
                f"module {name.full} does not exist", hint="see: mlstudio module list"
            )
        found = uow.modules.get_version(module, version)
        if found is None:
            raise deleted_message(uow, name.full, version) or NotFoundError(
                f"{ref} does not exist", hint=f"see: mlstudio module show {name.full}"
            )
        refuse(found.ref, module_needs(uow, module, version))
        uow.modules.delete_version(module, version)
        uow.maintenance.record_deletion("module", name.full, version, found.archive_digest, actor)
        uow.audit.record(
            actor,
            "module.delete",
            found.ref,
            details={"digest": found.digest, "archive": found.archive_digest},
        )
        remaining = [v.version for v in uow.modules.list_versions(module)]
        return {
            "kind": "module",
            "name": name.full,
            "versions": [version],
            "remaining": remaining,
            "deleted": [
                {"ref": found.ref, "digest": found.digest, "created_at": iso(found.pushed_at)}
            ],
        }

    return audited(store, actor, "module.delete", str(ref), work)
