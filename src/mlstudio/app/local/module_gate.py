"""The application side of a module's evaluation gate: before a gated tag moves, compare the
two versions' runs if nobody has yet (the verdict itself is the module service's, inside the
move: :mod:`mlstudio.modules.evaluation_gate`)."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError


def ensure_evaluation(platform: Any, actor: str, module: str, tag: str, version: int) -> None:
    """Before a gated move: when no stored evaluation compares the two versions yet but both
    have a succeeded run of the gate's workflow, compare them now (``eval compare``, as
    ``actor``, under the gate's domain: governed, stored and audited like any comparison).
    Anything else is left to the gate's check inside the move (``ModuleService.move_tag``),
    which refuses it."""
    from mlstudio.app.local.evaluation import LocalEvaluation
    from mlstudio.core.ids import ModuleName
    from mlstudio.data.catalog import get_dataset
    from mlstudio.modules.evaluation_gate import (
        candidate_ref,
        declared,
        find_evaluation,
        latest_run,
    )
    from mlstudio.modules.service import MAX_COUNT

    name = ModuleName.parse(module)
    with platform.store.read() as uow:
        record = uow.modules.get_module(name.full)
        if record is None or not isinstance(version, int) or not 1 <= version <= MAX_COUNT:
            return  # the move refuses it (a version out of range never reaches the database)
        target = uow.modules.get_version(record, version)
        held = uow.modules.get_tag(record, tag)
        current = uow.modules.get_version(record, held.version) if held else None
        spec = declared(current, target, tag) if target is not None else None
        if spec is None or current is None or current.version == version:
            return
        try:
            latest = get_dataset(uow, spec["dataset"]).version
        except NotFoundError:
            return  # the move refuses it, naming the fix
        if find_evaluation(uow, name.full, spec, latest, target, current) is not None:
            return  # an evaluation exists (passing or failing): the move decides
        runs = [latest_run(uow, name.full, spec, v) for v in (current, target)]
    if None in runs:
        return
    try:
        LocalEvaluation(platform, actor).compare(
            [candidate_ref(str(r), spec) for r in runs],
            on=spec["dataset"],
            label=spec.get("label"),
            metrics=[spec["metric"]],
            slices=spec.get("slices") or None,
            margin=float(spec["margin"]),
            domain=spec.get("domain") or "experimentation",
        )
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"the evaluation gate of {module}:{tag} could not compare @{current.version} and "
            f"@{version}: {exc.message}",
            hint=exc.hint,
        ) from exc
