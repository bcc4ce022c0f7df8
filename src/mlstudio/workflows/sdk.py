"""The SDK users write modules with: ``@task``, ``@workflow``, ``use()``.

Outside a run, calling a task or workflow just runs the Python function (so module tests are
plain pytest). While the engine plans a run, a tracer is active and calls record a DAG instead.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, overload

from mlstudio.errors import InvalidInputError
from mlstudio.workflows.definitions import CACHE_MODES, CachePolicy, Definition, TaskOptions

F = TypeVar("F", bound=Callable[..., Any])

# The active tracer while a workflow is being planned (see workflows.tracing), else None.
TRACER: contextvars.ContextVar[Any] = contextvars.ContextVar("mlstudio_tracer", default=None)


class TaskDef(Definition):
    kind = "task"

    def __init__(self, fn: Callable[..., Any], name: str | None, options: TaskOptions) -> None:
        super().__init__(fn, name)
        self.options = options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = TRACER.get()
        if tracer is not None:
            return tracer.call_task(self, args, kwargs)
        return _plain_call(self.fn, args, kwargs)

    def map(self, **kwargs: Any) -> Any:
        """Fan out: call the task once per element of the one list-valued keyword argument
        marked by passing it as ``over=NAME`` or, when only one argument is a list, that one."""
        tracer = TRACER.get()
        if tracer is not None:
            return tracer.map_task(self, kwargs)
        over = _mapped_argument(self, kwargs)
        items = kwargs.pop(over)
        return [_plain_call(self.fn, (), {**kwargs, over: item}) for item in items]

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["options"] = self.options.to_dict()
        return out


def _plain_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call a task outside a run as the engine would: a ``Dataset`` argument (from
    ``dataset()`` or another task) is handed over as the type the task asks for (pandas,
    Arrow, or Dataset), with the engine's own conversion."""
    from mlstudio.data.dataset import Dataset

    if not any(isinstance(v, Dataset) for v in (*args, *kwargs.values())):
        return fn(*args, **kwargs)
    import inspect

    from mlstudio.workflows.runtime import _convert  # the conversion the worker applies

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return fn(*args, **kwargs)  # let Python report the bad call as it always does
    named = {
        name: value
        for name, value in bound.arguments.items()
        if bound.signature.parameters[name].kind
        not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }
    bound.arguments.update(_convert(fn, named))
    return fn(*bound.args, **bound.kwargs)


def _mapped_argument(task_def: TaskDef, kwargs: dict[str, Any]) -> str:
    over = kwargs.pop("over", None)
    if over is not None:
        if over not in kwargs:
            raise InvalidInputError(
                f"{task_def.name}.map(over={over!r}) but no argument {over!r} was given"
            )
        return over
    lists = [k for k, v in kwargs.items() if isinstance(v, list | tuple)]
    if len(lists) != 1:
        raise InvalidInputError(
            f"{task_def.name}.map() needs exactly one list argument to fan out over (found {len(lists)})",
            hint="name it with over='ARG'",
        )
    return lists[0]


class WorkflowDef(Definition):
    kind = "workflow"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = TRACER.get()
        if tracer is not None:
            return tracer.call_workflow(self, args, kwargs)
        return self.fn(*args, **kwargs)


@overload
def task(fn: F) -> TaskDef: ...
@overload
def task(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    cache: str | CachePolicy = "default",
    cache_version: str = "",
    resources: dict[str, Any] | None = None,
    lineage: dict[str, list[str]] | None = None,
    columns: dict[str, list[str]] | None = None,
    classify: dict[str, str] | None = None,
    persist: str | None = None,
    inline: bool = False,
    register: str | None = None,
    alias: str | None = None,
) -> Callable[[F], TaskDef]: ...


