"""Storing a judgement: the per-item verdicts as a governed dataset, the report as an
``evaluations`` row (``eval show ID``, ``eval list``), and the audit record — so a judge's
report can be read again and re-derived item by item, like ``eval compare``'s.

The verdict columns are derived from everything the judge read (both answers, the reference,
the question, the human labels), so they carry the join of those columns' classifications;
an input column without one makes them unclassified (the most restricted).
"""

from __future__ import annotations

import json
from typing import Any

from mlstudio.governance.classification import UNCLASSIFIED, Classification


def _verdicts_table(report: Any, ids: list | None, id_column: str, human: dict | None) -> Any:
    import pyarrow as pa

    data: dict[str, Any] = {"item": pa.array(range(report.n), type=pa.int64())}
    if ids is not None:
        data[id_column] = pa.array(ids)
    data["a_then_b"] = pa.array([first for first, _ in report.orders], type=pa.string())
    data["b_then_a"] = pa.array([second for _, second in report.orders], type=pa.string())
    data["outcome"] = pa.array(report.outcomes, type=pa.string())
    if human:
        data["human"] = pa.array([human.get(i) for i in range(report.n)], type=pa.string())
    return pa.table(data)


def _columns(
    table: Any, derived: Classification, id_class: Classification | None, id_column: str
) -> list[dict[str, Any]]:
    out = []
    for field in table.schema:
        if field.name == "item":
            cls, rule = Classification.parse("public"), "row position"
        elif field.name == id_column and id_class is not None:
            cls, rule = id_class, "copied"
        else:
            cls, rule = derived, "judgement"
        out.append(
            {
                "name": field.name,
                "type": str(field.type),
                "classification": cls.to_dict(),
                "provenance": {"rule": rule},
            }
        )
    return out


def record_judgement(
    service: Any,
    actor: str,
    out: dict[str, Any],
    report: Any,
    target_name: str,
    *,
    ids: list | None,
    id_column: str,
    human: dict[int, str] | None,
    classification: list[Classification | None],
    id_class: Classification | None,
) -> dict[str, Any]:
    """Save the verdicts dataset and the report; returns ``out`` with ``verdicts`` set."""
    from mlstudio.data.governed_write import save_table

    derived = Classification.join_all([c or UNCLASSIFIED for c in classification])
    table = _verdicts_table(report, ids, id_column, human)
    out["verdicts"] = save_table(
        service.store,
        service.cas,
        actor,
        target_name,
        table,
        _columns(table, derived, id_class, id_column),
        domain=out["domain"],
        source={"kind": "judgement", "evaluation": out["id"], "dataset": out["dataset"]},
        action="eval.verdicts",
        details={"evaluation": out["id"]},
    )
    name, _, version = out["dataset"].partition("@")
    stored = json.loads(json.dumps(out, default=str))

    def work(uow: Any) -> None:
        uow.evaluation.add(
            {
                "id": out["id"],
                "dataset": name,
                "dataset_version": int(version),
                "domain": out["domain"],
                "label": "(judge)",
                "candidates": [
                    {"name": "A", "ref": f"column:{out['a']}", "kind": "column"},
                    {"name": "B", "ref": f"column:{out['b']}", "kind": "column"},
                ],
                "metrics": [out["judge"]],
                "margin": 0.0,
                "report": stored,
                "scores": out["verdicts"],
                "tracking_run": None,
                "created_by": actor,
            }
        )
        uow.audit.record(
            actor,
            "eval.judge",
            f"evaluation:{out['id']}",
            details={
                "dataset": out["dataset"],
                "domain": out["domain"],
                "judge": out["judge"],
                "human": out["human"],
                "a_wins": report.a_wins,
                "b_wins": report.b_wins,
                "inconsistent": report.inconsistent,
                "cohen_kappa": out["cohen_kappa"],
                "verdicts": out["verdicts"],
            },
        )

    service.store.retrying(work)
    return out
