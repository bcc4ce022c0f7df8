"""Planning a run: call the workflow function with a tracer active and record the DAG.

Task calls return ``Promise`` objects instead of values; parameters are concrete, so plain
Python control flow over parameters works, while branching on a task *result* goes through
``when()`` and fanning out over a result list through ``task.map()``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from mlstudio.data.files import DeclaredFile
from mlstudio.data.files import declare as declare_files
from mlstudio.errors import InvalidInputError, MlstudioError
from mlstudio.workflows.definitions import Definition, type_name
from mlstudio.workflows.plan import CHOOSE, MAP, TASK, Node
from mlstudio.workflows.sdk import TRACER, DatasetRef, TaskDef, WorkflowDef

_TABLE_TYPES = {"Dataset", "DataFrame", "Table"}
_SCALARS = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _options(task_def: TaskDef) -> dict[str, Any]:
    options = task_def.options.to_dict()
    query = getattr(task_def, "query", None)
    if query is not None:
        options["sql"] = query
    return options


def _policy_key(task_def: TaskDef, node_id: str, arguments: dict[str, Any]) -> Any:
    """A ``CachePolicy`` key function's value for these (planning-time) arguments."""
    import json

    from mlstudio.data.files import DeclaredFile

    policy = task_def.options.cache_policy
    assert policy is not None and policy.key is not None
    known = {
        k: (v.path if isinstance(v, DeclaredFile) else v)
        for k, v in arguments.items()
        if not isinstance(v, Promise)
    }
    try:
        value = policy.key(**known)
    except Exception as exc:
        raise InvalidInputError(
            f"{node_id}: the CachePolicy key function raised {type(exc).__name__}: {exc}"
        ) from exc
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        value = repr(value)
    return value


class Promise:
    """The future output of a node while a workflow is being planned."""

    __slots__ = ("node_id", "path", "returns")

    def __init__(self, node_id: str, path: tuple[Any, ...] = (), returns: str = "any") -> None:
        self.node_id = node_id
        self.path = path
        self.returns = returns

    def __getitem__(self, key: Any) -> Promise:
        return Promise(self.node_id, (*self.path, key))

    def __bool__(self) -> bool:
        raise InvalidInputError(
            f"the result of {self.node_id} is not known while the workflow is planned",
            hint="branch on it with mlstudio.when(cond, then=lambda: …, otherwise=lambda: …)",
        )

    def __iter__(self):
        raise InvalidInputError(
            f"cannot iterate over the result of {self.node_id} while planning",
            hint="fan out over it with task.map(arg=result)",
        )

    def __repr__(self) -> str:
        return f"Promise({self.node_id}{''.join(f'[{p!r}]' for p in self.path)})"


def _compatible(produced: str, expected: str) -> bool:
    if (
        "any" in (produced, expected)
        or "Any" in (produced, expected)
        or not produced
        or not expected
    ):
        return True
    if produced == expected:
        return True
    base_p, base_e = produced.split("[")[0], expected.split("[")[0]
    if base_p == base_e:
        return True
    if base_p in _TABLE_TYPES and base_e in _TABLE_TYPES:
        return True
    if base_e == "float" and base_p == "int":
        return True
    if base_e in ("Optional", "Union", "UnionType") or "|" in expected:
        return True
    return base_e == "object"


