"""From ``WORKFLOW`` + parameters to a validated ``Plan``, before anything runs.

WORKFLOW is ``NS/MODULE/WORKFLOW[:TAG|@N]`` (a pushed module, default tag ``latest``) or
``PATH.py:FUNCTION`` (a working copy: built and stored like a push, but not published).
"""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstudio.core.ids import ModuleRef
from mlstudio.errors import (
    InvalidInputError,
    ManifestError,
    MlstudioError,
    NotFoundError,
    ParameterError,
    WorkflowValidationError,
)
from mlstudio.workflows.code import CodeLoader, LoadedModule, code_ref_for_version
from mlstudio.workflows.definitions import Definition, type_name
from mlstudio.workflows.param_types import accepts, conform, describe
from mlstudio.workflows.plan import Plan, validate_plan
from mlstudio.workflows.sdk import DatasetRef, WorkflowDef
from mlstudio.workflows.tracing import Tracer

DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class WorkflowTarget:
    display: str
    workflow: str  # function name of the workflow
    module_ref: ModuleRef | None = None
    path: Path | None = None


def parse_workflow_ref(text: str) -> WorkflowTarget:
    text = text.strip()
    if ".py:" in text:
        file_part, _, function = text.rpartition(":")
        path = Path(file_part).expanduser()
        if not function.isidentifier():
            raise InvalidInputError(
                f"{function!r} is not a function name", hint="use PATH.py:FUNCTION"
            )
        if not path.is_file():
            raise NotFoundError(
                f"{path} does not exist", hint="use PATH.py:FUNCTION with an existing file"
            )
        return WorkflowTarget(display=f"{path}:{function}", workflow=function, path=path.resolve())
    head, sep, suffix = text.partition("@")
    if not sep:
        head, sep, suffix = text.partition(":")
    parts = head.split("/")
    if len(parts) != 3 or not all(parts):
        raise InvalidInputError(
            f"invalid workflow {text!r}",
            hint="use NS/MODULE/WORKFLOW[:TAG|@N] or PATH.py:FUNCTION",
        )
    module_text = f"{parts[0]}/{parts[1]}{sep}{suffix}" if sep else f"{parts[0]}/{parts[1]}"
    ref = ModuleRef.parse(module_text, default_tag=DEFAULT_TAG)
    return WorkflowTarget(display=text, workflow=parts[2], module_ref=ref)


def coerce_param(
    name: str, raw: Any, annotation: Any, namespace: dict[str, Any] | None = None
) -> Any:
    """Turn a CLI string (or an API value) into the type the workflow declares.

    Scalars parse from their text; anything else is JSON, checked element by element
    (:mod:`mlstudio.workflows.param_types`), or the text itself where the type takes a string.
    Raises ValueError naming the parameter, or the element, on a mismatch."""
    annotation = resolve_annotation(annotation, namespace)
    if annotation in (str, int, float, bool):
        return _coerce_scalar(name, raw, annotation)
    if not isinstance(raw, str):
        return conform(name, raw, annotation)
    try:
        parsed, is_json = json.loads(raw), True
    except json.JSONDecodeError:
        parsed, is_json = None, False
    if is_json and accepts(parsed, annotation):
        return conform(name, parsed, annotation)
    if accepts(raw, annotation):
        return raw
    if is_json:
        return conform(name, parsed, annotation)  # raises, naming each offending element
    raise ValueError(
        f"{name} expects {describe(annotation)}, got str {json.dumps(raw)}, which is not JSON"
    )


