"""``eval compare``: candidates scored on one governed evaluation set, compared pair by pair with
paired statistics, sliced with a multiple-testing correction, stored three ways — the
evaluation row (its full report, what gates read), a governed dataset of item-level scores
(inheriting the evaluation set's classification, so the report is reproducible) and a tracking
run in experiment ``evaluations`` with the report as artifacts.

Reading the evaluation set and loading each model go through the same checks as any read: a
domain that may not read them is refused (and audited) before anything is scored.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from mlstudio.core.ids import new_id
from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.classification import UNCLASSIFIED, Classification
from mlstudio.integrations.evaluation.candidates import Candidate, check_refs, resolve

MIN_SLICE_N = 10
MAX_SLICE_VALUES = 50
EXPERIMENT = "evaluations"
CORRECTIONS = ("holm", "bh")


def _check_options(margin: float, resamples: int, confidence: float, correction: str) -> None:
    if not isinstance(margin, int | float) or math.isnan(margin) or margin < 0:
        raise InvalidInputError(
            f"margin must be a number >= 0, not {margin!r}", hint="--margin 0.01"
        )
    if not 100 <= int(resamples) <= 100_000:
        raise InvalidInputError(
            f"resamples must be between 100 and 100000, not {resamples}", hint="--resamples 2000"
        )
    if not 0.5 < confidence < 1:
        raise InvalidInputError(
            f"confidence must be between 0.5 and 1, not {confidence}", hint="--confidence 0.95"
        )
    if correction not in CORRECTIONS:
        raise InvalidInputError(
            f"unknown correction {correction!r}", hint="--correction holm or --correction bh"
        )


def _field_classes(table: Any) -> dict[str, Classification]:
    from mlstudio.data.io import FIELD_KEY

    out = {}
    for f in table.schema:
        meta = f.metadata or {}
        out[f.name] = (
            Classification.from_dict(json.loads(meta[FIELD_KEY]))
            if FIELD_KEY in meta
            else UNCLASSIFIED
        )
    return out


class EvaluationService:
    def __init__(self, store: Any, cas: Any, registry: Any, tracking: Any) -> None:
        self.store = store
        self.cas = cas
        self.registry = registry
        self.tracking = tracking

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
        import numpy as np

        from mlstudio.data.catalog import DatasetService, parse_dataset_name, parse_dataset_ref
        from mlstudio.integrations.evaluation.metrics import default_metrics, get_metric

        check_refs(list(candidates))
        _check_options(margin, resamples, confidence, correction)
        slices = list(dict.fromkeys(slices or []))
        wanted = [get_metric(m) for m in dict.fromkeys(metrics or [])]
        name, _ = parse_dataset_ref(on)
        target = parse_dataset_name(save) if save else None
        dataset = DatasetService(self.store, self.cas).read(actor, on, domain=domain)
        table = dataset.to_arrow()
        classes = _field_classes(table)
        columns = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
        ref = dataset.name  # NS/NAME@V
        resolved = [
            resolve(self.registry, actor, c, columns, classes, domain=domain, dataset=ref)
            for c in candidates
        ]
        _unique_names(resolved)
        label = label or next((c.target for c in resolved if c.target), None)
        if not label:
            raise InvalidInputError(
                "which column holds the true outcome? none of the candidates names one",
                hint="add --label COLUMN",
            )
        for col in [label, *slices, *([cluster] if cluster else [])]:
            if col not in columns:
                raise InvalidInputError(
                    f"{ref} has no column {col!r}", hint=f"its columns are {', '.join(columns)}"
                )
        y = _labels(columns[label], label)
        present = y[~np.isnan(y)]
        task = "classification" if np.isin(present, (0.0, 1.0)).all() else "regression"
        if not wanted:
            wanted = [get_metric(m) for m in default_metrics(task)]
        notes: list[str] = []
        n_label_missing = int(np.isnan(y).sum())
        if n_label_missing:
            notes.append(f"{n_label_missing} items without a label were left out")
        clusters = columns[cluster] if cluster else None
        options = {
            "margin": float(margin),
            "resamples": int(resamples),
            "seed": int(seed),
            "confidence": float(confidence),
        }
        comparisons, item_scores = self._pairs(wanted, y, resolved, clusters, options)
        slice_rows, family = self._slices(wanted, y, resolved, columns, slices, clusters, options)
        _adjust(slice_rows, correction)
        ranking, ranking_metric = _ranking(wanted, item_scores, resolved, options)
        eval_id = new_id("ev")
        report = {
            "id": eval_id,
            "dataset": ref,
            "domain": domain,
            "label": label,
            "task": task,
            "n_items": int(len(y) - n_label_missing),
            "candidates": [c.describe() for c in resolved],
            "baseline": resolved[0].name,
            "metrics": [m.name for m in wanted],
            "margin": float(margin),
            "confidence": float(confidence),
            "resamples": int(resamples),
            "seed": int(seed),
            "cluster": cluster,
            "correction": correction,
            "family_size": family,
            "comparisons": comparisons,
            "slices": slice_rows,
            "ranking": ranking,
            "ranking_metric": ranking_metric,
            "notes": notes,
            "created_by": actor,
        }
        scores_table = _scores_table(columns, y, label, slices, cluster, resolved, item_scores)
        scores_columns = _scores_columns(scores_table, classes, label, slices, cluster, resolved)
        target_name = target.full if target else f"{name.namespace}/{name.name}-eval"
        report["scores"] = self._save_scores(
            actor, target_name, scores_table, scores_columns, domain, eval_id, ref
        )
        report["tracking_run"] = self._track(actor, report)
        self._record(actor, report)
        return report

    def _pairs(
        self, wanted: list[Any], y: Any, resolved: list[Candidate], clusters: Any, options: dict
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Any]]:
        base = resolved[0]
        out: list[dict[str, Any]] = []
        item_scores: dict[tuple[str, str], Any] = {}
        for metric in wanted:
            if metric.kind == "item":
                for c in resolved:
                    item_scores[(metric.name, c.name)] = metric.item_scores(y, c.predictions)
            for other in resolved[1:]:
                result = _compare(metric, y, base, other, item_scores, None, clusters, options)
                out.append(
                    {
                        "metric": metric.name,
                        "candidate": other.name,
                        "baseline": base.name,
                        **result,
                    }
                )
        return out, item_scores

    def _slices(
        self,
        wanted: list[Any],
        y: Any,
        resolved: list[Candidate],
        columns: dict[str, Any],
        slices: list[str],
        clusters: Any,
        options: dict,
    ) -> tuple[list[dict[str, Any]], int]:
        import numpy as np

        rows: list[dict[str, Any]] = []
        base = resolved[0]
        for col in slices:
            values = columns[col]
            distinct = list(dict.fromkeys(v for v in values.tolist() if v is not None))
            if len(distinct) > MAX_SLICE_VALUES:
                raise InvalidInputError(
                    f"slice column {col!r} has {len(distinct)} distinct values (at most "
                    f"{MAX_SLICE_VALUES})",
                    hint="slice by a column with few values (plan, region), or bucket it first",
                )
            for value in sorted(distinct, key=str):
                mask = np.asarray([v == value for v in values.tolist()])
                n = int((mask & ~np.isnan(y)).sum())
                for metric in wanted:
                    for other in resolved[1:]:
                        row = {
                            "column": col,
                            "value": value,
                            "metric": metric.name,
                            "candidate": other.name,
                            "n": n,
                        }
                        if n < MIN_SLICE_N:
                            rows.append(
                                {
                                    **row,
                                    "tested": False,
                                    "delta": _slice_delta(metric, y, base, other, mask),
                                    "delta_ci": None,
                                    "p_value": None,
                                    "adjusted_p": None,
                                    "verdict": None,
                                    "note": f"{n} items: reported, not tested (min {MIN_SLICE_N})",
                                }
                            )
                            continue
                        try:
                            result = _compare(metric, y, base, other, None, mask, clusters, options)
                        except InvalidInputError as exc:  # e.g. one class only in this slice
                            rows.append(
                                {
                                    **row,
                                    "tested": False,
                                    "delta": None,
                                    "delta_ci": None,
                                    "p_value": None,
                                    "adjusted_p": None,
                                    "verdict": None,
                                    "note": exc.message,
                                }
                            )
                            continue
                        rows.append(
                            {
                                **row,
                                "tested": result["p_value"] is not None,
                                "delta": result["delta"],
                                "delta_ci": result["delta_ci"],
                                "p_value": result["p_value"],
                                "adjusted_p": None,
                                "verdict": result["verdict"],
                                "higher_is_better": result["higher_is_better"],
                                "note": "; ".join(result["notes"]) or None,
                            }
                        )
        return rows, sum(1 for r in rows if r["tested"])

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
        import pyarrow.parquet as pq

        from mlstudio.data.catalog import classifications, load_policy, parse_dataset_name
        from mlstudio.governance.audit import refusals_audited
        from mlstudio.governance.policy import enforce, evaluate_write
        from mlstudio.governance.rbac import Authorizer

        dataset = parse_dataset_name(full_name)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        data = buffer.getvalue()
        digest = self.cas.put(data)

        def work(uow: Any) -> str:
            Authorizer(uow.identity).require_namespace(actor, dataset.namespace, "write datasets")
            policy = load_policy(uow, domain)
            enforce(evaluate_write(policy, dataset.full, classifications(columns), True))
            record = uow.datasets.create_version(
                {
                    "namespace": dataset.namespace,
                    "full_name": dataset.full,
                    "digest": digest,
                    "domain": domain,
                    "num_rows": table.num_rows,
                    "size_bytes": len(data),
                    "columns": columns,
                    "source": {"kind": "evaluation", "evaluation": eval_id, "dataset": source},
                    "created_by": actor,
                }
            )
            return record.ref

        with refusals_audited(
            self.store, actor, "eval.scores", f"dataset:{dataset.full}", {"domain": domain}
        ):
            return self.store.retrying(work)

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
                "verdicts": {
                    f"{c['metric']}/{c['candidate']}": c["verdict"]
                    for c in r["report"].get("comparisons", [])
                },
                "scores": r["scores"],
                "created_by": r["created_by"],
                "created_at": _iso(r["created_at"]),
            }
            for r in rows
        ]


# --- helpers ----------------------------------------------------------------------------------
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


def _labels(values: Any, label: str) -> Any:
    import numpy as np

    try:
        return np.asarray([np.nan if v is None else v for v in values.tolist()], dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"label column {label!r} is not numeric",
            hint="use a 0/1 outcome (classification) or a number (regression)",
        ) from None


def _compare(
    metric: Any,
    y: Any,
    base: Candidate,
    other: Candidate,
    item_scores: dict[tuple[str, str], Any] | None,
    mask: Any,
    clusters: Any,
    options: dict[str, Any],
) -> dict[str, Any]:
    """One paired comparison of ``other`` against ``base`` on ``metric`` (on ``mask`` items)."""
    import numpy as np

    from mlstudio.integrations.evaluation import auc, stats

    select = mask if mask is not None else np.ones(len(y), dtype=bool)
    keep = select & ~np.isnan(y)
    yk, pa, pb = y[keep], base.predictions[keep], other.predictions[keep]
    ck = clusters[keep] if clusters is not None else None
    common = {"margin": options["margin"], "confidence": options["confidence"]}
    if metric.kind == "auc":
        result = auc.delong_compare(yk, pa, pb, **common)
    elif metric.kind == "aggregate":
        result = stats.paired_compare_statistic(
            lambda idx: (metric.statistic(yk, pa, idx), metric.statistic(yk, pb, idx)),
            len(yk),
            higher_is_better=metric.higher_is_better,
            clusters=ck,
            resamples=options["resamples"],
            seed=options["seed"],
            **common,
        )
    else:
        if item_scores is not None:
            sa = item_scores[(metric.name, base.name)][keep]
            sb = item_scores[(metric.name, other.name)][keep]
        else:
            sa, sb = metric.item_scores(yk, pa), metric.item_scores(yk, pb)
        result = stats.paired_compare(
            sa,
            sb,
            higher_is_better=metric.higher_is_better,
            clusters=ck,
            resamples=options["resamples"],
            seed=options["seed"],
            **common,
        )
    return result.to_dict()


def _slice_delta(metric: Any, y: Any, base: Candidate, other: Candidate, mask: Any) -> Any:
    """Δ of an item metric's mean on a slice too small to test (None for other metrics)."""
    import numpy as np

    if metric.kind != "item":
        return None
    keep = mask & ~np.isnan(y)
    if not keep.any():
        return None
    sa = metric.item_scores(y[keep], base.predictions[keep])
    sb = metric.item_scores(y[keep], other.predictions[keep])
    with np.errstate(all="ignore"):
        value = float(np.nanmean(sb - sa)) if np.isfinite(sb - sa).any() else None
    return value