def task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Declare a task. Options: retries, retry_delay (s, doubles per attempt), timeout (s),
    cache ('default' | 'recompute' | 'off', or a ``CachePolicy``), cache_version, resources;
    governance:
    ``columns={"arg": [...]}`` (the only columns it reads), ``lineage={"out": ["arg.col"]}``,
    ``classify={"col": "confidential+pii", "*": "internal"}`` (declared output tags) and
    ``persist="ns/name"`` (store the output table as a named dataset version).

    ``inline=True`` runs a tiny pure task in the engine's process (local executor) instead of a
    worker process: same durability, governance checks, caching and results, no process round
    trip; no isolation either, so it takes no ``timeout``.

    ``register="NAME"`` registers the ``Model`` the task returns as the next version of model
    NAME when the task succeeds (as the run's user, like ``mlstudio model register``; the same
    artifact is registered once, so a cache hit adds no version). With ``alias="challenger"``
    the alias then moves to the new version, by the same rules as ``mlstudio model alias`` (a
    protected or gated alias refuses an unapproved or ungated version: audited, the run goes
    on)."""
    name = options.pop("name", None)
    if isinstance(options.get("cache"), CachePolicy):
        options["cache_policy"], options["cache"] = options["cache"], "default"
    if options.get("cache", "default") not in CACHE_MODES:
        raise InvalidInputError(
            f"cache={options['cache']!r} is not a cache mode",
            hint=f"use one of {', '.join(CACHE_MODES)}",
        )
    if options.get("retries", 0) < 0:
        raise InvalidInputError("retries must be >= 0")
    if options.get("inline") and options.get("timeout") is not None:
        raise InvalidInputError(
            "an inline task runs in the engine's process and cannot be timed out",
            hint="drop timeout= or inline=True",
        )
    if options.get("persist"):
        from mlstudio.core.ids import ModuleName

        ModuleName.parse(options["persist"])  # same NS/NAME rules as modules
    if options.get("register") is not None:
        from mlstudio.integrations.registry.names import validate_model_name

        if not isinstance(options["register"], str):
            raise InvalidInputError(
                f"register={options['register']!r} is not a model name", hint='register="churn"'
            )
        validate_model_name(options["register"])
    if options.get("alias") is not None:
        from mlstudio.integrations.registry.names import validate_alias

        if options.get("register") is None:
            raise InvalidInputError(
                f"alias={options['alias']!r} needs register=: it moves an alias of the model "
                "the task registers",
                hint='@task(register="churn", alias="challenger")',
            )
        options["register_alias"] = validate_alias(options["alias"])
    options.pop("alias", None)
    if options.get("classify"):
        from mlstudio.governance.classification import Classification

        for spec in options["classify"].values():
            Classification.parse(spec)
    opts = TaskOptions(**{k: v for k, v in options.items() if v is not None or k == "timeout"})

    def wrap(f: Callable[..., Any]) -> TaskDef:
        return TaskDef(f, name, opts)

    return wrap(fn) if fn is not None else wrap


def workflow(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Declare a workflow: a function whose task calls form the DAG."""

    def wrap(f: Callable[..., Any]) -> WorkflowDef:
        return WorkflowDef(f, name)

    return wrap(fn) if fn is not None else wrap


class SqlTaskDef(TaskDef):
    """A task that is one DuckDB SQL statement over its input datasets (named by argument)."""

    def __init__(self, query: str, fn: Callable[..., Any], name: str, options: TaskOptions) -> None:
        super().__init__(fn, name, options)
        self.query = query

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["sql"] = self.query
        out["signature"] = {
            "params": [{"name": "**tables", "type": "Dataset"}],
            "returns": "Dataset",
            "text": "(**tables: Dataset) -> Dataset",
        }
        return out


def sql_task(name: str, query: str, **options: Any) -> SqlTaskDef:
    """Declare a SQL task: ``features = sql_task("features", "SELECT … FROM events …")``;
    call it with the input datasets as keyword arguments named like the SQL's tables."""
    import sys

    def run(**tables: Any) -> Any:
        from mlstudio.data.sql import run_sql

        return run_sql(query, tables)

    run.__name__ = name
    run.__qualname__ = name
    run.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)
    run.__annotations__ = {"return": "Dataset"}
    run.__doc__ = f"SQL task {name}."
    base = task(**options)(run)
    return SqlTaskDef(query, run, name, base.options)


def when(cond: Any, then: Callable[[], Any], otherwise: Callable[[], Any] | None = None) -> Any:
    """Conditional branch: ``when(is_good, then=lambda: deploy(m), otherwise=lambda: alert(m))``.
    Only the chosen branch's tasks run; the other branch's tasks are marked skipped."""
    tracer = TRACER.get()
    if tracer is not None:
        return tracer.when(cond, then, otherwise)
    return then() if cond else (otherwise() if otherwise else None)


