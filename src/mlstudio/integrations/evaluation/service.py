"""``eval compare``: candidates scored on one governed evaluation set, compared pair by pair with
paired statistics, sliced with a multiple-testing correction, stored three ways — the
evaluation row (its full report, what gates read), a governed dataset of item-level scores
(inheriting the evaluation set's classification, so the report is reproducible) and a tracking
run in experiment ``evaluations`` with the report as artifacts.

Reading the evaluation set and loading each model go through the same checks as any read: a
domain that may not read them is refused (and audited) before anything is scored.
"""

from __future__ import annotations

import json
from typing import Any

from mlstudio.core.ids import new_id
from mlstudio.data.io import field_classifications
from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.classification import UNCLASSIFIED, Classification
from mlstudio.integrations.evaluation.candidates import Candidate, check_refs, resolve

EXPERIMENT = "evaluations"


class EvaluationService:
    def __init__(
        self, store: Any, cas: Any, registry: Any, tracking: Any, runs: Any = None
    ) -> None:
        self.store = store
        self.cas = cas
        self.registry = registry
        self.tracking = tracking
        self.runs = runs  # the run service: run:RUN[/TASK] candidates

    def _read_run(self, actor: str, run_id: str, task: str | None, domain: str) -> Any:
        """A run's (or task's) table output, through the governed run-output read."""
        from mlstudio.workflows.outputs import RunOutputs

        if self.runs is None:
            raise InvalidInputError(
                "run outputs cannot be candidates here", hint="use a column or a model"
            )
        return RunOutputs(self.store, self.cas, self.runs).read_table(
            actor, run_id, task=task, domain=domain
        )

    # --- compare ------------------------------------------------------------------------------
    def compare(
        self,
        actor: str,
        candidates: list[str],
        *,
        on: str,
        label: str | None = None,
        metrics: list[str] | None = None,
        slices: list[str] | None = None,
        cluster: str | None = None,
        margin: float = 0.0,
        domain: str = "experimentation",
        save: str | None = None,
        resamples: int = 2000,
        seed: int = 0,
        confidence: float = 0.95,
        correction: str = "holm",
    ) -> dict[str, Any]:
        """Compare ``candidates`` (the first is the baseline) on dataset ``on``; returns the
        report (also stored, with item-level scores as a dataset and a tracking run)."""
        from mlstudio.data.catalog import DatasetService, parse_dataset_name, parse_dataset_ref
        from mlstudio.governance.rbac import Authorizer
        from mlstudio.integrations.evaluation.compare import check_options, evaluate
        from mlstudio.integrations.evaluation.metrics import get_metric

        check_refs(list(candidates))
        check_options(margin, resamples, confidence, correction)
        slices = list(dict.fromkeys(slices or []))
        for m in metrics or []:
            get_metric(m)  # an unknown metric is refused before anything is read
        name, _ = parse_dataset_ref(on)
        target = parse_dataset_name(save) if save else None
        target_name = target.full if target else f"{name.namespace}/{name.name}-eval"
        with self.store.read() as uow:  # the scores must be storable before anything is scored
            Authorizer(uow.identity).require_namespace(
                actor, target_name.partition("/")[0], "write datasets"
            )
        dataset = DatasetService(self.store, self.cas).read(actor, on, domain=domain)
        table = dataset.to_arrow()
        classes = field_classifications(table)
        columns = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
        ref = dataset.name  # NS/NAME@V
        for col in [*slices, *([cluster] if cluster else []), *([label] if label else [])]:
            if col not in columns:
                raise InvalidInputError(
                    f"{ref} has no column {col!r}", hint=f"its columns are {', '.join(columns)}"
                )
        resolved = [
            resolve(
                self.registry,
                actor,
                c,
                columns,
                classes,
                domain=domain,
                dataset=ref,
                read_run=lambda run, task: self._read_run(actor, run, task, domain),
            )
            for c in candidates
        ]
        _unique_names(resolved)
        from mlstudio.integrations.evaluation.metrics import LABEL_FREE

        label = label or next((c.target for c in resolved if c.target), None)
        label_free = bool(metrics) and set(metrics) <= LABEL_FREE
        if label is None and label_free:
            y: Any = [0] * table.num_rows  # the scores are the candidates' own values
        elif not label or label not in columns:
            raise InvalidInputError(
                "which column holds the true outcome? "
                + (f"{ref} has no column {label!r}" if label else "no candidate names one"),
                hint="add --label COLUMN",
            )
        else:
            y = columns[label].tolist()
        result = evaluate(
            y,
            {c.name: c.predictions for c in resolved},
            metrics=metrics,
            slices={col: columns[col].tolist() for col in slices},
            clusters=columns[cluster].tolist() if cluster else None,
            margin=margin,
            resamples=resamples,
            seed=seed,
            confidence=confidence,
            correction=correction,
            keep_item_scores=True,
        )
        item_scores = result.pop("item_scores")
        eval_id = new_id("ev")
        report = {
            "id": eval_id,
            "dataset": ref,
            "domain": domain,
            "label": label or "(none)",
            "candidates": [c.describe() for c in resolved],
            "cluster": cluster,
            **result,
            "created_by": actor,
        }
        scores_table = _scores_table(columns, y, label, slices, cluster, resolved, item_scores)
        scores_columns = _scores_columns(scores_table, classes, label, slices, cluster, resolved)
        report["scores"] = self._save_scores(
            actor, target_name, scores_table, scores_columns, domain, eval_id, ref
        )
        report["tracking_run"] = self._track(actor, report)
        self._record(actor, report)
        return report

    # --- storage ------------------------------------------------------------------------------
    def _save_scores(
        self,
        actor: str,
        full_name: str,
        table: Any,
        columns: list[dict[str, Any]],
        domain: str,
        eval_id: str,
        source: str,
    ) -> str:
        from mlstudio.data.governed_write import save_table

        return save_table(
            self.store,
            self.cas,
            actor,
            full_name,
            table,
            columns,
            domain=domain,
            source={"kind": "evaluation", "evaluation": eval_id, "dataset": source},
            action="eval.scores",
            details={"evaluation": eval_id},
        )

    def _track(self, actor: str, report: dict[str, Any]) -> str:
        from mlstudio.integrations.evaluation.report import html_page, markdown
        from mlstudio.integrations.tracking.service import now_ms

        experiment = self.tracking.ensure_experiment(actor, EXPERIMENT)
        run = self.tracking.create_run(
            actor,
            experiment["id"],
            name=f"{report['dataset']}: {' vs '.join(c['name'] for c in report['candidates'])}",
            tags={"mlstudio.evaluation": report["id"], "mlstudio.domain": report["domain"]},
        )
        now = now_ms()
        points: list[tuple[str, Any, int | None, int | None]] = []
        for c in report["comparisons"]:
            key = f"{c['metric']}/{c['candidate']}"
            points += [
                (f"{key}/mean", c["b"]["mean"], 0, now),
                (f"{key}/delta", c["delta"], 0, now),
            ]
            if c["delta_ci"]:
                points += [
                    (f"{key}/delta_ci_low", c["delta_ci"]["low"], 0, now),
                    (f"{key}/delta_ci_high", c["delta_ci"]["high"], 0, now),
                ]
        points = [p for p in points if p[1] is not None]
        params = {
            "dataset": report["dataset"],
            "candidates": ",".join(c["ref"] for c in report["candidates"])[:500],
            "metrics": ",".join(report["metrics"]),
            "margin": report["margin"],
            "domain": report["domain"],
        }
        self.tracking.log_batch(actor, run["id"], metrics=points[:1000], params=params)
        for path, text in (
            ("report.md", markdown(report)),
            ("report.html", html_page(report)),
            ("report.json", json.dumps(report, indent=2, default=str)),
        ):
            self.tracking.put_artifact(actor, run["id"], f"evaluation/{path}", text.encode())
        self.tracking.update_run(actor, run["id"], status="FINISHED", end_time=now_ms())
        return run["id"]

    def _record(self, actor: str, report: dict[str, Any]) -> None:
        name, _, version = report["dataset"].partition("@")

        def work(uow: Any) -> None:
            uow.evaluation.add(
                {
                    "id": report["id"],
                    "dataset": name,
                    "dataset_version": int(version),
                    "domain": report["domain"],
                    "label": report["label"],
                    "candidates": report["candidates"],
                    "metrics": report["metrics"],
                    "margin": report["margin"],
                    "report": json.loads(json.dumps(report, default=str)),
                    "scores": report["scores"],
                    "tracking_run": report["tracking_run"],
                    "created_by": actor,
                }
            )
            uow.audit.record(
                actor,
                "eval.compare",
                f"evaluation:{report['id']}",
                details={
                    "dataset": report["dataset"],
                    "domain": report["domain"],
                    "candidates": [c["ref"] for c in report["candidates"]],
                    "verdicts": {
                        f"{c['metric']}/{c['candidate']}": c["verdict"]
                        for c in report["comparisons"]
                    },
                },
            )

        self.store.retrying(work)

    # --- judges and preferences ----------------------------------------------------------------
    def judge(self, actor: str, a: str, b: str, **options: Any) -> dict[str, Any]:
        """Judge answers ``a`` and ``b`` in both orders (see :func:`judging.judge`)."""
        from mlstudio.integrations.evaluation.judging import judge

        return judge(self, actor, a, b, **options)

    def rank(self, actor: str, **options: Any) -> dict[str, Any]:
        """Bradley-Terry ranking from pairwise preferences (see :func:`judging.rank`)."""
        from mlstudio.integrations.evaluation.judging import rank

        return rank(self, actor, **options)

    # --- online experiments -------------------------------------------------------------------
    def lift(
        self,
        actor: str,
        experiment: str,
        *,
        metric: str,
        variant_column: str,
        unit_column: str,
        pre_period_column: str | None = None,
        denominator_column: str | None = None,
        control: str | None = None,
        treatment: str | None = None,
        domain: str = "experimentation",
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        """Business lift of an online experiment's logged outcomes (dataset ``experiment``,
        read under ``domain``): per treatment vs the control, CI by the delta method, CUPED
        with a pre-period column, the sample-ratio-mismatch check. Audited as ``eval.lift``."""
        from mlstudio.data.catalog import DatasetService
        from mlstudio.integrations.evaluation.lift import analyse_lift
        from mlstudio.integrations.evaluation.served import served_versions

        dataset = DatasetService(self.store, self.cas).read(actor, experiment, domain=domain)
        table = dataset.to_arrow()
        rows = {n: table.column(n).to_pylist() for n in table.column_names}
        results = analyse_lift(
            rows,
            metric=metric,
            variant_column=variant_column,
            unit_column=unit_column,
            control=control,
            treatment=treatment,
            pre_period_column=pre_period_column,
            denominator_column=denominator_column,
            confidence=confidence,
        )
        served, notes = served_versions(rows, variant_column)
        out = {
            "dataset": dataset.name,
            "domain": domain,
            "metric": metric,
            "unit": unit_column,
            "variant": variant_column,
            "results": [r.to_dict() for r in results],
        }
        if served:  # a prediction log (or outcomes joined to one): the versions behind a lift
            out["served"] = served
            out["notes"] = notes
            for result in out["results"]:
                result["served"] = {
                    "control": served.get(str(result["control"]), []),
                    "treatment": served.get(str(result["treatment"]), []),
                }

        def work(uow: Any) -> None:
            uow.audit.record(
                actor,
                "eval.lift",
                f"dataset:{dataset.name}",
                details={
                    "domain": domain,
                    "metric": metric,
                    "lift": {r.treatment: r.lift_rel for r in results},
                },
            )

        self.store.retrying(work)
        return out

    # --- reading ------------------------------------------------------------------------------
    def show(self, actor: str, ref: str) -> dict[str, Any]:
        """A stored evaluation's report (``ref``: its id or a unique prefix)."""
        from mlstudio.data.catalog import EXPORT_VIEW_ROLES, require_domain_role

        with self.store.read() as uow:
            row = uow.evaluation.get(ref)
            if row is None:
                found = uow.evaluation.find(ref) if len(ref) >= 6 else []
                if len(found) > 1:
                    raise InvalidInputError(
                        f"{ref!r} matches several evaluations", hint="give more of the id"
                    )
                row = uow.evaluation.get(found[0]) if found else None
            if row is None:
                raise NotFoundError(
                    f"evaluation {ref} does not exist", hint="see: mlstudio eval list"
                )
            require_domain_role(uow, actor, row["domain"], EXPORT_VIEW_ROLES, "read evaluations")
        return dict(row["report"], created_at=_iso(row["created_at"]))

    def list(
        self, actor: str, *, dataset: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            rows = uow.evaluation.list(dataset=dataset, limit=limit, offset=offset)
        return [
            {
                "id": r["id"],
                "dataset": f"{r['dataset']}@{r['dataset_version']}",
                "domain": r["domain"],
                "candidates": [c["name"] for c in r["candidates"]],
                "metrics": r["metrics"],
                "kind": r["report"].get("kind", "compare"),
                "verdicts": _verdicts(r["report"]),
                "scores": r["scores"],
                "created_by": r["created_by"],
                "created_at": _iso(r["created_at"]),
            }
            for r in rows
        ]


# --- helpers ----------------------------------------------------------------------------------
def _verdicts(report: dict[str, Any]) -> dict[str, str]:
    """A stored report's verdicts in a line each: per metric and candidate for a comparison,
    the tally for a judgement."""
    if report.get("kind") == "judge":
        return {
            report["judge"]: f"A {report['a_wins']}, B {report['b_wins']}, tie {report['ties']}, "
            f"inconsistent {report['inconsistent']}"
        }
    return {f"{c['metric']}/{c['candidate']}": c["verdict"] for c in report.get("comparisons", [])}


def _iso(value: Any) -> str | None:
    from mlstudio.core.clock import iso

    return iso(value) if value is not None else None


def _unique_names(resolved: list[Candidate]) -> None:
    seen: dict[str, int] = {}
    for c in resolved:
        if c.name in seen:
            seen[c.name] += 1
            c.name = f"{c.name}_{seen[c.name]}"
        else:
            seen[c.name] = 1


def _scores_table(
    columns: dict[str, Any],
    y: Any,
    label: str,
    slices: list[str],
    cluster: str | None,
    resolved: list[Candidate],
    item_scores: dict[tuple[str, str], Any],
) -> Any:
    import numpy as np
    import pyarrow as pa

    data: dict[str, Any] = {"item": pa.array(np.arange(len(y), dtype=np.int64))}
    for col in [label, *slices, *([cluster] if cluster else [])]:
        if col is not None:
            data.setdefault(col, pa.array(columns[col].tolist()))
    for c in resolved:
        numeric = c.predictions.dtype != object
        data[f"pred__{c.name}"] = (
            pa.array(c.predictions, type=pa.float64()) if numeric else pa.array(list(c.predictions))
        )
    for (metric, cand), scores in item_scores.items():
        data[f"score__{metric}__{cand}".replace("@", "_at_")] = pa.array(scores, type=pa.float64())
    return pa.table(data)


def _scores_columns(
    table: Any,
    classes: dict[str, Classification],
    label: str,
    slices: list[str],
    cluster: str | None,
    resolved: list[Candidate],
) -> list[dict[str, Any]]:
    """Each column's classification: copied columns keep theirs; a candidate's predictions
    and scores carry the label's and everything the candidate read (fail-closed)."""
    by_name = {c.name: c for c in resolved}
    label_class = classes.get(label, UNCLASSIFIED)
    out = []
    for field in table.schema:
        name = field.name
        if name == "item":
            cls, rule = Classification.parse("public"), "row position"
        elif name in classes and name in (label, *slices, cluster):
            cls, rule = classes[name], "copied"
        else:
            cand = name.split("__")[-1]
            source = by_name.get(cand)
            parts = [label_class] if name.startswith("score__") and label else []
            parts.append(source.classification if source else UNCLASSIFIED)
            cls, rule = Classification.join_all(parts), "evaluation"
        out.append(
            {
                "name": name,
                "type": str(field.type),
                "classification": cls.to_dict(),
                "provenance": {"rule": rule},
            }
        )
    return out
