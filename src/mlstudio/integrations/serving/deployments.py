"""Deployments managed by the server (``mlstudio deploy …``, ``/api/v1/deployments``).

A deployment is the desired state of one serving process: model NAME at an alias (plus more
aliases for the route and shadow flags), a fallback chain, the domain it loads under and an
optional port. The server's supervisor (:mod:`.supervisor`) starts ``mlstudio serve`` for it,
restarts it when it dies and writes what it sees (status, url, pid, restarts, reason) back to
the same row, which ``deploy show`` reads.

Who may deploy, change or remove: whoever may manage the model (its owner, an owner or
maintainer of its namespace, an admin) and who may load models in the deployment's domain.
The serving process runs as the user who created the deployment, so the registry's governed
load decides which versions it may serve (a refusal is the deployment's ``reason``). Every
change is audited (``deploy.set``, ``deploy.remove``), refusals too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.audit import guarded
from mlstudio.governance.rbac import Authorizer

STATUSES = ("pending", "starting", "running", "restarting", "failed", "removing", "unknown")
STALE_S = 15.0  # a supervisor's heartbeat older than this: nobody is watching the process


def deployment_view(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The row as ``deploy show`` prints it; a held deployment whose supervisor stopped
    beating (its server was killed) is ``unknown``, with the time of the last heartbeat."""
    status, reason = row["status"], row["reason"]
    beat = row["heartbeat_at"]
    if row["desired"] == "removed":
        status = "removing"
    elif row["supervisor"] and beat is not None:
        age = ((now or utcnow()) - beat).total_seconds()
        if age > STALE_S:
            status = "unknown"
            reason = f"no supervisor heartbeat since {iso(beat)} (is mlstudio server running?)"
    return {
        "name": row["name"],
        "model": row["model"],
        "alias": row["alias"],
        "also": list(row["also"] or []),
        "fallback": row["fallback"],
        "domain": row["domain"],
        "port": row["port"],
        "revision": row["revision"],
        "status": status,
        "reason": reason,
        "url": row["url"],
        "pid": row["pid"],
        "restarts": row["restarts"],
        "running_revision": row["running_revision"],
        "created_by": row["created_by"],
        "created_at": iso(row["created_at"]),
        "updated_by": row["updated_by"],
        "updated_at": iso(row["updated_at"]),
        "status_at": iso(row["status_at"]) if row["status_at"] else None,
    }


def _check_fallback(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    for part in text.split(","):
        part = part.strip()
        if part == "previous" or part.startswith(("column:", "constant:")):
            continue
        if part.count("/") == 2:  # a module task: resolved and authorized by the serving process
            from mlstudio.integrations.serving.task_baseline import workflow_form
            from mlstudio.workflows.planner import parse_workflow_ref

            if parse_workflow_ref(workflow_form(part)).module_ref is not None:
                continue
        raise InvalidInputError(
            f"invalid fallback {part!r}",
            hint="previous, column:NAME, constant:X or NS/MODULE/TASK, comma-separated",
        )
    return text.strip()


class DeploymentService:
    def __init__(self, store: Any) -> None:
        self.store = store

    def deploy(
        self,
        actor: str,
        name: str,
        *,
        alias: str = "champion",
        also: list[str] | None = None,
        fallback: str | None = None,
        domain: str = "production",
        port: int | None = None,
    ) -> dict[str, Any]:
        """Create deployment ``name`` (the model's name) or change its desired state."""
        from mlstudio.integrations.registry import reads
        from mlstudio.integrations.registry.names import validate_alias, validate_model_name
        from mlstudio.integrations.registry.permissions import require_manage

        validate_model_name(name)
        aliases = [validate_alias(alias), *(validate_alias(a) for a in also or [])]
        if len(set(aliases)) != len(aliases):
            raise InvalidInputError("an alias is named twice", hint="name each alias once")
        if port is not None and not 1 <= int(port) <= 65535:
            raise InvalidInputError(f"invalid port {port}", hint="a port between 1 and 65535")
        chain = _check_fallback(fallback)

        def work(uow: Any) -> dict[str, Any]:
            auth = Authorizer(uow.identity)
            model = uow.registry.get_model(name)
            if model is None:
                raise NotFoundError(
                    f"model {name} does not exist",
                    hint="see: mlstudio model list; register one: mlstudio model register",
                )
            require_manage(auth, actor, model, "deploy")
            reads.authorize_domain(uow, actor, domain)  # the domain exists; actor may load there
            for a in aliases:
                if uow.registry.get_alias(model["id"], a) is None:
                    raise NotFoundError(
                        f"model {name} has no alias {a!r}",
                        hint=f"set it first: mlstudio model alias {name} {a} VERSION",
                    )
            if port is not None:
                for other in uow.deployments.all():
                    if other["name"] != name and other["port"] == port:
                        raise InvalidInputError(
                            f"port {port} is taken by deployment {other['name']}",
                            hint="choose another --port, or leave it out (a free one is picked)",
                        )
            before = uow.deployments.get(name, for_update=True)
            values = {
                "name": name,
                "model": name,
                "alias": alias,
                "also": aliases[1:],
                "fallback": chain,
                "domain": domain,
                "port": port,
            }
            saved = uow.deployments.put(values, actor)
            uow.audit.record(
                actor,
                "deploy.set",
                f"deployment:{name}",
                details={
                    "before": deployment_view(before) if before else None,
                    "after": {k: v for k, v in values.items() if k != "name"},
                },
            )
            return deployment_view(saved)

        return guarded(self.store, actor, "deploy.set", f"deployment:{name}", work)

    def remove(self, actor: str, name: str) -> dict[str, Any]:
        """Ask the supervisor to stop and forget deployment ``name``."""
        from mlstudio.integrations.registry.permissions import require_manage

        def work(uow: Any) -> dict[str, Any]:
            auth = Authorizer(uow.identity)
            row = self._get(uow, name, for_update=True)
            model = uow.registry.get_model(row["model"])
            if model is not None:
                require_manage(auth, actor, model, "remove deployments")
            else:
                auth.require_admin(actor, "remove a deployment whose model is gone")
            uow.deployments.mark_removed(name, actor)
            uow.audit.record(
                actor,
                "deploy.remove",
                f"deployment:{name}",
                details={"before": deployment_view(row)},
            )
            return {"name": name, "removed": True}

        return guarded(self.store, actor, "deploy.remove", f"deployment:{name}", work)

    def list(self, actor: str) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            Authorizer(uow.identity).require_active(actor, "read deployments")
            rows = uow.deployments.all()
        return [deployment_view(r) for r in rows]

    def show(self, actor: str, name: str) -> dict[str, Any]:
        with self.store.read() as uow:
            Authorizer(uow.identity).require_active(actor, "read deployments")
            return deployment_view(self._get(uow, name))

    @staticmethod
    def _get(uow: Any, name: str, *, for_update: bool = False) -> dict[str, Any]:
        row = uow.deployments.get(name, for_update=for_update)
        if row is None:
            raise NotFoundError(f"no deployment {name!r}", hint="see: mlstudio deploy list")
        return row