def _adjust(rows: list[dict[str, Any]], method: str) -> None:
    """Adjust every tested slice's p-value in one family (all slices, metrics, candidates)."""
    from mlstudio.integrations.evaluation.multiple import adjust

    tested = [r for r in rows if r["tested"]]
    adjusted = adjust([r["p_value"] for r in tested], method)
    for row, p in zip(tested, adjusted, strict=True):
        row["adjusted_p"] = p
        if p is not None and p >= 0.05 and row["verdict"] in ("better", "worse"):
            row["verdict"] = "tied"  # significant only before the correction
            row["note"] = ((row.get("note") or "") + "; not significant after correction").lstrip(
                "; "
            )


def _ranking(
    wanted: list[Any],
    item_scores: dict[tuple[str, str], Any],
    resolved: list[Candidate],
    options: dict[str, Any],
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """With three or more candidates: a ranking on the first item metric, with intervals."""
    if len(resolved) < 3:
        return None, None
    metric = next((m for m in wanted if m.kind == "item"), None)
    if metric is None:
        return None, None
    from mlstudio.integrations.evaluation.ranking import rank_candidates

    entries = rank_candidates(
        {c.name: item_scores[(metric.name, c.name)] for c in resolved},
        higher_is_better=metric.higher_is_better,
        resamples=min(options["resamples"], 1000),
        seed=options["seed"],
    )
    return [
        {
            "name": e.name,
            "mean": float(e.mean),
            "ci": {"low": float(e.ci.low), "high": float(e.ci.high)},
            "rank": int(e.rank),
            "rank_ci": [int(e.rank_ci[0]), int(e.rank_ci[1])],
        }
        for e in entries
    ], metric.name


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
        data.setdefault(col, pa.array(columns[col].tolist()))
    for c in resolved:
        data[f"pred__{c.name}"] = pa.array(c.predictions, type=pa.float64())
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
            parts = [label_class] if name.startswith("score__") else []
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
