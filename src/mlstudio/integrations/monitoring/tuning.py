"""Re-tuning an anomaly check: its stored history replayed at several thresholds, with the
precision and recall the feedback labels give, and an explicit, audited ``--apply``."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.governance.audit import guarded
from mlstudio.integrations.monitoring.anomaly import DetectorConfig, detect
from mlstudio.integrations.monitoring.feedback import Feedback
from mlstudio.integrations.monitoring.views import slice_dims


def tune(
    svc: Any, actor: str, name: str, *, threshold: float | None = None, apply: bool = False
) -> dict[str, Any]:
    """Replay each anomaly check's history (the stored values, with the feedback as it
    applied) at several thresholds: alerts, and precision/recall against the feedback
    labels (confirmed/expected/new_trend/missed = anomaly, false_alarm = not). ``apply``
    (with ``threshold``) sets the threshold for future windows — an explicit, audited
    change that bumps the monitor's revision; computed windows stay (backfill to redo)."""
    from dataclasses import replace

    from mlstudio.governance.rbac import Authorizer
    from mlstudio.integrations.monitoring.feedback import detector_feedback

    if apply and threshold is None:
        raise InvalidInputError("--apply needs a threshold", hint="add --threshold Z")
    if threshold is not None and not 0 < threshold < 1000:
        raise InvalidInputError(f"invalid threshold {threshold}", hint="e.g. --threshold 5")
    with svc.store.read() as uow:
        row = svc._get(uow, name)
        windows = uow.monitoring.windows(row["id"])
        feedback = uow.monitoring.feedback(row["id"])
    svc._require_read(actor, row, "monitor.tune")
    spec = row["spec"]
    det = DetectorConfig.of(spec["detector"])
    candidates = sorted({3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, det.threshold} | (
        {float(threshold)} if threshold is not None else set()))  # fmt: skip
    checks: dict[str, Any] = {}
    for metric in spec["metrics"]:
        check = f"anomaly:{metric['name']}"
        fbs = detector_feedback(feedback, spec["period"], metric["name"])
        series: dict[str, dict[int, float | None]] = {}
        for w in windows:
            if w["check_name"] == check:
                series.setdefault(w["slice"], {})[int(w["period"])] = w["result"].get("value")
        current_alerts = sum(
            1 for w in windows if w["check_name"] == check and w["status"] == "anomaly"
        )
        rows = [replay(series, replace(det, threshold=z), fbs, metric["name"]) for z in candidates]
        labelled = [r for r in rows if r["precision"] is not None or r["recall"] is not None]
        best = max(labelled, key=lambda r: (r["f1"] or 0.0, r["threshold"]), default=None)
        checks[check] = {
            "current_threshold": det.threshold,
            "current_alerts": current_alerts, "candidates": rows,
            "suggested": best["threshold"] if best else None,
        }  # fmt: skip
    out: dict[str, Any] = {"monitor": name, "checks": checks, "applied": None,
                           "revision": row["revision"]}  # fmt: skip
    if apply:
        assert threshold is not None

        def work(uow: Any) -> int:
            current = svc._get(uow, name)
            Authorizer(uow.identity).require_namespace(actor, current["namespace"], "tune monitors")
            new_spec = dict(current["spec"])
            new_spec["detector"] = {
                **current["spec"]["detector"],
                "threshold": float(threshold),
            }
            uow.monitoring.update_spec(current["id"], new_spec)
            uow.audit.record(actor, "monitor.tune", f"monitor:{name}", details={
                "before": det.threshold, "after": float(threshold),
                "alerts_on_history": {c: {"before": t["current_alerts"], "after": next(
                    r["alerts"] for r in t["candidates"] if r["threshold"] == float(threshold))}
                    for c, t in checks.items()}})  # fmt: skip
            return int(current["revision"]) + 1

        out["revision"] = guarded(svc.store, actor, "monitor.tune", f"monitor:{name}", work)
        out["applied"] = float(threshold)
    return out


def replay(
    series: dict[str, dict[int, float | None]],
    det: DetectorConfig,
    fbs: list[Feedback],
    metric: str,
) -> dict[str, Any]:
    positive_kinds = {"confirmed", "expected", "new_trend", "missed"}
    alerts = tp = fp = fn = 0
    for label, values in series.items():
        dims = dict(slice_dims(label))
        mine = [f for f in fbs if f.matches(dims, metric)]
        pos = {t for f in mine if f.kind in positive_kinds for t in values if f.covers(t)}
        neg = {t for f in mine if f.kind == "false_alarm" for t in values if f.covers(t)}
        present = {t: v for t, v in values.items() if v is not None}
        flagged = {v.t for v in detect(present, sorted(values), det, fbs, dims=dims,
                                       metric=metric) if v.status == "anomaly"}  # fmt: skip
        alerts += len(flagged)
        tp += len(flagged & pos)
        fp += len(flagged & neg)
        fn += len(pos - flagged)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {"threshold": det.threshold, "alerts": alerts, "true_positives": tp,
            "false_positives": fp, "missed": fn, "precision": precision, "recall": recall,
            "f1": f1}  # fmt: skip
