"""Worker side: execute one ``TaskDispatch`` — load code by digest, read inputs from the artifact
store, call the task with its output captured, write the output back. Used by every executor."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time
import traceback
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstudio.data import files as declared_files
from mlstudio.data.values import ValueRef, decode, encode
from mlstudio.errors import MlstudioError
from mlstudio.workflows import sandbox, scratch
from mlstudio.workflows.executors.base import TaskDispatch, TaskResult


class _LazyLog(io.TextIOBase):
    """A text stream that creates its file on the first write (most tasks print nothing).

    Every write is on disk when it returns (the file is line-buffered and flushed after
    each write, a partial line too): ``runs logs`` shows it while the task runs, and a
    kill -9 of the worker or its engine, or ``runs cancel``, loses nothing printed."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.handle: Any = None
        self.buffer_text: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        if self.path is None:
            self.buffer_text.append(text)
            return len(text)
        if self.handle is None:
            self.open_now()
        written = self.handle.write(text)
        self.handle.flush()  # a no-op after a newline (line buffering wrote it already)
        return written

    def open_now(self) -> None:
        """Open the file (as the worker: the task's sandbox does not apply)."""
        if self.handle is None and self.path is not None:
            with sandbox.trusted():
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self.handle = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class Runtime:
    """Caches content stores and loaded module code for the life of a worker process.

    ``run_as`` (an OS user name): run each task's code in a forked process with that user's
    rights (see :mod:`mlstudio.workflows.runas`)."""

    def __init__(self, run_as: str | None = None) -> None:
        self._stores: dict[str, Any] = {}
        self._loaders: dict[str, Any] = {}
        self._swept: set[str] = set()
        self.run_as = run_as

    def store(self, url: str) -> Any:
        store = self._stores.get(url)
        if store is None:
            from mlstudio.store.artifacts.cas import ContentStore
            from mlstudio.store.artifacts.objectstore import open_object_store

            store = self._stores[url] = ContentStore(open_object_store(url))
        return store

    def loader(self, cache_dir: str, url: str) -> Any:
        key = f"{cache_dir}|{url}"
        loader = self._loaders.get(key)
        if loader is None:
            from mlstudio.workflows.code import CodeLoader

            loader = self._loaders[key] = CodeLoader(Path(cache_dir), self.store(url).get)
        return loader

    def resolve(self, spec: dict[str, Any], fetch: Any) -> Any:
        if "c" in spec:
            return spec["c"]
        if "v" in spec:
            value = decode(ValueRef.from_json(spec["v"]), fetch)
            for key in spec.get("p", []):
                value = value[key]
            return value
        if "l" in spec:
            return [self.resolve(s, fetch) for s in spec["l"]]
        if "d" in spec:
            return {k: self.resolve(s, fetch) for k, s in spec["d"].items()}
        raise MlstudioError(f"unknown input spec {list(spec)}")

    def execute(self, d: TaskDispatch) -> TaskResult:
        started = time.time()
        store = self.store(d.artifact_url)
        prepared = None  # what the module's import and the inputs' unpickling touched
        try:
            loader = self.loader(d.cache_dir, d.artifact_url)
            fetch = store.get
            code_roots: tuple[str, ...] = ()
            if d.sandbox:
                known = loader.loaded.get(d.code["digest"])  # warm: no stat of the folder
                # extracted (the first time) as the worker
                code_roots = (known.root if known else str(loader.materialize(d.code)),)
                # tables load lazily, in user code: as the worker, and these digests only
                digests, pickled = _references(d.inputs)
                fetch = sandbox.trusted_fetch(store.get, digests)
                if known is not None and not pickled:
                    code_roots = ()  # nothing to confine: no import, no unpickling
            # a module's top-level code and its classes' unpickling are user code too
            with sandbox.confine(
                d.sandbox if code_roots else None, code_roots=code_roots, scratch=None
            ) as prepared:
                loaded = loader.load(d.code)
                definition = loaded.definitions.get(d.task)
                if definition is None:
                    raise MlstudioError(
                        f"task {d.task} is not in module "
                        f"{d.code.get('module') or d.code['digest'][:12]}"
                    )
                # inputs may be pickles of classes defined in the module: unpickle with it
                # importable
                with loader.activate(loaded):
                    kwargs = {name: self.resolve(spec, fetch) for name, spec in d.inputs.items()}
            if prepared is not None and prepared.denials:
                return _denied_result(d, started, prepared)
            if d.governance:
                kwargs = _project(
                    kwargs,
                    d.governance.get("projection") or {},
                    placeholders=hasattr(definition, "query"),
                )
            handed = _handed(kwargs) if d.governance else {}
            kwargs = _convert(definition.fn, kwargs)
            kwargs = declared_files.convert(definition.fn, kwargs, d.inputs)
            scratch_dir = self._scratch(d)
        except MlstudioError as exc:
            if prepared is not None and prepared.denials:
                return _denied_result(d, started, prepared)
            return TaskResult(
                d.task_run_id,
                d.attempt,
                "error",
                error=exc.one_line(),
                started_at=started,
                finished_at=time.time(),
                retryable=False,
            )
        except Exception as exc:
            if prepared is not None and prepared.denials:
                return _denied_result(d, started, prepared)
            return TaskResult(
                d.task_run_id,
                d.attempt,
                "error",
                error=f"loading inputs failed: {type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                started_at=started,
                finished_at=time.time(),
            )
        log = _LazyLog(d.log_path)
        try:
            if self.run_as:
                outcome = self._run_as_user(
                    d, loader, loaded, definition, kwargs, log, scratch_dir, prepared, handed
                )
            else:
                outcome = _run_user_code(
                    d, loader, loaded, definition, kwargs, log, scratch_dir, prepared, (), handed
                )
            if outcome.data is not None:
                store.put(outcome.data)
            if outcome.extra.get("tracking"):
                from mlstudio.workflows.logged import store_artifacts

                outcome.extra["tracking"] = store_artifacts(outcome.extra["tracking"], store.put)
        finally:
            if scratch_dir is not None:
                scratch_dir.remove()
        return TaskResult(
            d.task_run_id,
            d.attempt,
            outcome.status,
            output=outcome.output,
            error=outcome.error,
            traceback=outcome.traceback,
            started_at=started,
            finished_at=time.time(),
            retryable=outcome.status != "denied",
            extra=outcome.extra,
            read_set=outcome.read_set,
        )

    def _run_as_user(
        self,
        d: TaskDispatch,
        loader: Any,
        loaded: Any,
        definition: Any,
        kwargs: dict[str, Any],
        log: _LazyLog,
        scratch_dir: scratch.Scratch | None,
        prepared: sandbox.TaskScope | None,
        handed: dict[str, Any] | None = None,
    ) -> _Outcome:
        """The task's code in a child process running as ``self.run_as`` (workflows.runas)."""
        import tempfile

        from mlstudio.workflows import runas
        from mlstudio.workflows.cache import readset  # noqa: F401  (the child may not read it)

        try:
            user = runas.lookup(self.run_as or "")
            if d.sandbox:
                runas.check_protected(user, d.sandbox)
            _preload(kwargs)  # the user may not read the artifact store: load tables now
            log.open_now()
            base = d.sandbox["scratch"] if d.sandbox else tempfile.gettempdir()
            code_copy = runas.readable_code(loaded.root, base, user)
        except MlstudioError as exc:
            return _Outcome("denied", error=exc.one_line())
        keep = (log.handle.fileno(),) if log.handle is not None else ()
        try:
            return runas.run_as(
                user,
                lambda: _run_user_code(
                    d,
                    loader,
                    loaded,
                    definition,
                    kwargs,
                    log,
                    scratch_dir,
                    prepared,
                    (code_copy,),
                    handed,
                ),
                keep_fds=keep,
                code_copy=code_copy,
                workdir=scratch_dir.path if scratch_dir is not None else None,
                on_crash=lambda message: _Outcome("error", error=message),
            )
        finally:
            log.close()

    def _scratch(self, d: TaskDispatch) -> scratch.Scratch | None:
        """This attempt's scratch directory (with a sandbox policy only), made on first use;
        at once when the task runs as another user (who may not create it)."""
        if not d.sandbox:
            return None
        base = d.sandbox["scratch"]
        if base not in self._swept:
            scratch.ensure_base(base)  # not from inside the sandbox, where it is refused
            scratch.sweep(base)
            self._swept.add(base)
        owner = None
        if self.run_as:
            from mlstudio.workflows import runas

            owner = runas.lookup(self.run_as).uid
        made = scratch.Scratch(base, d.run_id, d.node_id, d.attempt, owner)
        if owner is not None:
            made.ensure()
        return made


