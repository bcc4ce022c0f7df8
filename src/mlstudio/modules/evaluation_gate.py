"""Evaluation gates on module promotion.

A module may declare in its ``module.toml``::

    [evaluation]
    dataset = "churn/holdout"     # the evaluation set (its latest version when promoting)
    workflow = "predict"          # a workflow of this module: one prediction per item, in order
    task = "score"                # optional: that task's output, not the workflow's
    column = "prediction"         # optional: the output column holding the predictions
    label = "churned"             # the evaluation set's label column (most metrics need one)
    metric = "auc"
    margin = 0.01                 # non-inferior: the improvement CI's low end above -margin
    slices = ["plan"]             # optional: no slice of these may be worse after correction
    domain = "experimentation"    # where the comparison reads the data
    parameters = {weight = 2.0}   # optional: the workflow's parameters (for the run command)
    tags = ["latest"]             # the gated tags (default: latest, i.e. `module promote`)

Moving a gated tag to a version then needs a stored evaluation (``mlstudio eval compare``)
on the latest version of the set that compared the runs of ``workflow`` at the two versions
(identified by the module digest in each run's lock), in either order, and the same verdict
as the registry's alias gates (:mod:`mlstudio.integrations.evaluation.gate`). The declaration
that applies is the one of the version the tag holds now, else the target's: a version that
drops its ``[evaluation]`` table cannot skip the gate on its own promotion.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlstudio.errors import ManifestError, NotFoundError, PolicyViolationError

KEYS = (
    "dataset",
    "workflow",
    "task",
    "column",
    "label",
    "metric",
    "margin",
    "slices",
    "domain",
    "parameters",
    "tags",
)
RUNS_SCANNED = 50  # succeeded runs of the workflow looked at, newest first
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_evaluation(section: Any, path: Path) -> dict[str, Any]:
    """The validated ``[evaluation]`` table of ``path`` (a module.toml)."""
    from mlstudio.core.ids import validate_tag
    from mlstudio.errors import InvalidNameError, MlstudioError
    from mlstudio.integrations.evaluation.gate import gate_spec

    def fail(problem: str, hint: str) -> ManifestError:
        return ManifestError(f"{path}: {problem}", hint=hint)

    example = 'dataset = "ns/holdout", workflow = "predict", metric = "auc", margin = 0.01'
    if not isinstance(section, dict):
        raise fail("[evaluation] must be a table", f"write [evaluation] with {example}")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise fail(
            f"unknown key(s) in [evaluation]: {', '.join(unknown)}",
            f"allowed keys: {', '.join(KEYS)}",
        )
    missing = [k for k in ("dataset", "workflow", "metric") if k not in section]
    if missing:
        raise fail(f"[evaluation] lacks {', '.join(missing)}", f"write {example}")

    def string(key: str, default: str | None = None) -> str | None:
        value = section.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise fail(f"[evaluation].{key} must be a non-empty string", f'write {key} = "…"')
        return value

    def strings(key: str, default: list[str]) -> list[str]:
        value = section.get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"[evaluation].{key} must be a list of strings", f'write {key} = ["…"]')
        return list(dict.fromkeys(value))

    workflow = string("workflow")
    assert workflow is not None
    if not _NAME.match(workflow):
        raise fail(
            f"[evaluation].workflow {workflow!r} is not a workflow name of this module",
            'name one of its @workflow functions: workflow = "predict"',
        )
    margin = section.get("margin", 0.0)
    if isinstance(margin, bool) or not isinstance(margin, int | float):
        raise fail("[evaluation].margin must be a number", "write margin = 0.01")
    try:
        spec = gate_spec(
            str(string("dataset")), str(string("metric")), margin, strings("slices", [])
        )
    except MlstudioError as exc:
        raise fail(f"[evaluation]: {exc.message}", exc.hint or "") from exc
    tags = strings("tags", ["latest"])
    for tag in tags:
        try:
            validate_tag(tag)
        except InvalidNameError as exc:
            raise fail(f"[evaluation].tags: {exc.message}", exc.hint or "") from exc
    parameters = section.get("parameters", {})
    if not isinstance(parameters, dict):
        raise fail("[evaluation].parameters must be a table", "write parameters = {weight = 2.0}")
    return {
        "dataset": spec["on"],
        "workflow": workflow,
        "task": string("task"),
        "column": string("column"),
        "label": string("label"),
        "metric": spec["metric"],
        "margin": spec["margin"],
        "slices": spec["slices"],
        "domain": string("domain", "experimentation"),
        "parameters": parameters,
        "tags": tags,
    }


def declared(current: Any, target: Any, tag: str) -> dict[str, Any] | None:
    """The gate on moving ``tag`` from version ``current`` (or None) to ``target``: the
    evaluation the current version declares, else the target's; None when ``tag`` is ungated."""
    for version in (current, target):
        spec = (version.manifest or {}).get("evaluation") if version is not None else None
        if spec:
            return spec if tag in spec.get("tags", ["latest"]) else None
    return None