def use(ref: str) -> Any:
    """Tasks and workflows of another module: ``use("churn/features:latest").build(...)``.
    The tag is resolved once when the run starts and pinned in the run's lock."""
    tracer = TRACER.get()
    if tracer is not None:
        return tracer.use(ref)
    from mlstudio.workflows.code import eager_use

    return eager_use(ref)


class TaskContext:
    """What a running task can know about itself: ``mlstudio.current()``."""

    def __init__(
        self,
        run_id: str | None = None,
        node_id: str | None = None,
        task: str | None = None,
        attempt: int = 0,
        scratch: Callable[[], str] | None = None,
    ) -> None:
        self.run_id = run_id
        self.node_id = node_id
        self.task = task
        self.attempt = attempt
        self._make_scratch = scratch
        self._scratch: Path | None = None

    @property
    def scratch(self) -> Path:
        """This attempt's own directory (also ``TMPDIR`` while it runs), removed when the
        attempt ends; outside a run, a fresh temporary directory."""
        if self._scratch is None:
            if self._make_scratch is not None:
                self._scratch = Path(self._make_scratch())
            else:
                import tempfile

                self._scratch = Path(tempfile.mkdtemp(prefix="mlstudio-scratch-"))
        return self._scratch

    def log(self, *parts: Any) -> None:
        print(*parts, flush=True)

    # --- experiment tracking (workflows.logged): buffered here, stored when the attempt ends --
    @property
    def logged(self) -> Any:
        buffer = getattr(self, "_logged", None)
        if buffer is None:
            from mlstudio.workflows.logged import LogBuffer

            buffer = self._logged = LogBuffer()
        return buffer

    def log_param(self, key: str, value: Any) -> None:
        """Record a param of this task run (once: logging another value is refused)."""
        self.logged.param(key, value)

    def log_params(self, params: dict[str, Any]) -> None:
        for key, value in params.items():
            self.logged.param(key, value)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Append a point to the metric series ``key`` (``step`` default 0, ``timestamp`` in
        epoch ms, default now); NaN and infinities are stored as they are."""
        self.logged.metric(key, value, step, timestamp)

    def log_metrics(
        self, metrics: dict[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        for key, value in metrics.items():
            self.logged.metric(key, value, step, timestamp)

    def set_tag(self, key: str, value: Any) -> None:
        self.logged.tag(key, value)

    def set_tags(self, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.logged.tag(key, value)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Keep a file (or a directory's files) as an artifact of this task run, under
        ``artifact_path`` if given; read now, so the file may be deleted afterwards."""
        self.logged.artifact_file(path, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.logged.artifact_bytes(artifact_file, text.encode("utf-8"))

    def log_figure(self, figure: Any, artifact_file: str = "figure.png") -> None:
        """Save a matplotlib figure as an artifact (format from the file's suffix)."""
        import io

        from mlstudio.core.tracking import validate_artifact_path

        name = validate_artifact_path(artifact_file)
        buffer = io.BytesIO()
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else "png"
        figure.savefig(buffer, format=suffix)
        self.logged.artifact_bytes(name, buffer.getvalue())


CURRENT: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "mlstudio_current", default=None
)


def current() -> TaskContext:
    """The running task's context (an empty one outside a run)."""
    return CURRENT.get() or TaskContext()


class DatasetRef:
    """A named dataset as a workflow input: ``dataset("churn/customers")`` (newest version,
    pinned when the run starts) or ``dataset("churn/customers@3")``."""

    def __init__(self, name: str, version: int | None = None) -> None:
        self.name = name
        self.version = version

    def __repr__(self) -> str:
        return f"dataset({self.name}{'@' + str(self.version) if self.version else ''})"


def dataset(ref: str) -> Any:
    """A named dataset. In a workflow it is a pinned input that the execution layer checks
    against the run's domain before a task sees it; outside a run it is read (with the same
    check, as domain ``experimentation``) from the local home."""
    name, _, version = ref.partition("@")
    from mlstudio.core.ids import ModuleName

    ModuleName.parse(name)
    if version and not version.isdigit():
        raise InvalidInputError(f"invalid dataset version in {ref!r}", hint="use NS/NAME@N")
    parsed = DatasetRef(name, int(version) if version else None)
    tracer = TRACER.get()
    if tracer is not None:
        return tracer.dataset(parsed)
    from mlstudio.app.embedded import embedded_studio

    with embedded_studio() as studio:
        return studio.platform.datasets.read(studio.actor, ref, domain="experimentation")
