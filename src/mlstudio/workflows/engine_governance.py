"""The engine's governance gate: where the execution layer applies the checks of ``data.io``.

The engine is given one :class:`GovernanceGate` per run, built from explicit inputs (the run's
domain policy, the declassifiers that apply to its code, its plan): before a task is dispatched
its reads are checked against the domain (and the columns it will be handed recorded), a cached
result is checked like a fresh write, the worker gets the policy and input tags it needs to
classify and check outputs before storing them, and outputs are audited and, with
``persist=``, registered as dataset versions. Every decision is emitted as a
:class:`~mlstudio.core.events.Decision` event (the audit log subscribes to them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlstudio.core.events import Decision, Event

if TYPE_CHECKING:  # pragma: no cover
    from mlstudio.workflows.engine_state import _State
    from mlstudio.workflows.plan import Plan


class GovernanceGate:
    """The checks of one run. ``emit`` receives the decisions (audit events) it takes."""

    def __init__(
        self,
        policy: Any,
        declassifiers: list[dict[str, Any]],
        plan: Plan,
        emit: Callable[[Event], None],
    ) -> None:
        self.policy = policy  # a governance.policy.DomainPolicy
        self.policy_dict = policy.to_dict()
        self.declassifiers = declassifiers
        self.plan = plan
        self.emit = emit

    @classmethod
    def for_run(
        cls, uow: Any, run: Any, plan: Plan, emit: Callable[[Event], None]
    ) -> GovernanceGate:
        """Read the run's domain policy and applicable declassifiers in ``uow``."""
        from mlstudio.governance.policy import DomainPolicy

        policy = uow.domains.get(run.domain)
        pairs = sorted(
            {
                (plan.code[n.code].get("module") or "", n.task)
                for n in plan.nodes.values()
                if n.code in plan.code
            }
        )
        declassifiers = [
            d.to_dict() for d in uow.declassifiers.applicable([p for p in pairs if p[0]])
        ]
        # A domain deleted after the run was planned reads nothing (fail closed).
        domain = DomainPolicy.from_dict(policy) if policy else closed_policy(run.domain)
        return cls(domain, declassifiers, plan, emit)

    def decide(
        self, run: Any, action: str, resource: str, decision: str, details: dict[str, Any]
    ) -> None:
        """Emit one audited decision of the execution layer for ``run``."""
        self.emit(Decision(run.id, run.created_by, action, resource, decision, details))

    # --- governance (the checks live in data.io; this is where the engine applies them) -------
    def reads(self, run: Any, s: _State) -> list[Any]:
        from mlstudio.data import io

        tables = io.table_inputs(s.inputs or {})
        derived = io.derived_inputs(s.inputs or {})
        if not tables and not derived:
            return []
        sql = s.node.options.get("sql")
        used = None
        if sql:
            schemas = {
                arg: [c["name"] for c in specs[0]["v"].get("schema") or []]
                for arg, specs in tables.items()
            }
            used = io.sql_columns_used(sql, schemas)
        reads = []
        for arg, specs in tables.items():
            for index, spec in enumerate(specs):
                columns = io.schema_columns(spec["v"].get("schema"))
                if not spec["v"].get("schema"):
                    # a table without classification metadata is unclassified: restricted
                    from mlstudio.governance.classification import UNCLASSIFIED

                    columns = {"*": UNCLASSIFIED}
                label = spec.get("dataset") or f"the output {s.node.id} reads as {arg}"
                domain = spec.get("domain") or run.domain
                name = arg if len(specs) == 1 else f"{arg}[{index}]"
                reads.append(
                    io.read_of(name, label, domain, columns, s.node.options, used, self.policy)
                )
        return reads

    def check_reads(self, run: Any, s: _State) -> str | None:
        """Deny the task before user code runs if its domain may not read what it is handed."""
        from mlstudio.data import io

        reads = self.reads(run, s)
        if not reads:
            return None
        s.reads = {r.arg: sorted(r.columns) for r in reads}
        violations = io.check_reads(self.policy, reads)
        resource = f"run:{run.id}/{s.node.id}"
        if violations:
            self.decide(
                run,
                "data.read",
                resource,
                "deny",
                {"domain": run.domain, "violations": [v.to_dict() for v in violations]},
            )
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            return f"denied: {violations[0].message}{more}"
        for read in reads:
            sensitive = io.sensitive(read.columns)
            if sensitive:
                self.decide(
                    run,
                    "data.read",
                    resource,
                    "allow",
                    {"domain": run.domain, "dataset": read.label, "columns": sensitive},
                )
        return None

    def check_cached(self, run: Any, s: _State, output: dict[str, Any]) -> str | None:
        """A cached result is checked like a fresh write: may this domain hold it?"""
        from mlstudio.data import io

        schema = output.get("v", {}).get("schema") if "v" in output else None
        if not schema:
            return None
        persist = s.node.options.get("persist")
        violations = io.check_write(
            self.policy,
            f"the cached output of {s.node.id}",
            io.schema_columns(schema),
            bool(persist),
        )
        if not violations:
            return None
        self.decide(
            run,
            "cache.read",
            f"run:{run.id}/{s.node.id}",
            "deny",
            {"domain": run.domain, "violations": [v.to_dict() for v in violations]},
        )
        return f"denied: {violations[0].message}"

    def for_worker(self, run: Any, s: _State, code: dict[str, Any]) -> dict[str, Any]:
        """What the worker needs to classify and check the output before it stores it."""
        from mlstudio.data import io

        tables = io.table_inputs(s.inputs or {})
        inputs: dict[str, Any] = {}
        for arg, specs in tables.items():
            for index, spec in enumerate(specs):
                name = arg if len(specs) == 1 else f"{arg}[{index}]"
                schema = spec["v"].get("schema") or []
                wanted = set((s.reads or {}).get(name, [c["name"] for c in schema]))
                inputs[name] = [c for c in schema if c["name"] in wanted]
        for arg, classification in io.derived_inputs(s.inputs or {}).items():
            inputs[arg] = [{"name": "*", "classification": classification.to_dict()}]
        return {
            "policy": self.policy_dict,
            "domain": run.domain,
            "label": s.node.options.get("persist") or f"the output of {s.node.id}",
            "inputs": inputs,
            "projection": {k: v for k, v in (s.reads or {}).items() if k in tables},
            "declassifiers": self.declassifiers_for(code, s.node.task),
        }

    def declassifiers_for(self, code: dict[str, Any], task: str) -> list[dict[str, Any]]:
        if not self.declassifiers:
            return []
        module = code.get("module") or ""
        return [
            d
            for d in self.declassifiers
            if d["module"] == module and d["task"] == task and d["code_digest"] == code["digest"]
        ]

    def audit_output(self, run: Any, s: _State, output: dict[str, Any]) -> None:
        """Record the classification the worker gave a fresh output table."""
        schema = output.get("schema")
        if schema:
            tags = {c["name"]: _spec(c["classification"]) for c in schema}
            details: dict[str, Any] = {"domain": run.domain, "columns": tags}
            # the worker records the declassifiers it applied in each lowered column's provenance
            applied = sorted(
                {d for c in schema for d in (c.get("provenance") or {}).get("declassifiers", [])}
            )
            if applied:
                details["declassifiers"] = applied
            self.decide(run, "data.propagate", f"run:{run.id}/{s.node.id}", "allow", details)

    def persist_request(self, run: Any, s: _State, output: dict[str, Any]) -> dict[str, Any] | None:
        """The dataset version to register for an output with ``persist=`` (None: nothing)."""
        name = s.node.options.get("persist")
        ref = output.get("v") if "v" in output else None
        if not name or not ref or not ref.get("schema"):
            return None
        columns = [
            {**c, "provenance": {**c.get("provenance", {}), "run_id": run.id, "node": s.node.id}}
            for c in ref["schema"]
        ]
        code = self.plan.code.get(s.node.code, {})
        return {
            "namespace": name.split("/")[0],
            "full_name": name,
            "digest": ref["digest"],
            "domain": run.domain,
            "num_rows": ref.get("rows") or 0,
            "size_bytes": ref.get("size") or 0,
            "columns": columns,
            "source": {
                "kind": "run",
                "run_id": run.id,
                "node": s.node.id,
                "task": s.node.task,
                "module": code.get("module"),
            },
            "created_by": run.created_by,
        }


def _spec(classification: dict[str, Any]) -> str:
    from mlstudio.governance.classification import Classification

    return Classification.from_dict(classification).spec()


def closed_policy(name: str) -> Any:
    from mlstudio.governance.classification import Level
    from mlstudio.governance.policy import DomainPolicy

    return DomainPolicy(
        name=name,
        clearance=Level.PUBLIC,
        readable_labels=frozenset(),
        readable_domains=frozenset(),
        may_persist=False,
        promoted_only=True,
        description="unknown domain: reads and persists nothing",
    )
