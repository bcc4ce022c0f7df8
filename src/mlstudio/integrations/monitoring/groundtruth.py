"""Model metrics against ground truth: predictions joined to labels that arrive later.

``monitor add … --ground-truth NS/LABELS --model-metric accuracy --baseline 0.91`` (or
``--baseline tracking:RUN[:KEY]``, the value recorded in tracking for a training or evaluation
run, read once when the monitor is added). The labels dataset holds the join key (default
``request_id``, as the serving prediction log has it; plus ``row`` when both sides have it) and
a label column; the source holds the key and the prediction. Each window (by the source's time
column) and slice gets the metric of its labelled rows, computed by the evaluation catalog
(``integrations/evaluation/metrics.py``). A window is ``degraded`` when the metric is worse than
the baseline by more than ``--tolerance`` *and* — for metrics with item scores — by more than
1.645 standard errors of its mean (one-sided 5 %), so small windows do not fire on noise; it
needs at least ``--min-labels`` labelled rows, else it is ``too_few``. A window whose labels
have not arrived is ``no_data`` (never a zero); both are re-evaluated by later runs when more
labels arrive, and replaced then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlstudio.errors import InvalidInputError

PENDING = ("no_data", "too_few")  # re-evaluated when more labels arrive
Z_ONE_SIDED = 1.645
_OPTIONS = {"labels", "label_column", "prediction_column", "key", "metric", "baseline",
            "tolerance", "min_labels"}  # fmt: skip


def check_name(config: dict[str, Any]) -> str:
    return f"model:{config['metric']}"


def check_config(config: dict[str, Any], tracking: Any) -> dict[str, Any]:
    """The ground-truth check as stored in the spec (the baseline resolved to a number)."""
    from mlstudio.data.catalog import parse_dataset_ref
    from mlstudio.integrations.evaluation.metrics import LABEL_FREE, get_metric

    unknown = set(config) - _OPTIONS
    if unknown:
        raise InvalidInputError(
            f"unknown ground-truth option {', '.join(sorted(unknown))}",
            hint=f"use {', '.join(sorted(_OPTIONS))}",
        )
    labels = str(config.get("labels") or "")
    parse_dataset_ref(labels)
    metric = get_metric(str(config.get("metric") or "accuracy"))
    if metric.name in LABEL_FREE or metric.task == "ranking":
        raise InvalidInputError(
            f"--model-metric {metric.name} does not compare predictions with labels here",
            hint="use a classification or regression metric, e.g. accuracy, auc, mae",
        )
    tolerance = config.get("tolerance", 0.02)
    min_labels = config.get("min_labels", 100)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0:
        raise InvalidInputError(f"invalid --tolerance {tolerance!r}", hint="e.g. --tolerance 0.02")
    if not isinstance(min_labels, int) or isinstance(min_labels, bool) or min_labels < 1:
        raise InvalidInputError(
            f"invalid --min-labels {min_labels!r}", hint="use a whole number >= 1, e.g. 100"
        )
    value, source = baseline_of(config.get("baseline"), metric.name, tracking)
    return {
        "labels": labels, "metric": metric.name, "higher_is_better": metric.higher_is_better,
        "label_column": str(config.get("label_column") or "label"),
        "prediction_column": str(config.get("prediction_column") or "prediction"),
        "key": str(config.get("key") or "request_id"),
        "baseline": value, "baseline_source": source,
        "tolerance": float(tolerance), "min_labels": min_labels,
    }  # fmt: skip


def baseline_of(spec: Any, metric: str, tracking: Any) -> tuple[float, str]:
    """``0.91`` or ``tracking:REF[:KEY]`` (a tracked run, or a workflow run's tracked task
    runs: the first with the metric ``KEY``, default the monitored metric's name)."""
    import math

    text = str(spec if spec is not None else "").strip()
    if not text:
        raise InvalidInputError(
            "a ground-truth check needs a baseline",
            hint="add --baseline VALUE or --baseline tracking:RUN (the training run's metric)",
        )
    if not text.startswith("tracking:"):
        try:
            value = float(text)
        except ValueError:
            raise InvalidInputError(
                f"invalid --baseline {text!r}", hint="use a number or tracking:RUN[:KEY]"
            ) from None
        if not math.isfinite(value):
            raise InvalidInputError(f"invalid --baseline {text!r}", hint="use a finite number")
        return value, "value"
    ref, _, key = text.removeprefix("tracking:").partition(":")
    key = key or metric
    for run in tracking.runs(tracking.resolve(ref)):
        found = (run.get("metrics") or {}).get(key)
        if found is not None and math.isfinite(float(found["value"])):
            return float(found["value"]), f"tracking:{run['id']}:{key}"
    raise InvalidInputError(
        f"tracked run {ref} has no metric {key!r}",
        hint="name the metric: --baseline tracking:RUN:KEY (see mlstudio runs search)",
    )


def pending_and_new(
    row: dict[str, Any],
    source: Any,
    labels: Any,
    now_p: int,
    computed: list[dict[str, Any]],
    notes: dict[str, Any],
) -> list[dict[str, Any]]:
    """The monitor ``row``'s ground-truth windows to write: the new ones, and its pending ones
    (no or too few labels yet) again when their label count changed — those ``replace`` the
    stored verdict. Each: {check_name, period, slice, status, result, replace}."""
    from mlstudio.integrations.monitoring.windows import PERIODS, window_key

    spec, per = row["spec"], row["spec"]["period"]
    config = spec["ground_truth"]
    check = check_name(config)
    stored = {(w["window_key"], w["slice"]): w for w in computed if w["check_name"] == check}

    def todo(p: int, label: str, n_labels: int) -> bool:
        old = stored.get((window_key(p, per), label))
        return old is None or (old["status"] in PENDING and old["result"].get("labels") != n_labels)

    found, capped = windows(
        source, labels, config, spec["time_column"], PERIODS[per], now_p, spec["dimensions"],
        spec["max_slices"], todo,
    )  # fmt: skip
    if capped:
        notes.setdefault("capped", {})[check] = capped
    return [
        {**r, "check_name": check, "replace": (window_key(r["period"], per), r["slice"]) in stored}
        for r in found
    ]


def windows(
    source: Any,
    labels: Any,
    config: dict[str, Any],
    time_column: str,
    size: int,
    now_period: int,
    dims: Sequence[str],
    cap: int,
    todo: Any,
) -> tuple[list[dict[str, Any]], int]:
    """``[{period, slice, status, result}]`` for the (period, slice) pairs ``todo(period,
    slice, labels_n)`` wants, over complete periods with predictions; and how many slice values
    were capped. The join and the grouping run in DuckDB; the metric per group in numpy."""
    import duckdb
    import numpy as np

    from mlstudio.integrations.evaluation.metrics import get_metric

    metric = get_metric(config["metric"])
    key, pred, lab = config["key"], config["prediction_column"], config["label_column"]
    on = [key] + (["row"] if "row" in source.column_names and "row" in labels.column_names else [])
    period = f'CAST(floor(epoch(CAST(s."{time_column}" AS TIMESTAMPTZ)) / {size}) AS BIGINT)'
    parts = [f"""'{d}=' || COALESCE(CAST(s."{d}" AS VARCHAR), 'None')""" for d in dims]
    label_sql = f"concat_ws(',', {', '.join(parts)})" if parts else "''"
    join = " AND ".join(f's."{c}" = l."{c}"' for c in on)
    # one label per key (the last of the dataset's rows wins)
    label_rows = f'SELECT {", ".join(on)}, last("{lab}") AS __y FROM lab GROUP BY ALL'
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("src", source)
        con.register("lab", labels)
        con.execute(
            f"CREATE TEMP TABLE j AS SELECT {period} AS __p, {label_sql} AS __slice, "
            f"""COALESCE(CAST(s."{pred}" AS DOUBLE), 'NaN'::DOUBLE) AS __yhat, """
            f"COALESCE(CAST(l.__y AS DOUBLE), 'NaN'::DOUBLE) AS __y "
            f"FROM src s LEFT JOIN ({label_rows}) l ON {join} WHERE {period} < ?",
            [now_period],
        )
        # slices: the ``cap`` most frequent keep their own code, the rest are capped (-1)
        top = con.execute(
            "SELECT __slice FROM j GROUP BY 1 ORDER BY count(*) DESC, __slice"
        ).fetchall()
        kept = [t[0] for t in top[:cap]] if dims else []
        con.execute("CREATE TEMP TABLE k (__slice VARCHAR, __code BIGINT)")
        if kept:
            con.executemany("INSERT INTO k VALUES (?, ?)", [[x, i] for i, x in enumerate(kept)])
        res = con.execute(
            "SELECT __p, __yhat, __y, COALESCE(k.__code, -1) AS __code "
            "FROM j LEFT JOIN k USING (__slice)"
        ).fetchnumpy()
    except duckdb.Error as exc:
        raise InvalidInputError(
            f"cannot join the predictions with {config['labels']}: {str(exc).splitlines()[0]}",
            hint=f"predictions need numeric {pred!r}, labels numeric {lab!r}, both {key!r}",
        ) from None
    finally:
        con.close()
    p = np.asarray(res["__p"], dtype=np.int64)
    yhat = np.asarray(res["__yhat"], dtype=float)
    y = np.asarray(res["__y"], dtype=float)
    code = np.asarray(res["__code"], dtype=np.int64)
    capped = max(len(top) - cap, 0) if dims else 0
    out: list[dict[str, Any]] = []
    if not len(p):
        return out, capped
    span = int(p.max() - p.min()) + 1
    for label, group in [("", np.zeros(len(p), dtype=np.int64)), *([(None, code)] if dims else [])]:
        ok = group >= 0
        sort_key = group[ok] * span + (p[ok] - p.min())
        order = np.flatnonzero(ok)[np.argsort(sort_key, kind="stable")]
        keys = sort_key[np.argsort(sort_key, kind="stable")]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        for idx in np.split(order, cuts):
            q, g = int(p[idx[0]]), int(group[idx[0]])
            name = label if label is not None else kept[g]
            have = idx[~np.isnan(y[idx])]
            if not todo(q, name, len(have)):
                continue
            result = _judge(metric, config, y[have], yhat[have], len(idx), len(have))
            out.append({"period": q, "slice": name, "status": result.pop("status"),
                        "result": result})  # fmt: skip
    return out, capped


def _judge(
    metric: Any, config: dict[str, Any], y: Any, yhat: Any, n_predictions: int, n_labels: int
) -> dict[str, Any]:
    import math

    import numpy as np

    base = {"metric": metric.name, "baseline": config["baseline"], "predictions": n_predictions,
            "labels": n_labels, "coverage": n_labels / n_predictions if n_predictions else 0.0,
            "tolerance": config["tolerance"]}  # fmt: skip
    if n_labels == 0:
        return {**base, "status": "no_data", "value": None}
    if n_labels < config["min_labels"]:
        return {**base, "status": "too_few", "value": None}
    value = float(metric.statistic(y, yhat))
    se = None
    if metric.kind == "item":
        scores = np.asarray(metric.item_scores(y, yhat), dtype=float)
        scores = scores[~np.isnan(scores)]
        se = float(scores.std(ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else None
    worse = (config["baseline"] - value) if config["higher_is_better"] else (
        value - config["baseline"])  # fmt: skip
    needed = max(config["tolerance"], Z_ONE_SIDED * se if se is not None else 0.0)
    status = "degraded" if math.isfinite(value) and worse > needed else "ok"
    return {**base, "status": status, "value": value, "worse_by": worse, "needed": needed,
            "se": se}  # fmt: skip
