"""``runs output RUN [--task T] [--to FILE]``: a run's result, or one task's, as a file.

What is written depends on what the output is and on the file's suffix:

=========================  =====================================  ==========================
output                     formats                                no suffix / unknown suffix
=========================  =====================================  ==========================
a table                    ``.csv``, ``.parquet``/``.pq``, ``.json`` Parquet (unknown: refused)
JSON (numbers, dicts, …)   ``.json``                              JSON
anything else (a model)    its pickle (``.pkl``, ``.joblib``, …)  the pickle
=========================  =====================================  ==========================

``fmt="text"`` (the CLI without ``--to``) asks for something printable: a table as CSV, JSON as
JSON; a pickle is refused. Parquet is the stored blob itself, copied (its columns carry their
classification in the Arrow field metadata); other formats are converted. Every file is written
to a temporary name and renamed, so a reader never sees half a file.

Governed like any read: the caller needs viewer or runner on the run's domain; the output is
read under a domain (``domain``, default the run's own), which must pass the same check a task's
inputs pass (:func:`~mlstudio.governance.policy.evaluate_read`) for every column of a table, and
for the classification of a value derived from tables (a model). Refusals are audited
(``run.output``, decision deny), and so is an allowed read of sensitive columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError, PermissionDeniedError, StateError
from mlstudio.governance.classification import UNCLASSIFIED, Classification
from mlstudio.governance.domains import check_view

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".pkl": "pickle",
    ".pickle": "pickle",
}
FORMATS = ("csv", "parquet", "json", "pickle", "text")
KIND_FORMATS = {"table": ("parquet", "csv", "json"), "json": ("json",), "pickle": ("pickle",)}
_VIEW_ROLES = ("viewer", "runner")
_OK_STATES = ("succeeded", "cached")


@dataclass
class Output:
    """One resolved output: a table or pickle blob, or a JSON value, with its classification."""

    kind: str  # table | json | pickle
    type: str
    digest: str | None = None  # the stored blob (tables, pickles, large JSON)
    value: Any = None  # a JSON value (when no blob, or decoded from one)
    has_value: bool = False
    data: bytes | None = None  # bytes to write when they are not a stored blob
    schema: list[dict[str, Any]] | None = None
    rows: int | None = None
    columns: dict[str, Classification] = field(default_factory=dict)  # what the read checks
    source_domain: str | None = None


def choose_format(kind: str, type_name: str, target: Path, fmt: str | None) -> str:
    """The format to write a ``kind`` output in, from ``fmt`` or ``target``'s suffix."""
    suffix = target.suffix.lower()
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInputError(f"unknown output format {fmt!r}", hint=f"use one of {FORMATS}")
    if fmt == "text":
        if kind == "pickle":
            raise InvalidInputError(
                f"the output is a pickled {type_name}, which cannot be printed",
                hint="save it to a file: --to FILE (e.g. model.pkl)",
            )
        return "csv" if kind == "table" else "json"
    wanted = fmt or SUFFIX_FORMATS.get(suffix)
    if wanted is None:
        if kind == "table" and suffix:
            raise InvalidInputError(
                f"{target.name}: a table is written as .csv, .parquet or .json",
                hint="pick one of those suffixes",
            )
        return KIND_FORMATS[kind][0]
    if wanted not in KIND_FORMATS[kind]:
        hint = {
            "table": "save it as .csv, .parquet or .json",
            "json": "save it as .json",
            "pickle": "save it as .pkl (its pickle)",
        }[kind]
        shown = "a table" if kind == "table" else f"JSON ({type_name})"
        if kind == "pickle":
            shown = f"a pickled {type_name}"
        raise InvalidInputError(f"the output is {shown}, not {wanted}", hint=hint)
    return wanted