def _run_digest(uow: Any, run_id: str, module: str, workflow: str) -> str | None:
    """The digest of ``module`` that run ``run_id`` of ``module/workflow`` ran, if it did."""
    run = uow.runs.get_run(run_id)
    if run is None or not _is_workflow(run.workflow, module, workflow):
        return None
    for ref in (run.lock or {}).values():
        if isinstance(ref, dict) and ref.get("module") == module and ref.get("digest"):
            return str(ref["digest"])
    return None


def _is_workflow(text: str, module: str, workflow: str) -> bool:
    head = f"{module}/{workflow}"
    return text == head or text.startswith((f"{head}:", f"{head}@"))


def latest_run(uow: Any, module: str, spec: dict[str, Any], version: Any) -> str | None:
    """The newest succeeded run of the gate's workflow at ``version`` (by digest)."""
    found = uow.runs.list_runs(
        state="succeeded", workflow=f"{module}/{spec['workflow']}", limit=RUNS_SCANNED
    )
    for run in found:
        if _run_digest(uow, run.id, module, spec["workflow"]) == version.digest:
            return str(run.id)
    return None


def candidate_ref(run_id: str, spec: dict[str, Any]) -> str:
    """``run:RUN[/TASK][#COLUMN]`` for the gate's prediction source."""
    task = f"/{spec['task']}" if spec.get("task") else ""
    column = f"#{spec['column']}" if spec.get("column") else ""
    return f"run:{run_id}{task}{column}"


def compare_command(spec: dict[str, Any], current_ref: str, target_ref: str) -> str:
    """The ``mlstudio eval compare`` that creates the evaluation the gate reads."""
    label = f" --label {spec['label']}" if spec.get("label") else ""
    domain = spec.get("domain") or "experimentation"
    return (
        f"mlstudio eval compare {current_ref} {target_ref} --on {spec['dataset']}{label} "
        f"--metric {spec['metric']} --margin {spec['margin']}"
        + "".join(f" --slice {s}" for s in spec.get("slices") or [])
        + (f" --domain {domain}" if domain != "experimentation" else "")
    )


def run_command(module: str, spec: dict[str, Any], version: int) -> str:
    params = "".join(f" -p {k}={v}" for k, v in (spec.get("parameters") or {}).items())
    domain = spec.get("domain") or "experimentation"
    return f"mlstudio run {module}/{spec['workflow']}@{version}{params} --domain {domain}"


def find_evaluation(
    uow: Any, module: str, spec: dict[str, Any], latest: int, target: Any, current: Any
) -> tuple[Any, ...] | None:
    """The newest stored evaluation on the set's version ``latest`` comparing runs of the gate's
    workflow at ``current`` and ``target`` on its metric (see ``find_comparison``), or None."""
    from mlstudio.integrations.evaluation.candidates import RUN_REF
    from mlstudio.integrations.evaluation.gate import find_comparison

    digests: dict[str, str | None] = {}

    def digest_of(candidate: dict[str, Any]) -> str | None:
        match = RUN_REF.match(str(candidate.get("ref") or ""))
        if candidate.get("kind") != "run" or match is None:
            return None
        if match["run"] not in digests:
            digests[match["run"]] = _run_digest(uow, match["run"], module, spec["workflow"])
        return digests[match["run"]]

    return find_comparison(
        uow,
        spec["dataset"],
        latest,
        spec["metric"],
        lambda c: digest_of(c) == current.digest,
        lambda c: digest_of(c) == target.digest,
    )