def _coerce_scalar(name: str, raw: Any, annotation: type) -> Any:
    expected = annotation.__name__
    if isinstance(raw, str):
        if annotation is str:
            return raw
        if annotation is bool:
            lowered = raw.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(f"{name}={raw!r} is not a bool (use true or false)")
        article = "an" if annotation is int else "a"
        try:
            return annotation(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not {article} {expected}") from None
    if not accepts(raw, annotation):
        raise ValueError(f"{name}={raw!r} is not a {expected}")
    return float(raw) if annotation is float else raw


def resolve_annotation(annotation: Any, namespace: dict[str, Any] | None = None) -> Any:
    """A string annotation (``from __future__ import annotations``) evaluated in the workflow's
    module namespace; left as it is (and so unchecked) when it names something unknown."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, dict(namespace or {}))  # the module's own code, already imported
    except Exception:
        return annotation


def bind_params(wf: WorkflowDef, given: dict[str, Any]) -> dict[str, Any]:
    """Check names and types of every parameter; report all problems at once."""
    sig = inspect.signature(wf.fn)
    try:
        hints = typing.get_type_hints(wf.fn)
    except Exception:
        hints = {}
    namespace = getattr(wf.fn, "__globals__", {})
    problems: list[str] = []
    unknown = sorted(set(given) - set(sig.parameters))
    if unknown:
        problems.append(
            f"unknown parameter(s) {', '.join(unknown)}; {wf.name} takes: {', '.join(sig.parameters) or 'none'}"
        )
    values: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if name in given:
            try:
                annotation = hints.get(name, param.annotation)
                values[name] = coerce_param(name, given[name], annotation, namespace)
            except ValueError as exc:
                problems.append(str(exc))
        elif param.default is inspect.Parameter.empty:
            problems.append(
                f"missing parameter {name} ({type_name(hints.get(name, param.annotation))})"
            )
        else:
            values[name] = param.default
    if problems:
        raise ParameterError(
            f"{wf.name}: {'; '.join(problems)}",
            hint="pass parameters as -p NAME=VALUE",
            details=problems,
        )
    return values


class Planner:
    def __init__(
        self,
        modules: Any,
        cas: Any,
        loader: CodeLoader,
        envs: Any = None,
        sandbox: dict[str, Any] | None = None,
    ) -> None:
        self.modules = modules  # ModuleService
        self.cas = cas
        self.loader = loader
        self.envs = envs  # EnvironmentManager: modules with requirements are traced with them
        # the workflow's own code (module imports, the traced function) runs in the task
        # sandbox of this thread (workflows.sandbox); None: unconfined
        self.sandbox = sandbox
        self.on_denied: Any = None  # (workflow, error) -> None: audits a refusal

    # --- the root module ----------------------------------------------------------------------
    def root_code(self, target: WorkflowTarget) -> dict[str, Any]:
        if target.module_ref is not None:
            version = self.modules.resolve(target.module_ref)
            return code_ref_for_version(version, tag=target.module_ref.tag)
        assert target.path is not None
        return self.working_copy(target.path)

    def working_copy(self, file: Path) -> dict[str, Any]:
        from mlstudio.modules.archive import build_module
        from mlstudio.modules.introspect import default_entrypoints
        from mlstudio.modules.manifest import load_manifest

        folder = file.parent
        name = None
        requirements: tuple[str, ...] = ()
        if (folder / "module.toml").is_file():
            manifest = load_manifest(folder)
            name = manifest.name.full
            requirements = manifest.requirements
            entrypoints = set(manifest.entrypoints or default_entrypoints(folder))
            build = build_module(folder, manifest.exclude)
        else:
            entrypoints = set()
            top_level = tuple(f"{p.name}" for p in folder.iterdir() if p.is_dir())
            build = build_module(folder, exclude=tuple(f"{d}/*" for d in top_level))
        entrypoints.add(file.name)
        if build.size_bytes > 50 * 2**20:
            raise ManifestError(
                f"{folder} holds {build.size_bytes // 2**20} MiB; a working copy is built whole",
                hint="add a module.toml with exclude patterns, or move the workflow file",
            )
        archive = self.cas.put(build.archive)
        return {
            "module": name,
            "version": None,
            "tag": None,
            "path": str(folder),
            "digest": build.digest,
            "archive": archive,
            "entrypoints": sorted(entrypoints),
            "requirements": list(requirements),
            "env_digest": None,
        }

    # --- planning -----------------------------------------------------------------------------
    def plan(
        self,
        root: dict[str, Any],
        workflow: str,
        params: dict[str, Any],
        pinned_uses: dict[str, dict[str, Any]] | None = None,
        pinned_datasets: dict[str, dict[str, Any]] | None = None,
    ) -> Plan:
        """Trace ``workflow`` of ``root`` with ``params``; raise listing every problem."""
        from mlstudio.workflows import sandbox

        with sandbox.confine(self.sandbox, code_roots=(), scratch=None, thread_only=True) as scope:
            try:
                plan, objects = self._plan(
                    root, workflow, params, pinned_uses, pinned_datasets, scope
                )
            except MlstudioError:
                if scope is None or not scope.denials:
                    raise
        if scope is not None and scope.denials:
            error = sandbox.PlanningDeniedError(
                f"planning {workflow} was denied: {scope.denials[0]['message']}",
                hint="a workflow and its module's top-level code read data only through "
                "dataset() and task inputs",
            )
            if self.on_denied is not None:
                self.on_denied(workflow, error)
            raise error
        self._store_objects(plan, objects)  # the platform's write: after the sandbox is off
        return plan

    def _plan(
        self,
        root: dict[str, Any],
        workflow: str,
        params: dict[str, Any],
        pinned_uses: dict[str, dict[str, Any]] | None,
        pinned_datasets: dict[str, dict[str, Any]] | None,
        scope: Any,
    ) -> tuple[Plan, list[Any]]:
        """The plan, and the non-JSON constants still to be stored."""
        from mlstudio.workflows.sandbox import trusted

        code: dict[str, dict[str, Any]] = {}
        aliases: dict[int, str] = {}
        uses: dict[str, str] = {}

        def register(ref: dict[str, Any]) -> LoadedModule:
            alias = alias_of(ref)
            env = None
            with trusted():  # building environments and extracting code: the platform's work
                if ref.get("requirements") and self.envs is not None:
                    env = self.envs.ensure(tuple(ref["requirements"]))
                    if env is not None:
                        self.loader.add_site(env.python)
                folder = self.loader.materialize(ref)
            if scope is not None:
                scope.allow_code(str(folder))
                if env is not None:  # its packages are imported from there
                    scope.allow_code(str(Path(env.python).parent.parent))
            loaded = self.loader.load(ref)  # its top-level code: the module's own
            if "task_code" not in ref:  # a working copy, or pushed before identities were stored
                with trusted():
                    ref["task_code"] = self.loader.task_code(ref, loaded)
            code[alias] = ref
            for definition in loaded.definitions.values():
                aliases[id(definition)] = alias
            return loaded

        root_loaded = register(root)
        values = bind_params(_workflow_of(root_loaded, root, workflow), params)
        wf = root_loaded.definitions[workflow]

        def resolve_use(ref_text: str) -> Any:
            if pinned_uses and ref_text in pinned_uses:
                ref = pinned_uses[ref_text]
            else:
                with trusted():  # the registry's database
                    version = self.modules.resolve(
                        ModuleRef.parse(ref_text, default_tag=DEFAULT_TAG)
                    )
                ref = code_ref_for_version(version, tag=ModuleRef.parse(ref_text, DEFAULT_TAG).tag)
            loaded = register(ref)
            uses[ref_text] = alias_of(ref)
            return _ModuleProxy(ref_text, loaded, tracer)

        def code_alias(definition: Definition) -> str | None:
            return aliases.get(id(definition))

        datasets: dict[str, dict[str, Any]] = {}

        def resolve_dataset(ref: DatasetRef) -> DatasetRef:
            requested = ref.name if ref.version is None else f"{ref.name}@{ref.version}"
            record = (pinned_datasets or {}).get(requested)
            if record is None:
                with trusted(), self.modules.store.read() as uow:  # the catalog's database
                    found = uow.datasets.get(ref.name, ref.version)
                if found is None:
                    raise NotFoundError(
                        f"dataset {requested} does not exist",
                        hint="import it: mlstudio data import FILE --name NS/NAME",
                    )
                record = {
                    "name": found.full_name,
                    "version": found.version,
                    "digest": found.digest,
                    "domain": found.domain,
                    "columns": found.columns,
                    "rows": found.num_rows,
                    "size": found.size_bytes,
                }
            key = f"{record['name']}@{record['version']}"
            entry = datasets.setdefault(key, {**record, "requested": []})
            if requested not in entry["requested"]:
                entry["requested"].append(requested)
            return DatasetRef(record["name"], record["version"])

        tracer = Tracer(code_alias, resolve_use, resolve_dataset)
        with self.loader.activate(root_loaded):
            try:
                output = tracer.run(wf.fn, values)
            except WorkflowValidationError:
                raise
            except InvalidInputError as exc:
                tracer.problems.append(exc.one_line())
                output = None
            except Exception as exc:
                tracer.problems.append(f"{workflow}: planning raised {type(exc).__name__}: {exc}")
                output = None
        plan = Plan(
            workflow=workflow,
            params=values,
            nodes=tracer.nodes,
            output=tracer.binding(output) if not tracer.problems else {"c": None},
            code=code,
            root=alias_of(root),
            uses=uses,
            datasets=datasets,
        )
        problems = tracer.problems + validate_plan(plan)
        if not plan.nodes and not problems:
            problems.append(f"{workflow} calls no tasks")
        if problems:
            raise WorkflowValidationError(
                f"workflow {workflow} is invalid: {len(problems)} problem(s): "
                + "; ".join(problems),
                hint="fix them; nothing was run",
                details=problems,
            )
        return plan, tracer.objects

    def check_params(
        self, root: dict[str, Any], workflow: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """``params`` bound to ``workflow``'s signature (names and element types), without
        tracing it: what a schedule checks when it is added. Raises ParameterError."""
        if root.get("requirements") and self.envs is not None:
            env = self.envs.ensure(tuple(root["requirements"]))
            if env is not None:
                self.loader.add_site(env.python)
        loaded = self.loader.load(root)
        return bind_params(_workflow_of(loaded, root, workflow), params)

    def _store_objects(self, plan: Plan, objects: list[Any]) -> None:
        if not objects:
            return
        from mlstudio.data.values import encode

        refs = []
        for index, obj in enumerate(objects):
            ref, data = encode(obj, f"constant #{index}")
            if data is not None:
                self.cas.put(data)
            refs.append(ref.to_json())

        def swap(binding: dict[str, Any]) -> dict[str, Any]:
            if "o" in binding:
                return {"a": refs[binding["o"]]}
            if "l" in binding:
                return {"l": [swap(b) for b in binding["l"]]}
            if "d" in binding:
                return {"d": {k: swap(b) for k, b in binding["d"].items()}}
            return binding

        for node in plan.nodes.values():
            node.inputs = {k: swap(b) for k, b in node.inputs.items()}
        plan.output = swap(plan.output)


def _workflow_of(loaded: LoadedModule, root: dict[str, Any], workflow: str) -> WorkflowDef:
    wf = loaded.definitions.get(workflow)
    if not isinstance(wf, WorkflowDef):
        available = sorted(n for n, d in loaded.definitions.items() if isinstance(d, WorkflowDef))
        raise NotFoundError(
            f"{alias_of(root)} has no workflow {workflow!r}",
            hint=f"workflows there: {', '.join(available) or 'none'}",
        )
    return wf


def alias_of(ref: dict[str, Any]) -> str:
    if ref.get("version") is not None:
        return f"{ref['module']}@{ref['version']}"
    return f"{ref.get('module') or 'local'}#{ref['digest'][:12]}"


class _ModuleProxy:
    """What ``use()`` returns while planning: the module's tasks and workflows by name."""

    def __init__(self, ref: str, loaded: LoadedModule, tracer: Tracer) -> None:
        self._ref = ref
        self._loaded = loaded
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        definition = self._loaded.definitions.get(name)
        if definition is None:
            self._tracer.problems.append(
                f"use({self._ref!r}) has no task or workflow {name!r} "
                f"(it has: {', '.join(sorted(self._loaded.definitions)) or 'none'})"
            )
            from mlstudio.workflows.tracing import _Missing

            return getattr(_Missing(self._tracer, self._ref), name)
        return definition
