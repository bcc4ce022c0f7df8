"""Presentation helpers of the portal: pure functions over the interface's views.

- :func:`fold_tasks` folds a mapped fan-out (``node[0]``, ``node[1]``, ... and ``node[*]``)
  into one node with its count of task runs by state.
- :func:`layout_dag` places nodes in layers by dependency depth (a node sits one layer right
  of its deepest dependency) and returns the geometry of an SVG drawing.
- :func:`gantt` turns task-run start/end timestamps into bars on one time axis.
- :func:`tail_lines` cuts the last lines of a log text, for a page that must stay small.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_MAPPED = re.compile(r"^(?P<base>.+)\[(?:\d+|\*)\]$")
ACTIVE_RUN_STATES = frozenset({"queued", "running", "cancelling"})
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 44, 60, 18, 10


@dataclass
class Node:
    """One drawn node: a task, or a folded fan-out (``count`` > 1 or ``mapped``)."""

    id: str
    label: str
    state: str
    deps: set[str] = field(default_factory=set)
    states: Counter[str] = field(default_factory=Counter)
    mapped: bool = False
    cache_hit: bool = False
    x: int = 0
    y: int = 0

    @property
    def count(self) -> int:
        return sum(self.states.values())


def fold_key(node: str) -> str:
    """``train[3]`` and ``train[*]`` -> ``train[*]``; other node ids as they are."""
    match = _MAPPED.match(node)
    return f"{match['base']}[*]" if match else node


def _summary_state(states: Counter[str]) -> str:
    """The state a folded node shows: the most urgent of its members'."""
    for state in ("failed", "running", "cancelling", "pending", "queued", "cancelled"):
        if states.get(state):
            return state
    return "succeeded" if states else "pending"


def fold_tasks(tasks: list[dict[str, Any]]) -> list[Node]:
    """Nodes in first-seen order; each mapped group is one node counting its members' states.

    A task's ``deps`` (node ids it waits for), when the view carries them, become edges between
    the folded nodes."""
    nodes: dict[str, Node] = {}
    for task in tasks:
        key = fold_key(str(task["node"]))
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = Node(key, key, str(task["state"]), mapped=key != task["node"])
        member = str(task["node"])
        if not (member.endswith("[*]") and key == member):  # the map's own row counts nothing
            node.states[str(task["state"])] += 1
        if key != member:
            node.mapped = True
        node.cache_hit = node.cache_hit or bool(task.get("cache_hit"))
        node.deps.update(fold_key(str(d)) for d in task.get("deps") or ())
    for node in nodes.values():
        node.deps.discard(node.id)
        node.deps &= set(nodes)
        if node.mapped:
            node.state = _summary_state(node.states)
    return list(nodes.values())


def depths(nodes: list[Node]) -> dict[str, int]:
    """Layer of each node: 0 for roots, else 1 + the deepest dependency (cycles are cut)."""
    by_id = {n.id: n for n in nodes}
    out: dict[str, int] = {}

    def depth(node_id: str, seen: frozenset[str]) -> int:
        if node_id in out:
            return out[node_id]
        deps = [d for d in by_id[node_id].deps if d not in seen]
        value = 1 + max((depth(d, seen | {d}) for d in deps), default=-1)
        out[node_id] = value
        return value

    for node in nodes:
        depth(node.id, frozenset({node.id}))
    return out


@dataclass(frozen=True)
class DagLayout:
    nodes: list[Node]
    edges: list[tuple[Node, Node]]  # (dependency, dependent)
    width: int
    height: int


def layout_dag(nodes: list[Node]) -> DagLayout:
    """Layers left to right by depth, nodes top to bottom in their given order."""
    layer_of = depths(nodes)
    rows: Counter[int] = Counter()
    for node in nodes:
        layer = layer_of[node.id]
        node.x = PAD + layer * (NODE_W + GAP_X)
        node.y = PAD + rows[layer] * (NODE_H + GAP_Y)
        rows[layer] += 1
    by_id = {n.id: n for n in nodes}
    edges = [(by_id[d], n) for n in nodes for d in sorted(n.deps)]
    layers = max(layer_of.values(), default=0) + 1
    tallest = max(rows.values(), default=1)
    width = 2 * PAD + layers * NODE_W + (layers - 1) * GAP_X
    height = 2 * PAD + tallest * NODE_H + (tallest - 1) * GAP_Y
    return DagLayout(nodes, edges, width, height)


@dataclass(frozen=True)
class Bar:
    node: str
    state: str
    cache_hit: bool
    attempt: int
    x: float  # fraction of the axis, 0..1
    w: float
    label: str
    estimated: bool


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def gantt(tasks: list[dict[str, Any]], now: datetime | None = None) -> tuple[list[Bar], float]:
    """Bars (one per task run) and the axis length in seconds.

    Uses ``started_at``/``finished_at`` when the view carries them (a running task ends at
    ``now``). Without timestamps, a bar is placed after its dependencies' bars, with the
    task's ``duration_s`` as its length, and marked ``estimated``."""
    spans: dict[str, tuple[float, float, bool]] = {}
    starts = [_when(t.get("started_at")) for t in tasks]
    origin = min((s for s in starts if s is not None), default=None)
    for task, start in zip(tasks, starts, strict=True):
        node = str(task["node"])
        if origin is not None and start is not None:
            end = _when(task.get("finished_at")) or now or start
            begin_s = (start - origin).total_seconds()
            spans[node] = (begin_s, max(begin_s, (end - origin).total_seconds()), False)
            continue
        deps = [spans[d] for d in task.get("deps") or () if d in spans]
        begin_s = max((end for _, end, _ in deps), default=0.0)
        length = float(task.get("duration_s") or 0.0)
        spans[node] = (begin_s, begin_s + length, True)
    axis = max((end for _, end, _ in spans.values()), default=0.0) or 1.0
    bars = []
    for task in tasks:
        node = str(task["node"])
        begin_s, end_s, estimated = spans[node]
        duration = task.get("duration_s")
        label = f"{node} {duration:.2f}s" if isinstance(duration, int | float) else node
        bars.append(
            Bar(
                node=node,
                state=str(task["state"]),
                cache_hit=bool(task.get("cache_hit")),
                attempt=int(task.get("attempt") or 1),
                x=begin_s / axis,
                w=max((end_s - begin_s) / axis, 0.004),
                label=label,
                estimated=estimated,
            )
        )
    return bars, axis


def tail_lines(text: str, lines: int, before: int | None = None) -> tuple[str, int, int]:
    """The ``lines`` lines ending before line ``before`` (default: the end) of ``text``.

    Returns (that text, index of its first line, total lines): the page offers "load earlier"
    while the first index is above 0."""
    all_lines = text.splitlines()
    total = len(all_lines)
    end = total if before is None else max(0, min(before, total))
    start = max(0, end - max(1, lines))
    return "\n".join(all_lines[start:end]), start, total


def run_is_active(state: str) -> bool:
    return state in ACTIVE_RUN_STATES