def check(
    uow: Any, module: str, tag: str, spec: dict[str, Any], target: Any, current: Any
) -> dict[str, Any]:
    """The gate's verdict on moving ``module:tag`` from ``current`` to ``target`` (version
    records). Raises PolicyViolationError, naming the command that fixes it, when refused."""
    from mlstudio.data.catalog import get_dataset
    from mlstudio.integrations.evaluation.gate import decide

    subject = f"tag {tag} of module {module}"
    if current is None:
        return {"gate": spec, "passed": True, "note": f"{tag} pointed nowhere: nothing to compare"}
    workflows = {t["name"] for t in target.tasks if t.get("kind") == "workflow"}
    if spec["workflow"] not in workflows:
        raise PolicyViolationError(
            f"{subject} is gated, but {target.ref} has no workflow {spec['workflow']!r} to "
            f"produce the predictions its [evaluation] names",
            hint="fix [evaluation].workflow in module.toml and push again, or an approver "
            "promotes with --override-reason TEXT",
        )
    try:
        latest = get_dataset(uow, spec["dataset"]).version
    except NotFoundError as exc:
        raise PolicyViolationError(
            f"{subject} is gated on evaluation set {spec['dataset']}, which does not exist",
            hint=f"import it: mlstudio data import FILE --name {spec['dataset']}",
        ) from exc
    found = find_evaluation(uow, module, spec, latest, target, current)
    if found is not None:
        verdict = decide(
            {"on": spec["dataset"], **spec}, *found, subject, f"{module}@{target.version}"
        )
        return {**verdict, "gate": spec}
    missing = f"no evaluation on {spec['dataset']}@{latest} compares {module}@{target.version} "
    missing += f"with {module}@{current.version} on {spec['metric']}"
    refs = []
    for version in (current, target):
        run_id = latest_run(uow, module, spec, version)
        if run_id is None:
            raise PolicyViolationError(
                f"{subject} is gated: {missing}, and {module}@{version.version} has no "
                f"succeeded run of {spec['workflow']} to compare",
                hint=f"run: {run_command(module, spec, version.version)}",
            )
        refs.append(candidate_ref(run_id, spec))
    raise PolicyViolationError(
        f"{subject} is gated: {missing}", hint=f"run: {compare_command(spec, *refs)}"
    )


def require_approver(uow: Any, actor: str, module: str, target: Any) -> None:
    """Who may override a module's gate: someone other than the version's pusher, who is an
    owner or maintainer of its namespace, a steward or an admin."""
    from mlstudio.errors import PermissionDeniedError
    from mlstudio.governance.rbac import NAMESPACE_WRITE, Authorizer

    auth = Authorizer(uow.identity)
    auth.require_active(actor, "override evaluation gates")
    if actor == target.pushed_by:
        raise PermissionDeniedError(
            f"{actor} may not override the evaluation gate for {target.ref}: they pushed it, "
            "and an override needs someone other than its author",
            hint="ask another owner or maintainer of the namespace, a steward or an admin",
        )
    namespace = module.partition("/")[0]
    if not (
        auth.is_admin(actor)
        or auth.is_steward(actor)
        or auth.has_namespace_role(actor, namespace, NAMESPACE_WRITE)
    ):
        raise PermissionDeniedError(
            f"{actor} may not override the evaluation gate for {target.ref}: it needs an owner "
            f"or maintainer of namespace {namespace}, a steward or an admin",
            hint=f"ask an owner of {namespace} or a steward",
        )


def gate_move(
    uow: Any,
    actor: str,
    module: str,
    tag: str,
    target: Any,
    held: Any,
    override_reason: str | None,
) -> dict[str, Any] | None:
    """The gate's verdict on moving ``module:tag`` from ``held`` to ``target`` inside the
    move's unit of work (None: the tag is not gated). A refusal raises, unless an approver gave
    ``override_reason``: then the override is audited (``module.gate.override``) with the
    refusal it overrode."""
    spec = declared(held, target, tag)
    if spec is None:
        return None
    try:
        return check(uow, module, tag, spec, target, held)
    except PolicyViolationError as refused:
        if override_reason is None:
            raise
        require_approver(uow, actor, module, target)
        reason = override_reason.strip()
        uow.audit.record(
            actor,
            "module.gate.override",
            f"{module}:{tag}",
            details={"version": target.version, "reason": reason, "refused": refused.message},
        )
        return {"passed": False, "overridden_by": actor, "reason": reason}