class Tracer:
    def __init__(
        self,
        code_alias: Callable[[Definition], str | None],
        resolve_use: Callable[[str], Any],
        resolve_dataset: Callable[[DatasetRef], DatasetRef] | None = None,
    ) -> None:
        self.nodes: dict[str, Node] = {}
        self.problems: list[str] = []
        self.objects: list[Any] = []  # non-JSON constants, stored as artifacts by the planner
        self._code_alias = code_alias
        self._resolve_use = resolve_use
        self._resolve_dataset = resolve_dataset or (lambda ref: ref)
        self._scope: list[str] = []
        self._guards: list[list[Any]] = []
        self._counts: dict[str, int] = {}

    # --- plumbing -----------------------------------------------------------------------------
    def run(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        token = TRACER.set(self)
        try:
            return fn(**kwargs)
        finally:
            TRACER.reset(token)

    def _new_id(self, name: str) -> str:
        base = "/".join([*self._scope, name])
        count = self._counts.get(base, 0) + 1
        self._counts[base] = count
        return base if count == 1 else f"{base}-{count}"

    def binding(self, value: Any) -> dict[str, Any]:
        if isinstance(value, Promise):
            out: dict[str, Any] = {"r": value.node_id}
            if value.path:
                out["p"] = list(value.path)
            return out
        if isinstance(value, list | tuple):
            items = [self.binding(v) for v in value]
            if all("c" in b for b in items):
                return {"c": [b["c"] for b in items]}
            return {"l": items}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            entries = {k: self.binding(v) for k, v in value.items()}
            if all("c" in b for b in entries.values()):
                return {"c": {k: b["c"] for k, b in entries.items()}}
            return {"d": entries}
        if value is None or isinstance(value, bool | int | float | str):
            return {"c": value}
        if isinstance(value, DeclaredFile):
            return {"c": value.path, "f": 1}
        if isinstance(value, DatasetRef):
            return {"ds": {"name": value.name, "version": value.version}}
        self.objects.append(value)
        return {"o": len(self.objects) - 1}

    def _check_types(self, name: str, definition: Definition, arguments: dict[str, Any]) -> None:
        try:
            hints = typing.get_type_hints(definition.fn)
        except Exception:
            hints = {}
        for arg, value in arguments.items():
            expected = type_name(hints.get(arg, inspect.Parameter.empty))
            if isinstance(value, Promise):
                produced = "any" if value.path else value.returns
                if not _compatible(produced, expected):
                    self.problems.append(
                        f"{name}: argument {arg!r} expects {expected} but {value.node_id} returns {produced}"
                    )
            elif expected in _SCALARS and value is not None and not isinstance(value, Promise):
                ok = isinstance(value, _SCALARS[expected]) and not (
                    expected != "bool" and isinstance(value, bool)
                )
                if not ok:
                    self.problems.append(
                        f"{name}: argument {arg!r} expects {expected} but got {type(value).__name__} {value!r}"
                    )

    def _bind(
        self, name: str, definition: Definition, args: tuple, kwargs: dict
    ) -> dict[str, Any] | None:
        signature = definition.python_signature
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            self.problems.append(f"{name}: {exc}")
            return None
        arguments: dict[str, Any] = {}
        for arg, value in bound.arguments.items():
            kind = signature.parameters[arg].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                # ``**tables`` (e.g. a SQL task): each keyword is an input of its own, so the
                # task is later called as fn(src=…) and not fn(tables={"src": …})
                arguments.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    self.problems.append(
                        f"{name}: positional arguments for *{arg} are not supported; "
                        "pass keyword arguments"
                    )
            else:
                arguments[arg] = value
        self._check_types(name, definition, arguments)
        return arguments

    def _task_options(
        self, task_def: TaskDef, node_id: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """A node's options, with its ``CachePolicy`` key value computed now."""
        options = _options(task_def)
        policy = task_def.options.cache_policy
        if policy is not None and policy.key is not None:
            try:
                options["cache_policy"]["key_value"] = _policy_key(task_def, node_id, arguments)
            except InvalidInputError as exc:
                self.problems.append(exc.one_line())
        return options

    def _alias(self, definition: Definition, name: str) -> str:
        alias = self._code_alias(definition)
        if alias is None:
            self.problems.append(
                f"{name}: {definition.name} is not part of a module known to this run"
            )
            return ""
        return alias

    # --- what the SDK calls -------------------------------------------------------------------
    def call_task(self, task_def: TaskDef, args: tuple, kwargs: dict) -> Promise:
        return self._add_task(task_def, self._new_id(task_def.name), args, kwargs)

    def _add_task(self, task_def: TaskDef, node_id: str, args: tuple, kwargs: dict) -> Promise:
        """Record one call of ``task_def`` as node ``node_id``."""
        arguments = self._bind(node_id, task_def, args, kwargs)
        if arguments:
            arguments = declare_files(task_def.fn, arguments)  # Path/File: hashed into the key
        returns = task_def.signature["returns"]
        options = self._task_options(task_def, node_id, arguments or {})
        self.nodes[node_id] = Node(
            id=node_id,
            kind=TASK,
            task=task_def.name,
            code=self._alias(task_def, node_id),
            inputs={k: self.binding(v) for k, v in (arguments or {}).items()},
            options=options,
            guards=[list(g) for g in self._guards],
            returns=returns,
        )
        return Promise(node_id, returns=returns)

    def map_task(self, task_def: TaskDef, kwargs: dict[str, Any]) -> Any:
        kwargs = dict(kwargs)
        over = kwargs.pop("over", None)
        if over is None:
            lists = [k for k, v in kwargs.items() if isinstance(v, list | tuple)]
            promised = [k for k, v in kwargs.items() if isinstance(v, Promise)]
            if len(lists) == 1:
                over = lists[0]
            elif not lists and len(promised) == 1:
                over = promised[0]
            else:
                self.problems.append(
                    f"{task_def.name}.map(): cannot tell which argument to fan out over; pass over='ARG'"
                )
                return Promise(self._new_id(task_def.name))
        elif over not in kwargs:
            self.problems.append(
                f"{task_def.name}.map(over={over!r}) but no argument {over!r} was given"
            )
            return Promise(self._new_id(task_def.name))
        items = kwargs[over]
        if not isinstance(items, Promise):
            base = self._new_id(task_def.name)
            promises = []
            for index, item in enumerate(items):
                promises.append(
                    self._add_task(task_def, f"{base}[{index}]", (), {**kwargs, over: item})
                )
            return promises
        node_id = self._new_id(task_def.name) + "[*]"
        # Check the other arguments now; the mapped one is checked per element at run time.
        arguments = self._bind(node_id, task_def, (), {**kwargs, over: None})
        returns = task_def.signature["returns"]
        node = Node(
            id=node_id,
            kind=MAP,
            task=task_def.name,
            code=self._alias(task_def, node_id),
            inputs={
                k: self.binding(kwargs[k] if k == over else v) for k, v in (arguments or {}).items()
            },
            options=self._task_options(task_def, node_id, arguments or {}),
            guards=[list(g) for g in self._guards],
            mapped=over,
            returns=f"list[{returns}]",
        )
        self.nodes[node_id] = node
        return Promise(node_id, returns=node.returns)

    def call_workflow(self, wf: WorkflowDef, args: tuple, kwargs: dict) -> Any:
        scope = self._new_id(wf.name)
        try:
            inspect.signature(wf.fn).bind(*args, **kwargs)
        except TypeError as exc:
            self.problems.append(f"{scope}: {exc}")
            return None
        self._scope.append(scope.rsplit("/", 1)[-1])
        try:
            return wf.fn(*args, **kwargs)
        finally:
            self._scope.pop()

    def when(self, cond: Any, then: Callable[[], Any], otherwise: Callable[[], Any] | None) -> Any:
        if not isinstance(cond, Promise):
            return then() if cond else (otherwise() if otherwise else None)
        self._guards.append([cond.node_id, list(cond.path), True])
        try:
            then_value = then()
        finally:
            self._guards.pop()
        self._guards.append([cond.node_id, list(cond.path), False])
        try:
            else_value = otherwise() if otherwise else None
        finally:
            self._guards.pop()
        node_id = self._new_id("when")
        self.nodes[node_id] = Node(
            id=node_id,
            kind=CHOOSE,
            inputs={
                "cond": self.binding(cond),
                "then": self.binding(then_value),
                "else": self.binding(else_value),
            },
            guards=[list(g) for g in self._guards],
        )
        return Promise(node_id)

    def dataset(self, ref: DatasetRef) -> DatasetRef:
        try:
            return self._resolve_dataset(ref)
        except MlstudioError as exc:
            self.problems.append(f"dataset({ref.name!r}): {exc.one_line()}")
            return ref

    def use(self, ref: str) -> Any:
        try:
            return self._resolve_use(ref)
        except MlstudioError as exc:
            self.problems.append(f"use({ref!r}): {exc.one_line()}")
            return _Missing(self, ref)


class _Missing:
    """Stands in for a module that could not be resolved, so planning can list every problem."""

    def __init__(self, tracer: Tracer, ref: str) -> None:
        self._tracer = tracer
        self._ref = ref

    def __getattr__(self, name: str) -> Callable[..., Promise]:
        def call(*_args: Any, **_kwargs: Any) -> Promise:
            return Promise(f"{self._ref}.{name}")

        return call
