"""A module task as the fallback chain's rule-based baseline (``--fallback NS/MODULE/TASK``).

The reference is resolved once, when serving starts, to one pinned module version (a tag that
moves later does not change a running server): ``NS/MODULE/TASK`` follows ``latest``, and
``NS/MODULE@TAG_OR_VERSION/TASK`` (or the workflow forms ``NS/MODULE/TASK:TAG`` and
``NS/MODULE/TASK@N``) names another. The serving actor must be allowed to run that version in the
serving domain (the check that starting a run makes), and the name must be an ``@task`` of it.

The task is loaded in process, with the engine's code loader, and called like a function: one
argument, the request rows (a ``list[dict]``, with ``--defaults`` filled in), returning one
number per row (a list, or a pandas Series / numpy array / pyarrow array). Anything else raises
``InvalidInputError``, which the chain records as that request's failed baseline step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from mlstudio.errors import InvalidInputError, MlstudioError, NotFoundError

HINT = "return one number per row: def rule(rows: list[dict]) -> list[float]"


class TaskBaseline:
    """``predict(rows)`` calls the pinned task ``name`` (``NS/MODULE@VERSION/TASK``)."""

    def __init__(
        self, name: str, fn: Callable[[list[dict[str, Any]]], Any], defaults: dict[str, Any]
    ) -> None:
        self.name = name
        self.fn = fn
        self.defaults = dict(defaults)

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        return as_numbers(self.fn(with_defaults(rows, self.defaults)), len(rows), self.name)


def with_defaults(rows: list[dict[str, Any]], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of ``rows`` whose missing or null columns take ``defaults`` (the caller's rows are
    not changed: the prediction log keeps what was sent)."""
    if not defaults:
        return [dict(row) for row in rows]
    return [{**row, **{k: v for k, v in defaults.items() if row.get(k) is None}} for row in rows]


def as_numbers(out: Any, expected: int, name: str) -> list[float]:
    """``out`` as ``expected`` finite floats, or InvalidInputError saying what is wrong."""
    values = out
    if hasattr(out, "to_pylist"):  # pyarrow arrays
        values = out.to_pylist()
    elif hasattr(out, "tolist"):  # numpy arrays, pandas Series
        values = out.tolist()
    if not isinstance(values, list | tuple):
        raise InvalidInputError(
            f"baseline {name} returned {type(out).__name__}, not a list of numbers", hint=HINT
        )
    if len(values) != expected:
        raise InvalidInputError(
            f"baseline {name} returned {len(values)} values for {expected} rows", hint=HINT
        )
    for i, value in enumerate(values):
        if not _finite(value):
            raise InvalidInputError(
                f"baseline {name} returned {_short(value)} for row {i}, not a finite number",
                hint=HINT,
            )
    return [float(v) for v in values]


def _finite(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- resolving at start ------------------------------------------------------------------------
def workflow_form(ref: str) -> str:
    """``NS/MODULE@X/TASK`` (or ``NS/MODULE:TAG/TASK``) → ``NS/MODULE/TASK@X`` (a version) or
    ``NS/MODULE/TASK:X`` (a tag), the form the workflow reference parser reads; other forms
    are returned as they are."""
    parts = ref.strip().split("/")
    if len(parts) != 3 or not ({"@", ":"} & set(parts[1])):
        return ref.strip()
    module, _, pin = parts[1].replace(":", "@", 1).partition("@")
    return f"{parts[0]}/{module}/{parts[2]}{'@' if pin.isdigit() else ':'}{pin}"


def resolve_task_baseline(
    platform: Any, actor: str, ref: str, *, domain: str, defaults: dict[str, Any]
) -> TaskBaseline:
    """The baseline ``ref`` names, pinned, authorized for ``actor`` in ``domain`` and loaded;
    raises (a one-line error naming ``--fallback REF``) when any of that fails."""
    from mlstudio.workflows.code import code_ref_for_version
    from mlstudio.workflows.planner import parse_workflow_ref

    try:
        target = parse_workflow_ref(workflow_form(ref))
        if target.module_ref is None:
            raise InvalidInputError(
                "a working copy cannot be a baseline", hint="push the module and name NS/MOD/TASK"
            )
        version = platform.modules.resolve(target.module_ref)
        code = code_ref_for_version(version, tag=target.module_ref.tag)
        _authorize(platform, actor, domain, code, f"{version.ref}/{target.workflow}")
        fn = _task_function(platform, code, target.workflow, version.ref)
    except MlstudioError as exc:
        exc.message = f"--fallback {ref}: {exc.message}"
        exc.args = (exc.message,)
        raise
    return TaskBaseline(f"{version.ref}/{target.workflow}", fn, defaults)


def _authorize(platform: Any, actor: str, domain: str, code: dict[str, Any], name: str) -> None:
    """The check a run start makes: ``actor`` may run this module version in ``domain``
    (a refusal is audited as ``serve.baseline``)."""
    from mlstudio.errors import PermissionDeniedError
    from mlstudio.governance.audit import record_denial
    from mlstudio.governance.domains import check_run

    try:
        with platform.store.read() as uow:
            check_run(uow, actor, domain, {"code": {"baseline": code}})
    except PermissionDeniedError as exc:
        record_denial(
            platform.store, actor, "serve.baseline", f"task:{name}", exc, {"domain": domain}
        )
        raise


def _task_function(platform: Any, code: dict[str, Any], task: str, shown: str) -> Callable:
    """The plain function of ``@task`` ``task`` in ``code``, imported in this process by the
    engine's code loader (with the module's environment on the path when it declares one)."""
    loader = platform.runs.loader
    if code.get("requirements"):
        env = platform.envs.ensure(tuple(code["requirements"]))
        if env is not None:
            loader.add_site(env.python)
    loaded = loader.load(code)
    definition = loaded.definitions.get(task)
    if definition is None or definition.kind != "task":
        tasks = sorted(n for n, d in loaded.definitions.items() if d.kind == "task")
        what = f"has no task {task}" if definition is None else f"{task} is a {definition.kind}"
        raise NotFoundError(
            f"{shown} {what}: its tasks are {', '.join(tasks) or '(none)'}",
            hint=f"name one of them: --fallback {shown}/TASK",
        )
    try:
        definition.python_signature.bind([])
    except TypeError as exc:
        raise InvalidInputError(
            f"{shown}/{task} cannot be called with one argument (the rows): {exc}", hint=HINT
        ) from exc
    return definition.fn
