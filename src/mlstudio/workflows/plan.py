"""A run's plan: the DAG of nodes the tracer recorded, as plain JSON-able data.

Bindings (how a node's argument gets its value) are small JSON trees:
``{"c": value}`` a constant, ``{"a": ValueRef}`` a constant stored as an artifact,
``{"r": node_id, "p": [path…]}`` another node's output (optionally indexed),
``{"l": [binding…]}`` a list and ``{"d": {key: binding}}`` a dict of bindings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TASK = "task"
MAP = "map"  # fans a task out over a list known only at run time
CHOOSE = "choose"  # conditional: picks one of two bindings once the condition is known


@dataclass
class Node:
    id: str
    kind: str
    task: str = ""
    code: str = ""  # key into Plan.code
    inputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    guards: list[list[Any]] = field(default_factory=list)  # [[node_id, path, expected_bool]]
    mapped: str | None = None  # MAP: which argument fans out
    returns: str = "any"

    def deps(self) -> set[str]:
        found: set[str] = set()
        for binding in self.inputs.values():
            binding_deps(binding, found)
        for guard in self.guards:
            found.add(guard[0])
        return found

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        for key in ("task", "code", "inputs", "options", "guards", "mapped", "returns"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        return cls(
            id=data["id"],
            kind=data["kind"],
            task=data.get("task", ""),
            code=data.get("code", ""),
            inputs=data.get("inputs", {}),
            options=data.get("options", {}),
            guards=data.get("guards", []),
            mapped=data.get("mapped"),
            returns=data.get("returns", "any"),
        )


def binding_deps(binding: Any, found: set[str]) -> set[str]:
    if "r" in binding:
        found.add(binding["r"])
    elif "l" in binding:
        for item in binding["l"]:
            binding_deps(item, found)
    elif "d" in binding:
        for item in binding["d"].values():
            binding_deps(item, found)
    return found


@dataclass
class Plan:
    workflow: str
    params: dict[str, Any]
    nodes: dict[str, Node]
    output: dict[str, Any]
    code: dict[str, dict[str, Any]]  # the lock: alias -> resolved module version / working copy
    root: str = ""  # alias of the module holding the workflow
    uses: dict[str, str] = field(default_factory=dict)  # use() reference -> alias it resolved to
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ns/name@v" -> its record

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "params": self.params,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "output": self.output,
            "code": self.code,
            "root": self.root,
            "uses": self.uses,
            "datasets": self.datasets,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        nodes = [Node.from_json(n) for n in data["nodes"]]
        return cls(
            workflow=data["workflow"],
            params=data["params"],
            nodes={n.id: n for n in nodes},
            output=data["output"],
            code=data["code"],
            root=data.get("root", ""),
            uses=data.get("uses", {}),
            datasets=data.get("datasets", {}),
        )


def find_cycle(nodes: dict[str, Node]) -> list[str] | None:
    """A cycle as a list of node ids, or None (iterative DFS, safe for deep graphs)."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(nodes, white)
    for start in nodes:
        if color[start] != white:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(nodes[start].deps()))]
        path = [start]
        color[start] = grey
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                color[node] = black
                continue
            nxt = pending.pop()
            if nxt not in nodes:
                continue
            if color[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            if color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                stack.append((nxt, sorted(nodes[nxt].deps())))
    return None


def validate_plan(plan: Plan) -> list[str]:
    """Structural problems: unknown references and cycles."""
    problems: list[str] = []
    for node in plan.nodes.values():
        for dep in sorted(node.deps()):
            if dep not in plan.nodes:
                problems.append(f"{node.id}: depends on unknown node {dep!r}")
    cycle = find_cycle(plan.nodes)
    if cycle:
        problems.append(f"cycle: {' -> '.join(cycle)}")
    return problems