@dataclass
class _Outcome:
    """What running the user code of one attempt produced (picklable: it may cross a fork)."""

    status: str
    output: dict[str, Any] | None = None
    data: bytes | None = None  # the output's bytes, for the worker to store
    error: str | None = None
    traceback: str | None = None
    read_set: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _run_user_code(
    d: TaskDispatch,
    loader: Any,
    loaded: Any,
    definition: Any,
    kwargs: dict[str, Any],
    log: _LazyLog,
    scratch_dir: scratch.Scratch | None,
    prepared: sandbox.TaskScope | None = None,
    extra_code: tuple[str, ...] = (),
    handed: dict[str, Any] | None = None,
) -> _Outcome:
    """Call the task with its output captured, inside the sandbox; encode its output.
    ``prepared``: what loading its code and inputs read (part of its read set);
    ``extra_code``: more folders of the task's own code (a copy made for ``run_as``);
    ``handed``: the input tables as handed over (proves same-named output columns)."""
    from mlstudio.workflows.cache import readset
    from mlstudio.workflows.sdk import CURRENT, TaskContext

    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    context = TaskContext(
        d.run_id, d.node_id, d.task, d.attempt, scratch_dir.ensure if scratch_dir else None
    )
    token = CURRENT.set(context)
    status, output, data, error, tb = "ok", None, None, None, None
    scope = None
    try:
        with (
            loader.activate(loaded),
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
            scratch.as_tmpdir(scratch_dir),
            sandbox.confine(
                d.sandbox,
                code_roots=(loaded.root, *extra_code),
                scratch=scratch_dir.path if scratch_dir else None,
                on_scratch=scratch_dir.ensure if scratch_dir else None,
                untracked=declared_files.paths(d.inputs),
            ) as scope,
        ):
            value = definition.fn(**kwargs)
            # pickling finds the classes of the value by importing their module
            ref, data = _encode_output(
                d,
                definition,
                value,
                handed,
                _models_classification(context),
                getattr(context, "_platform_inputs", None),
            )
        output = ref.to_json()
    except _Denied as exc:
        status, error = "denied", str(exc)
    except MlstudioError as exc:
        status, error = "error", exc.one_line()
        tb = _user_traceback(exc)
    except BaseException as exc:  # user code: anything it raises is its failure
        if isinstance(exc, KeyboardInterrupt | SystemExit) and not isinstance(exc, SystemExit):
            raise
        status, error = "error", f"{type(exc).__name__}: {exc}"
        tb = _user_traceback(exc)
    finally:
        CURRENT.reset(token)
        root_logger.removeHandler(handler)
    extra: dict[str, Any] = {}
    if scope is not None and scope.denials:
        # refused even if the task caught the error: it tried to read around the inputs
        status, output, data = "denied", None, None
        error = f"denied: {scope.denials[0]['message']}"
        extra["sandbox_denials"] = scope.denials[:10]
        log.write(f"mlstudio: {error}\n")
    if scope is not None and prepared is not None:
        scope.absorb(prepared)
    models = getattr(context, "_model_reads", None)  # load_model's registry reads
    read_set = readset.finish(scope, models) if status == "ok" else None
    if read_set is not None and getattr(context, "_uncacheable", None):
        read_set["uncacheable"] = context._uncacheable  # app.in_run.not_cached
    if read_set is not None and getattr(context, "_feature_reads", None):
        read_set["features"] = context._feature_reads  # app.in_run.remember_features
    if tb:
        log.write(tb)
    log.close()
    if log.buffer_text:
        extra["log"] = "".join(log.buffer_text)
    logged = getattr(context, "_logged", None)
    if logged:
        extra["tracking"] = logged.payload()  # artifacts' bytes are stored by the worker
    return _Outcome(status, output, data, error, tb, read_set, extra)


