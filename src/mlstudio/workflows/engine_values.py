"""How the engine reads values: a dynamic map child's node, and the resolution of a node's
input bindings against the outputs of the nodes it depends on (kept as references: the engine
materializes only small values, e.g. a condition or the list a map fans out over)."""

from __future__ import annotations

from typing import Any

from mlstudio.data.values import ValueRef, decode
from mlstudio.workflows.engine_state import _State
from mlstudio.workflows.plan import TASK, Node, Plan


class ValueResolver:
    """Resolves the bindings of one run's plan; ``cas`` reads the (small) values the engine
    itself needs, e.g. a condition or the list a map fans out over."""

    def __init__(self, cas: Any, plan: Plan) -> None:
        self.cas = cas
        self.plan = plan

    @staticmethod
    def child(parent: Node, index: int) -> Node:
        """The node of a map's ``index``-th element."""
        base = parent.id[: -len("[*]")] if parent.id.endswith("[*]") else parent.id
        inputs = dict(parent.inputs)
        mapped = dict(inputs[parent.mapped or ""])
        mapped["p"] = [*mapped.get("p", []), index]
        inputs[parent.mapped or ""] = mapped
        return Node(
            id=f"{base}[{index}]",
            kind=TASK,
            task=parent.task,
            code=parent.code,
            inputs=inputs,
            options=parent.options,
            returns=parent.returns[5:-1] if parent.returns.startswith("list[") else "any",
        )

    # --- resolution ---------------------------------------------------------------------------
    def resolve(self, binding: dict[str, Any], states: dict[str, _State]) -> dict[str, Any]:
        if "c" in binding:  # "f": a declared file input (hashed into the key: cache.readset)
            return {"c": binding["c"], "f": 1} if "f" in binding else {"c": binding["c"]}
        if "a" in binding:
            return {"v": binding["a"]}
        if "l" in binding:
            return {"l": [self.resolve(b, states) for b in binding["l"]]}
        if "d" in binding:
            return {"d": {k: self.resolve(b, states) for k, b in binding["d"].items()}}
        if "ds" in binding:
            key = f"{binding['ds']['name']}@{binding['ds']['version']}"
            record = self.plan.datasets[key]
            ref = {
                "digest": record["digest"],
                "format": "parquet",
                "type": "Dataset",
                "size": record.get("size", 0),
                "schema": record["columns"],
                "rows": record.get("rows"),
            }
            return {"v": ref, "dataset": key, "domain": record["domain"]}
        spec = states[binding["r"]].output or {"c": None}
        for index, key in enumerate(binding.get("p", [])):
            if "l" in spec and isinstance(key, int):
                spec = spec["l"][key]
            elif "d" in spec and isinstance(key, str):
                spec = spec["d"][key]
            elif "c" in spec:
                spec = {"c": spec["c"][key]}
            elif (
                "v" in spec
                and "inline" in spec["v"]
                and not spec.get("p")
                and not spec["v"].get("classification")
            ):
                # small unclassified JSON outputs are indexed here, so an element's cache key is
                # its own value (classified ones keep their reference, and so their tags)
                spec = {"c": spec["v"]["inline"][key]}
            elif "v" in spec:
                return {"v": spec["v"], "p": [*spec.get("p", []), *binding["p"][index:]]}
            else:
                raise KeyError(key)
        return spec

    def value(self, spec: dict[str, Any]) -> Any:
        """Materialize a (small) resolved spec in the engine, e.g. a condition or a map list."""
        if "c" in spec:
            return spec["c"]
        if "v" in spec:
            value = decode(ValueRef.from_json(spec["v"]), self.cas.get)
            for key in spec.get("p", []):
                value = value[key]
            return value
        if "l" in spec:
            return [self.value(s) for s in spec["l"]]
        return {k: self.value(s) for k, s in spec["d"].items()}
