"""Column lineage of named datasets: walk provenance back through runs to imports.

Every column of a dataset version records its provenance. An imported column ends at its import.
A column a run wrote says which inputs of the producing task it derives from
(``"sources": ["ARG.COLUMN", ...]``); the run's plan says what each argument was bound to
(another task's output ``{"r": node}``, a named dataset ``{"ds": {...}}``, a list or dict of
bindings, or a constant), and each task run's stored output carries the same per-column schema
with provenance. Following those links recursively gives a graph of nodes
(``dataset`` / ``task`` / ``import`` / ``constant`` / ``unresolved``) and edges from upstream to
downstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstudio.core.clock import iso
from mlstudio.governance.classification import Classification

if TYPE_CHECKING:  # pragma: no cover
    from mlstudio.data.records import DatasetRecord
    from mlstudio.store.metadata.store import UnitOfWork

MAX_NODES = 5000


def _spec(classification: Any) -> str | None:
    if not isinstance(classification, dict):
        return None
    try:
        return Classification.from_dict(classification).spec()
    except Exception:  # a malformed stored value: show nothing rather than fail the walk
        return None


def provenance_sources(provenance: dict[str, Any] | None) -> list[str]:
    """``ARG.COLUMN`` sources, looking through manual raises to the lineage they replaced."""
    seen = 0
    while provenance and seen < 32:
        sources = provenance.get("sources")
        if sources:
            return [s for s in sources if isinstance(s, str)]
        provenance = provenance.get("previous")
        seen += 1
    return []


def _output_schema(task_run: Any) -> list[dict[str, Any]] | None:
    output = getattr(task_run, "output", None)
    if not isinstance(output, dict):
        return None
    value = output.get("v")
    if not isinstance(value, dict):
        return None
    schema = value.get("schema")
    return schema if isinstance(schema, list) else None


class LineageWalker:
    """Walks lineage inside one read transaction; caches runs, plans and task runs."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._runs: dict[str, Any] = {}
        self._plans: dict[str, dict[str, dict[str, Any]]] = {}
        self._task_runs: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {}
        self._datasets: dict[tuple[str, int | None], Any] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, str]] = []
        self._edge_set: set[tuple[str, str]] = set()
        self.truncated = False

    # --- entry point ----------------------------------------------------------------------------
    def column_graph(self, record: DatasetRecord, column: str) -> dict[str, Any]:
        self.nodes, self.edges, self._edge_set, self.truncated = {}, [], set(), False
        root = self.dataset_column(record, column)
        return {
            "column": column,
            "root": root,
            "nodes": list(self.nodes.values()),
            "edges": self.edges,
            "truncated": self.truncated,
        }

    # --- graph building -------------------------------------------------------------------------
    def _add(self, node: dict[str, Any]) -> bool:
        """Add ``node``; False when it was there already or the graph is full."""
        if node["id"] in self.nodes:
            return False
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return False
        self.nodes[node["id"]] = node
        return True

    def _edge(self, upstream: str, downstream: str) -> None:
        if upstream in self.nodes and (upstream, downstream) not in self._edge_set:
            self._edge_set.add((upstream, downstream))
            self.edges.append({"from": upstream, "to": downstream})

    def _unresolved(self, key: str, reason: str, **fields: Any) -> str:
        node_id = f"unresolved:{key}"
        self._add({"id": node_id, "kind": "unresolved", "reason": reason, **fields})
        return node_id

    # --- datasets -------------------------------------------------------------------------------
    def _dataset(self, name: str, version: int | None) -> Any:
        key = (name, version)
        if key not in self._datasets:
            self._datasets[key] = self.uow.datasets.get(name, version)
        return self._datasets[key]

    def dataset_column(self, record: DatasetRecord, column: str) -> str:
        node_id = f"dataset:{record.ref}#{column}"
        col = next((c for c in record.columns if c.get("name") == column), None)
        provenance = (col or {}).get("provenance") or {}
        node = {
            "id": node_id,
            "kind": "dataset",
            "dataset": record.full_name,
            "version": record.version,
            "column": column,
            "domain": record.domain,
            "classification": _spec((col or {}).get("classification")),
            "rule": provenance.get("rule"),
        }
        if col is None:
            node["missing"] = True
        if not self._add(node) or col is None:
            return node_id
        source = record.source or {}
        kind = source.get("kind")
        if kind == "import":
            import_id = f"import:{record.ref}"
            self._add(
                {
                    "id": import_id,
                    "kind": "import",
                    "dataset": record.ref,
                    "file": source.get("file"),
                    "format": source.get("format"),
                    "by": record.created_by,
                    "at": iso(record.created_at),
                }
            )
            self._edge(import_id, node_id)
        elif kind == "run":
            run_id = provenance.get("run_id") or source.get("run_id")
            task_node = provenance.get("node") or source.get("node")
            if run_id and task_node:
                upstream = self.task_column(run_id, task_node, column, provenance)
                self._edge(upstream, node_id)
        return node_id

    # --- runs -----------------------------------------------------------------------------------
    def _run(self, run_id: str) -> Any:
        if run_id not in self._runs:
            self._runs[run_id] = self.uow.runs.get_run(run_id)
        return self._runs[run_id]

    def _plan_nodes(self, run_id: str) -> dict[str, dict[str, Any]]:
        if run_id not in self._plans:
            run = self._run(run_id)
            raw = ((run.plan if run else None) or {}).get("nodes") or []
            if isinstance(raw, dict):
                raw = list(raw.values())
            self._plans[run_id] = {n["id"]: n for n in raw if isinstance(n, dict) and "id" in n}
        return self._plans[run_id]

    def _task_run(self, run_id: str, node_id: str) -> tuple[Any, list[Any]]:
        """The newest task run of ``node_id`` and the task runs of its fanned-out children."""
        if run_id not in self._task_runs:
            by_node: dict[str, Any] = {}
            children: dict[str, list[Any]] = {}
            for tr in self.uow.runs.task_runs_of(run_id):
                by_node[tr.node_id] = tr  # ordered by id: the last one is the newest
                if tr.parent_node:
                    children.setdefault(tr.parent_node, []).append(tr)
            self._task_runs[run_id] = (by_node, children)
        by_node, children = self._task_runs[run_id]
        return by_node.get(node_id), children.get(node_id, [])

    def task_column(
        self, run_id: str, node_id: str, column: str, provenance: dict[str, Any] | None = None
    ) -> str:
        """The output column ``column`` of task node ``node_id`` in run ``run_id``."""
        graph_id = f"task:{run_id}/{node_id}#{column}"
        if graph_id in self.nodes:
            return graph_id
        if self._run(run_id) is None:
            return self._unresolved(f"run:{run_id}", f"run {run_id} not found", run=run_id)
        plan_node = self._plan_nodes(run_id).get(node_id)
        task_run, children = self._task_run(run_id, node_id)
        classification = None
        schema_col = None
        for candidate in [task_run, *children]:
            schema = _output_schema(candidate) if candidate is not None else None
            schema_col = next((c for c in schema or [] if c.get("name") == column), None)
            if schema_col is not None:
                break
        if schema_col is not None:
            classification = schema_col.get("classification")
            if not provenance or not provenance_sources(provenance):
                provenance = schema_col.get("provenance") or provenance
        provenance = provenance or {}
        node = {
            "id": graph_id,
            "kind": "task",
            "run": run_id,
            "node": node_id,
            "task": getattr(task_run, "task", None) or (plan_node or {}).get("task"),
            "module": getattr(task_run, "module", None),
            "column": column,
            "classification": _spec(classification),
            "rule": provenance.get("rule"),
        }
        if plan_node is None:
            node["missing"] = True
        if not self._add(node) or plan_node is None:
            return graph_id
        inputs = plan_node.get("inputs") or {}
        for source in provenance_sources(provenance):
            arg, _, source_column = source.partition(".")
            binding = inputs.get(arg)
            if binding is None:
                upstream = [
                    self._unresolved(
                        f"{run_id}/{node_id}/{source}",
                        f"argument {arg!r} is not an input of {node_id}",
                        run=run_id,
                        node=node_id,
                    )
                ]
            else:
                upstream = self.binding(run_id, binding, source_column)
            for up in upstream:
                self._edge(up, graph_id)
        return graph_id

    def _has_column(self, run_id: str, binding: Any, column: str) -> bool:
        """Whether ``binding`` is known to carry ``column`` (lists: any item does)."""
        if not isinstance(binding, dict):
            return False
        if "r" in binding:
            task_run, children = self._task_run(run_id, binding["r"])
            return any(
                any(c.get("name") == column for c in _output_schema(tr) or [])
                for tr in [task_run, *children]
                if tr is not None
            )
        if "ds" in binding:
            ref = binding["ds"] or {}
            record = self._dataset(ref["name"], ref.get("version")) if ref.get("name") else None
            return record is not None and any(c.get("name") == column for c in record.columns)
        if "l" in binding or "d" in binding:
            items = binding["l"] if "l" in binding else list((binding["d"] or {}).values())
            return any(self._has_column(run_id, item, column) for item in items)
        return False

    def binding(self, run_id: str, binding: Any, column: str) -> list[str]:
        """Graph nodes for ``column`` of whatever ``binding`` hands to a task."""
        if not isinstance(binding, dict):
            return []
        if "r" in binding:
            return [self.task_column(run_id, binding["r"], column)]
        if "ds" in binding:
            ref = binding["ds"] or {}
            name, version = ref.get("name"), ref.get("version")
            record = self._dataset(name, version) if name else None
            if record is None:
                shown = f"{name}@{version}" if version else str(name)
                return [self._unresolved(f"dataset:{shown}", f"dataset {shown} not found")]
            return [self.dataset_column(record, column)]
        if "l" in binding or "d" in binding:
            items = binding["l"] if "l" in binding else list((binding["d"] or {}).values())
            having = [item for item in items if self._has_column(run_id, item, column)]
            found: list[str] = []
            for item in having or items:
                found.extend(self.binding(run_id, item, column))
            return found
        if "a" in binding or "c" in binding:
            digest = (binding.get("a") or {}).get("digest", "") if "a" in binding else ""
            node_id = f"constant:{run_id}/{digest or 'inline'}#{column}"
            self._add({"id": node_id, "kind": "constant", "run": run_id, "column": column})
            return [node_id]
        return []