def _denied_result(d: TaskDispatch, started: float, scope: sandbox.TaskScope) -> TaskResult:
    """The attempt whose module import or input unpickling the sandbox refused."""
    return TaskResult(
        d.task_run_id,
        d.attempt,
        "denied",
        error=f"denied: {scope.denials[0]['message']}",
        started_at=started,
        finished_at=time.time(),
        retryable=False,
        extra={"sandbox_denials": scope.denials[:10]},
    )


def _preload(value: Any) -> None:
    """Load every lazily loaded table among a task's arguments."""
    from mlstudio.data.dataset import Dataset

    if isinstance(value, Dataset):
        value.to_arrow()
    elif isinstance(value, dict):
        for item in value.values():
            _preload(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _preload(item)


def _references(inputs: dict[str, Any]) -> tuple[set[str], bool]:
    """Every artifact digest a dispatch's input specs reference, and whether one of them is a
    pickle (unpickling runs the module's code)."""
    out: set[str] = set()
    pickled = False

    def walk(spec: Any) -> None:
        nonlocal pickled
        if isinstance(spec, dict):
            if "v" in spec and isinstance(spec["v"], dict) and "digest" in spec["v"]:
                out.add(spec["v"]["digest"])
                pickled = pickled or spec["v"].get("format") == "pickle"
            for value in spec.values():
                walk(value)
        elif isinstance(spec, list):
            for value in spec:
                walk(value)

    walk(inputs)
    return out, pickled


class _Denied(Exception):
    """The output may not be written in the run's domain (nothing was stored)."""


def _project(
    kwargs: dict[str, Any], projection: dict[str, list[str]], placeholders: bool = False
) -> dict[str, Any]:
    """Hand each table over with only the columns the task may and will read.

    With ``placeholders`` (SQL tasks) the table keeps its shape: every other column is there,
    all NULL (Arrow type null), so ``* EXCLUDE (c)``, ``#3`` and ``COLUMNS('re')`` see the
    same column list as on the whole table, and a column the query only counts rows of is
    never read."""
    from mlstudio.data.dataset import Dataset

    def cut(value: Any, columns: list[str]) -> Any:
        if isinstance(value, Dataset):
            table = value.to_arrow()
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise MlstudioError(f"declared input columns {missing} are not in the table")
            keep = set(columns)  # in the table's own column order, not the policy's
            if placeholders:
                import pyarrow as pa

                for index, field in enumerate(table.schema):
                    if field.name not in keep:
                        table = table.set_column(
                            index, pa.field(field.name, pa.null()), pa.nulls(table.num_rows)
                        )
                return Dataset(table, digest=value.digest, name=value.name)
            ordered = [c for c in table.column_names if c in keep]
            return Dataset(table.select(ordered), digest=value.digest, name=value.name)
        return value

    out = dict(kwargs)
    for name, columns in projection.items():
        arg, _, index = name.partition("[")
        if arg not in out:
            continue
        if index:
            items = list(out[arg])
            items[int(index.rstrip("]"))] = cut(items[int(index.rstrip("]"))], columns)
            out[arg] = items
        else:
            out[arg] = cut(out[arg], columns)
    return out


def _handed(kwargs: dict[str, Any]) -> dict[str, Any]:
    from mlstudio.data.io import handed_tables

    return handed_tables(kwargs)


def _models_classification(context: Any) -> Any:
    """The join of the classifications of the models the task loaded (``load_model``), or None:
    a model trained on pii makes everything computed with it pii too."""
    reads = getattr(context, "_model_reads", None)
    if not reads:
        return None
    from mlstudio.governance.classification import UNCLASSIFIED, Classification

    # a read without a recorded classification is the most restricted (fail closed)
    return Classification.join_all(
        Classification.parse(r["classification"]) if r.get("classification") else UNCLASSIFIED
        for r in reads.values()
    )


def _encode_output(
    d: TaskDispatch,
    definition: Any,
    value: Any,
    handed: dict[str, Any] | None = None,
    models: Any = None,
    platform_inputs: dict[str, Any] | None = None,
) -> tuple[Any, bytes | None]:
    """Serialize a task's output; tables are classified and checked against the domain first.

    ``handed`` (input name -> the Arrow table the task got) lets a Python task's same-named
    output columns be proven copies of input columns instead of trusted by name. ``models``:
    the classification of the models the task loaded, joined into every output column (what
    a model computes carries its training data's classification). ``platform_inputs``: tables
    the task read through the platform (a training set: ``app.in_run.platform_input``), name ->
    classified Arrow table, propagated like inputs (a proven copy of a feature column keeps
    the feature's tags, a computed column gets the union with them)."""
    what = f"output of {d.task}"
    gov = d.governance
    if not gov:
        return encode(value, what)
    from mlstudio.data import io
    from mlstudio.governance.classification import Classification
    from mlstudio.governance.policy import DomainPolicy

    inputs = {arg: io.schema_columns(schema) for arg, schema in gov.get("inputs", {}).items()}
    if platform_inputs:
        inputs.update({n: io.field_classifications(t) for n, t in platform_inputs.items()})
        handed = {**(handed or {}), **platform_inputs}
    options = definition.options.to_dict() if hasattr(definition, "options") else {}
    placeholders = None
    if getattr(definition, "query", None) is not None:
        placeholders = io.placeholder_columns(inputs, d.inputs)  # the NULLs _project left

    def classify(table: Any) -> tuple[Any, list[dict[str, Any]]]:
        proven = None
        if placeholders is None and inputs:
            proven = io.prove_same_name(table, inputs, handed or {})
        propagated = io.classify_output(
            sql=getattr(definition, "query", None),
            inputs=inputs,
            output_columns=table.column_names,
            options=options,
            placeholders=placeholders,
            proven=proven,
        )
        columns = {c.name: c.classification for c in propagated}
        if models is not None:
            columns = {name: cls.join(models) for name, cls in columns.items()}
        applied: list[str] = []
        if gov.get("declassifiers"):
            from mlstudio.data.records import DeclassifierRecord
            from mlstudio.governance.declassify import apply_declassifiers

            records = [DeclassifierRecord(**r) for r in gov["declassifiers"]]
            columns, applied = apply_declassifiers(
                d.code.get("module") or "", d.task, d.code["digest"], columns, records
            )
        policy = DomainPolicy.from_dict(gov["policy"])
        violations = io.check_write(
            policy, gov.get("label", what), columns, bool(options.get("persist"))
        )
        if violations:
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            fix = ""
            if any("unclassified" in v.message for v in violations):
                fix = " — declare the output's tags, e.g. @task(classify={'*': 'internal'}), or its lineage"
            raise _Denied(f"denied before writing: {violations[0].message}{more}{fix}")
        schema = []
        for column in propagated:
            entry = io.schema_entry(column.name, str(table.schema.field(column.name).type), column)
            entry["classification"] = columns[column.name].to_dict()
            if applied and columns[column.name] != column.classification:
                entry["provenance"] = {
                    **entry["provenance"],
                    "rule": "declassified",
                    "declassifiers": applied,
                }
            schema.append(entry)
        return io.with_field_metadata(table, schema), schema

    derived = None
    if inputs or models is not None:
        derived = Classification.join_all(
            [
                *(c for cols in inputs.values() for c in cols.values()),
                *([models] if models is not None else []),
            ]
        ).to_dict()
    return encode(value, what, table_hook=classify, classification=derived)


def _convert(fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Hand tables over as the type the task asks for (Dataset, pandas, Arrow)."""
    from mlstudio.data.dataset import Dataset

    if not any(isinstance(v, Dataset) for v in kwargs.values()):
        return kwargs
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = getattr(fn, "__annotations__", {})
    out = dict(kwargs)
    for name, value in kwargs.items():
        if not isinstance(value, Dataset):
            continue
        hint = hints.get(name)
        label = hint if isinstance(hint, str) else getattr(hint, "__name__", "")
        module = getattr(hint, "__module__", "") or ""
        if label == "DataFrame" or module.startswith("pandas"):
            out[name] = value.to_pandas()
        elif label == "Table" or module.startswith("pyarrow"):
            out[name] = value.to_arrow()
    return out


def _user_traceback(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for f in frames if "/mlstudio/workflows/runtime.py" not in f.filename]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(keep)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


_ORPHANED = 70  # the exit code of a worker whose parent died (nobody is left to read it)


def watch_parent(parent_pid: int, deathsig: bool = False) -> None:
    """Exit this process, and so end the task it runs, as soon as ``parent_pid`` (the process
    that started it: an engine, a queue worker) is gone. Its retry may already be running
    elsewhere; a task must not run on, unobserved, alongside it.

    A daemon thread waits for the parent's exit (a pidfd on Linux; elsewhere it checks
    ``os.getppid()`` ten times a second) and calls ``os._exit``. With ``deathsig`` (only when
    the parent started us from its main thread: the kernel ties it to that thread), Linux also
    sends SIGKILL at once, which ends even a task stuck in C code that holds the GIL."""
    import os
    import threading

    if deathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(_ORPHANED)  # it died before we started watching
    threading.Thread(
        target=_wait_for_parent, args=(parent_pid,), name="mlstudio-parent-watch", daemon=True
    ).start()


def _wait_for_parent(parent_pid: int) -> None:
    import os
    import select

    fd = None
    with contextlib.suppress(AttributeError, OSError):
        fd = os.pidfd_open(parent_pid)
    # still our parent once the pidfd is open: it names that process, not a reused pid
    if fd is not None and os.getppid() == parent_pid:
        poller = select.poll()
        poller.register(fd, select.POLLIN)  # readable when the process exits
        while not poller.poll():
            pass
    else:
        while os.getppid() == parent_pid:
            time.sleep(0.1)
    os._exit(_ORPHANED)


def main_loop(
    tasks: Any, results: Any, parent_pid: int, deathsig: bool = False, run_as: str | None = None
) -> None:
    """The body of a local worker process: take dispatches until told to stop.

    ``tasks`` and ``results`` are this worker's own pipes from and to the executor; a message
    on ``tasks`` is one dispatch or a list of them (tiny tasks are pipelined), run in order.
    Messages are sent synchronously, so "started" is on its way before user code runs (with a
    pipelined task it rides on the previous task's "done"), and a worker that dies
    (``os._exit``, a kill) leaves no half-sent message or held lock behind for the others. It
    exits when its parent dies, even mid-task (:func:`watch_parent`)."""
    import os
    import pickle
    from collections import deque

    watch_parent(parent_pid, deathsig)
    sandbox.install()  # before any task: audit hooks are for the life of the process
    sandbox.drop_credentials()
    runtime = Runtime(run_as)
    pid = os.getpid()
    send = results.send
    queue: deque[Any] = deque()
    announced = False  # whether queue[0]'s "started" went out with the previous "done"
    while True:
        if not queue:
            try:
                item = tasks.recv()
            except (EOFError, OSError):
                return  # the executor closed our pipe, or is gone
            if item is None:
                return
            if isinstance(item, list):  # pickled dispatches, in order
                queue.extend(pickle.loads(payload) for payload in item)
            else:
                queue.append(item)
            announced = False
        item = queue.popleft()
        dispatch = item if isinstance(item, TaskDispatch) else TaskDispatch(**item)
        if not announced:
            send(("started", dispatch.task_run_id, dispatch.attempt, pid, time.time()))
        result = runtime.execute(dispatch)
        result.worker = str(pid)
        following = None
        if queue:
            upcoming = queue[0]
            following = ("started", upcoming.task_run_id, upcoming.attempt, pid, time.time())
        announced = following is not None
        try:
            send(("done", result, following))
        except Exception as exc:  # an unpicklable result: report instead of dying
            send(
                (
                    "done",
                    TaskResult(
                        dispatch.task_run_id,
                        dispatch.attempt,
                        "error",
                        error=f"result could not be sent: {exc}",
                        worker=str(pid),
                    ),
                    following,
                )
            )
        sys.stdout.flush()
