"""Registering a model version from a run: ``model register NAME --run RUN`` and
``@task(register=NAME)`` (in the engine step's transaction). A mixin of
:class:`~mlstudio.integrations.registry.service.RegistryService`, whose ``_model_for_version``
and ``_add_version`` it uses."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.governance.audit import guarded
from mlstudio.integrations.registry.names import validate_model_name
from mlstudio.workflows.lookup import find_run


class RunRegistration:
    """Needs ``store``, ``_model_for_version``, ``_add_version`` and ``_move_alias`` from the
    service."""

    store: Any
    _move_alias: Any

    def register_run(
        self,
        actor: str,
        name: str,
        run_id: str,
        *,
        task: str | None = None,
        namespace: str | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Register the ``Model`` a task of ``run_id`` returned as the model's next version
        (creating the model on first use); needs view rights on the run's domain."""
        from mlstudio.governance.domains import check_view
        from mlstudio.integrations.registry.lineage import select_model_task

        validate_model_name(name)

        def work(uow: Any) -> dict[str, Any]:
            run = find_run(uow, run_id)
            check_view(uow, actor, run.domain)
            task_run = select_model_task(uow, run, task)
            return self._register_task_run(uow, actor, name, run, task_run, namespace, description)

        return guarded(self.store, actor, "model.register", f"model:{name}", work, {"run": run_id})

    def _register_task_run(
        self,
        uow: Any,
        actor: str,
        name: str,
        run: Any,
        task_run: Any,
        namespace: str | None,
        description: str,
    ) -> dict[str, Any]:
        """The next version of ``name`` from ``task_run``'s Model output (in ``uow``)."""
        from mlstudio.integrations.registry.feature_lineage import (
            built_features,
            record_model_usage,
            training_features,
        )
        from mlstudio.integrations.registry.lineage import run_lineage, tracked_metrics

        lineage, classification = run_lineage(run, task_run)
        lineage["tracking_run"], lineage["metrics"] = tracked_metrics(uow, task_run.id)
        features = training_features(uow, lineage["datasets"]) + built_features(uow, run.id)
        if features:
            lineage["features"] = features
        artifact = task_run.output["v"]
        model = self._model_for_version(uow, actor, name, namespace, description)
        values = {
            "digest": artifact["digest"],
            "source": f"run:{run.id}/{task_run.node_id}",
            "artifact": artifact,
            "run_id": run.id,
            "node_id": task_run.node_id,
            "task": task_run.task,
            "module": lineage["module"],
            "lineage": lineage,
            "classification": classification.to_dict(),
            "description": description,
        }
        view = self._add_version(uow, actor, model, values)
        record_model_usage(uow, features, model["name"], view["version"], actor)
        return view

    def register_tracked(self, uow: Any, events: list[Any]) -> None:
        """``@task(register="NAME")``: each such task that ended with a Model output becomes the
        next version of NAME, as the run's user, in the engine step's transaction. An artifact
        already registered under NAME adds nothing (a cache hit, a re-run); a registration the
        user may not make is audited as refused and the run goes on."""
        from mlstudio.errors import MlstudioError
        from mlstudio.governance.audit import denial_details
        from mlstudio.integrations.registry.lineage import is_model_output

        for event in events:
            name = (event.facts or {}).get("register")
            if not name or str(event.state) not in ("succeeded", "cached"):
                continue
            run = uow.runs.get_run(event.run_id)
            task_run = next(
                (
                    t
                    for t in uow.runs.task_runs_of(event.run_id, [event.node_id])
                    if t.id == event.task_run_id
                ),
                None,
            )
            if run is None or task_run is None:
                continue
            actor = run.created_by
            resource = f"model:{name}"
            try:
                if not is_model_output(task_run.output):
                    raise InvalidInputError(
                        f"task {task_run.node_id} has register={name!r} but did not return a Model",
                        hint="return mlstudio.Model(estimator) from it",
                    )
                existing = uow.registry.get_model(name)
                digest = task_run.output["v"]["digest"]
                if existing is not None and any(
                    v["digest"] == digest for v in uow.registry.versions(existing["id"], limit=1000)
                ):
                    continue
                module = (event.facts or {}).get("module") or ""
                namespace = module.split("/", 1)[0] if "/" in module else None
                view = self._register_task_run(uow, actor, name, run, task_run, namespace, "")
            except MlstudioError as exc:
                uow.audit.record(
                    actor,
                    "model.register",
                    resource,
                    decision="deny",
                    details=denial_details(exc, {"run": run.id, "node": task_run.node_id}),
                )
                continue
            alias = (event.facts or {}).get("register_alias")
            if alias:
                self._move_registered_alias(uow, actor, name, alias, view["version"], run, task_run)

    def _move_registered_alias(
        self, uow: Any, actor: str, name: str, alias: str, version: int, run: Any, task_run: Any
    ) -> None:
        """``@task(register=, alias=)``: point ``alias`` at the version just registered, by the
        rules of ``mlstudio model alias``; a refusal (a protected alias and an unapproved
        version, a failed evaluation gate) is audited and the run goes on."""
        from mlstudio.errors import MlstudioError
        from mlstudio.governance.audit import denial_details

        try:
            self._move_alias(uow, actor, name, alias, version, None)
        except MlstudioError as exc:
            uow.audit.record(
                actor,
                "model.alias",
                f"model:{name}@{alias}",
                decision="deny",
                details=denial_details(
                    exc, {"to": version, "run": run.id, "node": task_run.node_id}
                ),
            )