class RunOutputs:
    def __init__(self, store: Any, cas: Any, runs: Any) -> None:
        self.store = store
        self.cas = cas
        self.runs = runs
        self._run_id = "RUN"

    def write(
        self,
        actor: str,
        run_id: str,
        file: str | Path,
        *,
        task: str | None = None,
        domain: str | None = None,
        fmt: str | None = None,
    ) -> dict[str, Any]:
        """Write the output of ``run_id`` (or of its task ``task``) to ``file``."""
        from mlstudio.data.writes import check_target

        target = Path(file)
        if fmt is not None and fmt not in FORMATS:
            choose_format("json", "", target, fmt)  # names the problem
        check_target(target)
        return self._governed(actor, run_id, task, domain, fmt=fmt, target=target)

    def read_table(
        self, actor: str, run_id: str, *, task: str | None = None, domain: str | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The table output of ``run_id`` (or of its task ``task``) with its column
        classifications, through the same checks and audit as :meth:`write`."""
        return self._governed(actor, run_id, task, domain, fmt=None, target=None)

    def _governed(
        self,
        actor: str,
        run_id: str,
        task: str | None,
        domain: str | None,
        *,
        fmt: str | None,
        target: Path | None,
    ) -> Any:
        from mlstudio.data import reads
        from mlstudio.data.catalog import load_policy
        from mlstudio.governance.policy import validate_domain
        from mlstudio.governance.rbac import Authorizer, record_denial

        run = self.runs.get(run_id)
        self._run_id = run.id
        reading = domain or run.domain
        validate_domain(reading)
        resource = f"run:{run.id}"
        try:
            with self.store.read() as uow:
                check_view(uow, actor, run.domain)
                policy = load_policy(uow, reading)
                if reading != run.domain:
                    Authorizer(uow.identity).require_domain(
                        actor, reading, _VIEW_ROLES, "read run outputs"
                    )
                node, task_name, spec = _select(uow, run, task)
        except PermissionDeniedError as exc:
            record_denial(self.store, actor, "run.output", resource, exc)
            raise
        if node is not None:
            resource = f"run:{run.id}/{node}"
        output = self._resolve(spec, run.domain)
        label = f"{run.id}/{node}" if node else run.id
        if target is None and output.kind != "table":
            raise InvalidInputError(
                f"the output of {label} is a {output.type}, not a table",
                hint="name a task whose output is a table: run:RUN/TASK",
            )
        chosen = choose_format(output.kind, output.type, target, fmt) if target else "arrow"
        checks = {"action": "run.output", "resource": resource, "extra": {"format": chosen}}
        if output.columns:
            reads.authorize_read(
                self.store, actor, policy, label, output.source_domain, output.columns, **checks
            )
        if target is None:
            table = self._table(output)
            size = None
        else:
            size = self._write(output, target, chosen)
        if output.columns:
            reads.audit_sensitive(
                self.store, actor, policy, output.columns, rows=output.rows, **checks
            )
        info = {
            "run": run.id,
            "node": node,
            "task": task_name,
            "kind": output.kind,
            "type": output.type,
            "format": chosen,
            "file": str(target) if target else None,
            "size_bytes": size,
            "rows": output.rows,
            "columns": [c["name"] for c in output.schema] if output.schema else None,
            "domain": reading,
        }
        if target is None:
            return table, dict(info, classifications=output.columns)
        return info

    def _table(self, output: Output) -> Any:
        import io

        import pyarrow.parquet as pq

        blob = output.data if output.data is not None else self._get(output.digest or "")
        return pq.read_table(io.BytesIO(blob))

    # --- resolution ---------------------------------------------------------------------------
    def _resolve(self, spec: dict[str, Any], run_domain: str) -> Output:
        if "c" in spec:
            return _json_output(spec["c"], None)
        if "v" in spec:
            return self._stored(spec, run_domain)
        leaves = spec.get("l") if "l" in spec else list(spec.get("d", {}).values())
        parts = [self._resolve(s, run_domain) for s in leaves]
        if any(p.kind != "json" for p in parts):
            raise InvalidInputError(
                f"the output is a {'list' if 'l' in spec else 'dict'} of {len(parts)} values, "
                "not all of them JSON",
                hint="download one of them: --task NODE (see: mlstudio runs show RUN)",
            )
        values = [p.value for p in parts]
        value = values if "l" in spec else dict(zip(spec["d"], values, strict=True))
        joined = [c for p in parts for c in p.columns.values()]
        return _json_output(value, Classification.join_all(joined) if joined else None)

    def _stored(self, spec: dict[str, Any], run_domain: str) -> Output:
        from mlstudio.data.io import schema_columns

        ref = spec["v"]
        source = spec.get("domain") or run_domain
        tags = ref.get("classification")
        derived = {"*": Classification.from_dict(tags)} if tags else {}
        path = spec.get("p") or []
        if path:
            return self._indexed(ref, path, derived, source)
        fmt = ref.get("format")
        if fmt == "parquet":
            schema = ref.get("schema")
            columns = schema_columns(schema) if schema else {"*": UNCLASSIFIED}
            return Output(
                "table",
                ref.get("type") or "Dataset",
                digest=ref["digest"],
                schema=schema,
                rows=ref.get("rows"),
                columns=columns,
                source_domain=source,
            )
        if fmt == "json":
            if "inline" in ref:
                out = _json_output(ref["inline"], None)
            else:
                out = Output("json", ref.get("type") or "json", digest=ref["digest"])
            out.columns, out.source_domain = derived, source
            return out
        return Output(
            "pickle",
            ref.get("type") or "object",
            digest=ref["digest"],
            columns=derived,
            source_domain=source,
        )

    def _indexed(
        self,
        ref: dict[str, Any],
        path: list[Any],
        derived: dict[str, Classification],
        source: str,
    ) -> Output:
        """An element of a stored value (``outputs[0]``): decoded, indexed, then re-encoded."""
        from mlstudio.data.values import ValueRef, decode, encode

        value = decode(ValueRef.from_json(ref), self._get)
        for key in path:
            value = value[key]
        encoded, data = encode(value, "the output")
        kind = {"parquet": "table", "json": "json"}.get(encoded.format, "pickle")
        schema = ref.get("schema") if kind == "table" else None
        if kind == "table":
            columns = dict(derived) or {"*": UNCLASSIFIED}
        else:
            columns = derived
        out = Output(kind, encoded.type, data=data, rows=encoded.rows, columns=columns)
        out.schema, out.source_domain = schema, source
        if kind == "json":
            out.value, out.has_value = value, True
        return out

    def _get(self, digest: str) -> bytes:
        from mlstudio.store.artifacts.cas import ArtifactMissingError

        try:
            return self.cas.get(digest)
        except ArtifactMissingError:
            raise NotFoundError(
                f"the output (artifact {digest[:12]}) is no longer in the artifact store",
                hint="mlstudio gc releases the outputs of unpinned runs past --keep-runs-days; "
                f"compute it again with: mlstudio runs clone {self._run_id}",
            ) from None

    # --- writing ------------------------------------------------------------------------------
    def _write(self, output: Output, target: Path, fmt: str) -> int:
        from mlstudio.data.writes import write_bytes, write_table

        if output.has_value:
            text = json.dumps(output.value, indent=2, default=str) + "\n"
            return write_bytes(target, [text.encode()])
        blob = output.data if output.data is not None else self._get(output.digest or "")
        if output.kind != "table" or fmt == "parquet":
            return write_bytes(target, [blob])
        import io

        import pyarrow.parquet as pq

        write_table(pq.read_table(io.BytesIO(blob)), target, fmt)
        return target.stat().st_size


def _json_output(value: Any, classification: Classification | None) -> Output:
    columns = {"*": classification} if classification is not None else {}
    return Output("json", type(value).__name__, value=value, has_value=True, columns=columns)


def _select(uow: Any, run: Any, task: str | None) -> tuple[str | None, str | None, dict[str, Any]]:
    """``(node, task, spec)``: the workflow's output, or the output of task (or node) ``task``."""
    if task is None:
        if run.state != "succeeded" or not run.output:
            raise StateError(
                f"run {run.id} has no output ({run.state})",
                hint=f"see: mlstudio runs show {run.id}; a task's output: --task T",
            )
        return None, None, run.output
    rows = uow.runs.task_runs_of(run.id)
    exact = [t for t in rows if t.node_id == task]
    named = exact or [t for t in rows if t.task == task and not t.node_id.endswith("[*]")]
    if not named:
        raise NotFoundError(
            f"run {run.id} has no task {task!r}", hint=f"see: mlstudio runs show {run.id}"
        )
    if len(named) > 1:
        nodes = ", ".join(t.node_id for t in named[:5]) + (", …" if len(named) > 5 else "")
        raise InvalidInputError(
            f"task {task} ran {len(named)} times in run {run.id} ({nodes})",
            hint="pick one by its node: --task NODE",
        )
    chosen = named[0]
    if chosen.state not in _OK_STATES or not chosen.output:
        raise StateError(
            f"task {chosen.node_id} of run {run.id} has no output ({chosen.state})",
            hint=f"see: mlstudio runs logs {run.id} --task {chosen.node_id}",
        )
    return chosen.node_id, chosen.task, chosen.output
