"""Monitors: declared over a governed dataset, evaluated window by window, alerting once per
episode through the webhook outbox, and tuned by human feedback on future windows only.

A monitor reads its source (and its drift reference) through the same governed read as a run
in its domain would (refused and audited otherwise: at creation too). ``run`` computes every
complete period not computed yet, in one transaction with its alerts, audit event and webhook
events — a killed run commits nothing and a re-run computes the same windows once (unique key
monitor + check + window + slice). Checks: ``data`` (rows, freshness, timestamps after now),
``drift`` (per feature and slice against the reference, n-aware tests, BH per window) and
``anomaly:METRIC`` (the seasonal detector per dimension combination). An alert opens when a
window fires and the persistence rule (k of the last m windows) holds; it stays one alert
while it keeps firing and resolves at the first ``ok`` window (``monitor.alert`` /
``monitor.resolved``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.core.ids import new_id
from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.audit import guarded, refusals_audited
from mlstudio.integrations.monitoring import drift
from mlstudio.integrations.monitoring.anomaly import DetectorConfig, detect
from mlstudio.integrations.monitoring.feedback import (
    check_kind,
    detector_feedback,
    latest_feedback_kinds,
    quality,
)
from mlstudio.integrations.monitoring.flagflip import flip as flip_flag
from mlstudio.integrations.monitoring.flagflip import parse_flag, require_flag
from mlstudio.integrations.monitoring.upstream import upstream_wait as waiting_on_upstream
from mlstudio.integrations.monitoring.views import (
    alert_group,
    alert_view,
    feedback_view,
    slice_dims,
)
from mlstudio.integrations.monitoring.views import evidence as evidence_of
from mlstudio.integrations.monitoring.windows import (
    PERIODS,
    SEASONS,
    check_period,
    parse_window,
    window_key,
)

FIRING = {"drift", "anomaly", "degraded", "empty", "stale", "skew"}
READ_ROLES = ("viewer", "runner")


def _iso(value: Any) -> str | None:
    return iso(value) if value is not None else None


def parse_metric(text: str) -> dict[str, Any]:
    """``NAME=AGG:COLUMN`` (sum, mean, min, max) or ``NAME=count``."""
    from mlstudio.integrations.monitoring.checks import AGGREGATES

    name, sep, rest = text.partition("=")
    agg, _, column = rest.partition(":")
    if not sep or not name or agg not in AGGREGATES or (agg != "count") != bool(column):
        raise InvalidInputError(
            f"invalid metric {text!r}",
            hint="use NAME=AGG:COLUMN (AGG one of sum, mean, min, max) or NAME=count",
        )
    return {"name": name, "agg": agg, "column": column or None}


def parse_persistence(text: str) -> tuple[int, int]:
    k, sep, m = text.partition("/")
    if not sep or not k.isdigit() or not m.isdigit() or not 1 <= int(k) <= int(m):
        raise InvalidInputError(
            f"invalid persistence {text!r}", hint="use K/M with 1 <= K <= M, e.g. 2/3"
        )
    return int(k), int(m)


class MonitorService:
    def __init__(self, store: Any, cas: Any, runs: Any = None) -> None:
        """``runs``: the run service retraining triggers start runs with (``platform.runs``)."""
        self.store = store
        self.cas = cas
        self.runs = runs

    # --- reading sources ----------------------------------------------------------------------
    def _read(self, actor: str, ref: str, domain: str) -> Any:
        from mlstudio.data.catalog import DatasetService

        return DatasetService(self.store, self.cas).read(actor, ref, domain=domain)

    def _read_source(self, actor: str, row: dict[str, Any]) -> Any:
        """The monitor's source as an Arrow table: its dataset, or its SQL query run over the
        datasets it names (each read, governed and audited, in the monitor's domain)."""
        query = row["spec"].get("sql")
        if not query:
            return self._read(actor, row["source"], row["domain"]).to_arrow()
        from mlstudio.data.sql import run_sql
        from mlstudio.integrations.monitoring.sql_source import tables_of

        tables = {ref: self._read(actor, ref, row["domain"]) for ref in tables_of(query)}
        return run_sql(query, tables).to_arrow()

    def _get(self, uow: Any, name: str) -> dict[str, Any]:
        row = uow.monitoring.get(name)
        if row is None:
            raise NotFoundError(f"monitor {name} does not exist", hint="see: mlstudio monitor list")
        return row

    def _require_read(self, actor: str, row: dict[str, Any], action: str) -> None:
        from mlstudio.data.catalog import require_domain_role

        resource = f"monitor:{row['name']}"
        with refusals_audited(self.store, actor, action, resource), self.store.read() as uow:
            require_domain_role(uow, actor, row["domain"], READ_ROLES, "read monitors")

    # --- add / list / remove ------------------------------------------------------------------
    def add(
        self,
        actor: str,
        name: str,
        *,
        source: str,
        time_column: str,
        period: str = "day",
        domain: str = "production",
        dimensions: Sequence[str] = (),
        features: Sequence[str] = (),
        reference: str | None = None,
        metrics: Sequence[str | dict[str, Any]] = (),
        alpha: float = 0.05,
        persistence: str | tuple[int, int] = (1, 1),
        max_slices: int = 50,
        freshness: int = 2,
        schedule: str | None = None,
        flag: str | None = None,
        detector: dict[str, Any] | None = None,
        retrain: dict[str, Any] | None = None,
        ground_truth: dict[str, Any] | None = None,
        after: Sequence[str] = (),
        declared_by: str | None = None,
    ) -> dict[str, Any]:
        """Declare a monitor; its source (and reference) must be readable in ``domain``.
        ``ground_truth`` ({labels, metric, baseline, …}: see ``monitoring/groundtruth.py``)
        scores the predictions against labels joined by request id, per window and slice.
        ``after``: upstream monitors whose data check must be ok for the latest window before
        this one judges any window (it waits instead of firing on partial data).
        ``retrain`` ({workflow, params, cooldown, max_per}) starts that workflow (as ``actor``,
        in ``domain``) when a model alert opens (see ``monitoring/retrain.py``)."""
        from mlstudio.data.catalog import parse_dataset_name, parse_dataset_ref
        from mlstudio.governance.rbac import Authorizer
        from mlstudio.integrations.monitoring.reference import parse_reference

        full = parse_dataset_name(name)
        query = None
        if source.startswith("sql:"):
            from mlstudio.integrations.monitoring.sql_source import label, tables_of

            query = source.removeprefix("sql:").strip()
            source = label(tables_of(query))
        else:
            parse_dataset_ref(source)
        check_period(period)
        if not 0 < alpha < 1:
            raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}", hint="e.g. 0.05")
        k, m = parse_persistence(persistence) if isinstance(persistence, str) else persistence
        drift.persistent([], k, m)  # validates k and m
        parsed = [parse_metric(x) if isinstance(x, str) else dict(x) for x in metrics]
        truth = self._truth_config(ground_truth) if ground_truth else None
        if not features and not parsed and not truth:
            raise InvalidInputError(
                "a monitor needs at least one check",
                hint="add --feature COLUMN (drift, with --reference), --metric NAME=AGG:COLUMN "
                "or --ground-truth NS/LABELS",
            )
        if features and not reference:
            raise InvalidInputError(
                "drift needs a reference",
                hint="add --reference NS/NAME@V (e.g. the training set) or --reference "
                "window:FROM..TO (the source's own rows then)",
            )
        if reference:
            parse_reference(reference)
        if max_slices < 1 or freshness < 1:
            raise InvalidInputError(
                "max-slices and freshness must be at least 1", hint="e.g. --max-slices 50"
            )
        det = DetectorConfig.of({"season": SEASONS[period], **(detector or {})})
        flip = parse_flag(flag) if flag else None
        if schedule:
            from mlstudio.scheduling.schedules import Cron

            schedule = Cron.parse(schedule).expr  # run by the server (monitoring/scheduler.py)
        trigger = self._retrain_config(retrain, domain) if retrain else None
        after = list(dict.fromkeys(after))
        if full.full in after:
            raise InvalidInputError(
                f"monitor {full.full} cannot wait for itself", hint="name another monitor"
            )
        resource = f"monitor:{full.full}"
        with refusals_audited(self.store, actor, "monitor.add", resource), self.store.read() as uow:
            Authorizer(uow.identity).require_namespace(actor, full.namespace, "add monitors")
            if flip is not None:
                require_flag(uow, actor, flip["key"])
            if trigger is not None:
                from mlstudio.governance.domains import check_run

                check_run(uow, actor, domain, None)  # checked again when it fires
            if uow.monitoring.get(full.full) is not None:
                raise InvalidInputError(
                    f"monitor {full.full} already exists",
                    hint=f"remove it first: mlstudio monitor remove {full.full}",
                )
            upstreams = [self._get(uow, upstream) for upstream in after]
        for upstream in upstreams:  # the creator must be allowed to see what it waits for
            self._require_read(actor, upstream, "monitor.add")
        # refused (and audited) like any read
        source_row = {"source": source, "domain": domain, "spec": {"sql": query}}
        names = set(self._read_source(actor, source_row).column_names)
        wanted = [
            time_column,
            *dimensions,
            *features,
            *(x["column"] for x in parsed if x["column"]),
            *([truth["key"], truth["prediction_column"]] if truth else []),
        ]
        missing = [c for c in dict.fromkeys(wanted) if c not in names]
        if missing:
            raise InvalidInputError(
                f"{source} has no column {', '.join(map(repr, missing))}",
                hint=f"its columns are {', '.join(sorted(names))}",
            )
        if truth:
            lab_names = set(self._read(actor, truth["labels"], domain).to_arrow().column_names)
            absent = [c for c in (truth["key"], truth["label_column"]) if c not in lab_names]
            if absent:
                raise InvalidInputError(
                    f"the labels {truth['labels']} have no column {', '.join(map(repr, absent))}",
                    hint=f"its columns are {', '.join(sorted(lab_names))}; see --label-column",
                )
        if reference and parse_reference(reference) is None:  # a window is of the source
            ref_names = set(self._read(actor, reference, domain).to_arrow().column_names)
            absent = [c for c in features if c not in ref_names]
            if absent:
                raise InvalidInputError(
                    f"the reference {reference} has no column {', '.join(map(repr, absent))}",
                    hint="pick a reference with the monitored features",
                )
        spec = {
            **({"sql": query} if query else {}),
            "time_column": time_column,
            "period": period,
            "dimensions": list(dimensions),
            "features": list(features),
            "reference": reference,
            "metrics": parsed,
            "alpha": alpha,
            "persistence": [k, m],
            "max_slices": max_slices,
            "freshness": freshness,
            "schedule": schedule,
            "flag": flip,
            "detector": det.as_dict(),
            "retrain": trigger,
            "ground_truth": truth,
            **({"after": after} if after else {}),
            **({"declared_by": declared_by} if declared_by else {}),
        }

        def work(uow: Any) -> dict[str, Any]:
            row = uow.monitoring.add(
                {
                    "id": new_id("mon"),
                    "name": full.full,
                    "namespace": full.namespace,
                    "source": source,
                    "domain": domain,
                    "spec": spec,
                    "created_by": actor,
                }
            )
            uow.audit.record(actor, "monitor.add", f"monitor:{full.full}", details={
                "source": source, "domain": domain, "checks": self._checks(spec)})  # fmt: skip
            return row

        return self._view(self.store.retrying(work))

    def _retrain_config(self, retrain: dict[str, Any], domain: str) -> dict[str, Any]:
        from mlstudio.integrations.monitoring.retrain import check_config

        if self.runs is None:
            raise InvalidInputError(
                "this monitor service cannot start runs", hint="open it with platform.runs"
            )
        return check_config(self.runs, retrain, domain)

    def _truth_config(self, ground_truth: dict[str, Any]) -> dict[str, Any]:
        from mlstudio.integrations.monitoring.groundtruth import check_config
        from mlstudio.integrations.tracking.service import TrackingService

        return check_config(ground_truth, TrackingService(self.store, self.cas))

    @staticmethod
    def _checks(spec: dict[str, Any]) -> list[str]:
        from mlstudio.integrations.monitoring.groundtruth import check_name

        out = ["data"]
        if spec["features"]:
            out.append("drift")
        out += [f"anomaly:{x['name']}" for x in spec["metrics"]]
        if spec.get("ground_truth"):
            out.append(check_name(spec["ground_truth"]))
        return out

    def _view(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": row["name"],
            "source": row["source"],
            "domain": row["domain"],
            "checks": self._checks(row["spec"]),
            "spec": row["spec"],
            "revision": row["revision"],
            "created_by": row["created_by"],
            "created_at": _iso(row["created_at"]),
        }

    def list(self, actor: str, namespace: str | None = None) -> list[dict[str, Any]]:
        from mlstudio.governance.rbac import Authorizer

        with self.store.read() as uow:
            auth = Authorizer(uow.identity)
            rows = uow.monitoring.list(namespace)
            return [
                self._view(r) for r in rows if auth.has_domain_role(actor, r["domain"], READ_ROLES)
            ]

    def remove(self, actor: str, name: str) -> dict[str, Any]:
        from mlstudio.governance.rbac import Authorizer

        def work(uow: Any) -> dict[str, Any]:
            row = self._get(uow, name)
            Authorizer(uow.identity).require_namespace(actor, row["namespace"], "remove monitors")
            uow.monitoring.remove(row["id"])
            uow.audit.record(actor, "monitor.remove", f"monitor:{name}")
            return {"name": name, "removed": True}

        return guarded(self.store, actor, "monitor.remove", f"monitor:{name}", work)

    # --- evaluation ---------------------------------------------------------------------------
    def run(
        self, actor: str, name: str, *, now: datetime | str | None = None, emit_events: bool = True
    ) -> dict[str, Any]:
        """Compute every complete window not computed yet; open/resolve alerts; audited."""
        from mlstudio.governance.rbac import Authorizer
        from mlstudio.integrations.monitoring.checks import drift_windows, metric_series
        from mlstudio.integrations.monitoring.reference import reference_columns
        from mlstudio.integrations.monitoring.windows import frame

        when = _now(now)
        resource = f"monitor:{name}"
        with refusals_audited(self.store, actor, "monitor.run", resource), self.store.read() as uow:
            row = self._get(uow, name)
            Authorizer(uow.identity).require_namespace(actor, row["namespace"], "run monitors")
            done = {c: uow.monitoring.window_keys(row["id"], c) for c in self._checks(row["spec"])}
            feedback = uow.monitoring.feedback(row["id"])
            computed = uow.monitoring.windows(row["id"])
            flagged = _flagged(computed)
            upstream_wait = waiting_on_upstream(uow, row["spec"].get("after", ()), when)
        spec = row["spec"]
        per = spec["period"]
        size = PERIODS[per]
        arrow = self._read_source(actor, row)
        now_p = int(when.timestamp() // size)
        rows: list[dict[str, Any]] = []
        notes: dict[str, Any] = {}
        latest_key = window_key(now_p - 1, per)
        if arrow.num_rows == 0:
            rows.append(_win("data", now_p - 1, per, "", "empty", {"rows": 0, "problem":
                             f"{row['source']} has no rows"}))  # fmt: skip
        else:
            cols = [*spec["dimensions"], *spec["features"]]
            fr = frame(arrow, spec["time_column"], per, cols, when)
            problems = []
            status = "ok"
            if fr.future_rows:
                status, problems = "skew", [f"{fr.future_rows} rows are stamped after now"]
            if fr.latest_period is None or fr.latest_period < now_p - spec["freshness"]:
                last = window_key(fr.latest_period, per) if fr.latest_period is not None else None
                status = "stale"
                problems.append(f"no data since {last} (freshness {spec['freshness']} {per}s)")
            rows.append(_win("data", now_p - 1, per, "", status, {
                "rows": fr.rows, "future_rows": fr.future_rows, "latest": _key(fr.latest_period, per),
                "problems": problems}))  # fmt: skip
            judged = next((w["status"] for w in computed if w["check_name"] == "data"
                           and w["window_key"] == latest_key), None)  # fmt: skip
            if judged is not None and judged != status:  # the late load came in since
                rows[-1]["replace"] = True
            first = int(fr.period.min()) if len(fr.period) else now_p
            # The watermark: a window is judged once the source has rows in it or after it.
            # Later windows wait (a late load is a data alert, never "no data" judged for good).
            upto = min(now_p, fr.latest_period + 1) if fr.latest_period is not None else first
            if upstream_wait:
                upto, notes["waiting"] = first, upstream_wait
            elif upto < now_p:
                notes["waiting"] = {"from": window_key(upto, per), "reason": "no rows yet"}
            if spec["features"]:
                todo = [
                    p for p in range(first, upto)
                    if window_key(p, per) not in {w for w, _ in done.get("drift", set())}
                ]  # fmt: skip
                ref_cols, todo, waiting = reference_columns(
                    spec["reference"], fr, per, [*spec["features"], *spec["dimensions"]], todo,
                    lambda ref: self._read(actor, ref, row["domain"]).to_arrow(),
                ) if todo else ({}, [], None)  # fmt: skip
                if waiting:
                    notes["reference"] = waiting
                if todo:
                    found, capped = drift_windows(
                        fr, ref_cols, spec["features"], spec["dimensions"], todo,
                        alpha=spec["alpha"], max_slices=spec["max_slices"],
                    )  # fmt: skip
                    if capped:
                        notes["capped"] = capped
                    rows += [
                        _win("drift", r["period"], per, r["slice"], r["status"], r["result"])
                        for r in found
                    ]
            det = DetectorConfig.of(spec["detector"])
            for metric in spec["metrics"]:
                check = f"anomaly:{metric['name']}"
                series, capped_n = metric_series(
                    arrow, spec["time_column"], size, upto, spec["dimensions"],
                    metric["agg"], metric["column"], spec["max_slices"],
                )  # fmt: skip
                if capped_n:
                    notes.setdefault("capped", {})[check] = capped_n
                fbs = detector_feedback(feedback, per, metric["name"])
                for label, (dims, values) in series.items():
                    if not values:
                        continue
                    have = {w for w, s in done.get(check, set()) if s == label}
                    todo = [p for p in range(min(values), upto) if window_key(p, per) not in have]
                    verdicts = detect(
                        values, todo, det, fbs, dims=dims, metric=metric["name"],
                        anomalies=flagged.get((check, label), set()),
                    )  # fmt: skip
                    rows += [_win(check, v.t, per, label, v.status, v.as_dict()) for v in verdicts]
            if spec.get("ground_truth"):
                from mlstudio.integrations.monitoring.groundtruth import pending_and_new

                labels = self._read(actor, spec["ground_truth"]["labels"], row["domain"])
                rows += [_win(r["check_name"], r["period"], per, r["slice"], r["status"],
                              r["result"]) | ({"replace": True} if r["replace"] else {})
                         for r in pending_and_new(row, arrow, labels.to_arrow(), now_p,
                                                  computed, notes)]  # fmt: skip
        out = self._commit(actor, row, rows, notes, latest_key, emit_events)
        if spec.get("retrain") and emit_events and out["opened"]:
            out["retrain"] = self._retrain(row, out["opened"], when)
        return out

    def _retrain(
        self, row: dict[str, Any], opened: list[str], when: datetime
    ) -> list[dict[str, Any]]:
        """Each opened model alert's trigger outcome (a run, or why not), recorded on it."""
        from mlstudio.integrations.monitoring.retrain import fire

        with self.store.read() as uow:
            model = [a for a in opened if (uow.monitoring.alert(a) or {}).get("kind") == "model"]
        return [{"alert": a, **fire(self.store, self.runs, row, a, when)} for a in model]

    def _commit(
        self,
        actor: str,
        row: dict[str, Any],
        rows: list[dict[str, Any]],
        notes: dict[str, Any],
        latest_key: str,
        emit_events: bool,
    ) -> dict[str, Any]:
        from mlstudio.integrations.webhooks import emit

        k, m = row["spec"]["persistence"]

        def work(uow: Any) -> dict[str, Any]:
            repo = uow.monitoring
            checks = {r["check_name"] for r in rows}
            have = {c: repo.window_keys(row["id"], c) for c in checks}
            # the data check is recomputed for the latest window only when it was not yet
            new = [r for r in rows if r.get("replace")
                   or (r["window_key"], r["slice"]) not in have[r["check_name"]]]  # fmt: skip
            for r in new:
                if r.pop("replace", False):  # a pending ground-truth window with new labels
                    repo.delete_window(row["id"], r["check_name"], r["window_key"], r["slice"])
            repo.add_windows([{**r, "monitor_id": row["id"], "revision": row["revision"]}
                              for r in new])  # fmt: skip
            opened, resolved = [], []
            flipped: list[dict[str, Any]] = []
            by_series: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for r in sorted(new, key=lambda r: r["period"]):
                by_series.setdefault((r["check_name"], r["slice"]), []).append(r)
            for (check, label), series_rows in by_series.items():
                past = repo.windows(row["id"], check=check, slice=label)
                fired_hist = [w["status"] in FIRING for w in past]
                positions = {w["window_key"]: i for i, w in enumerate(past)}
                kk, mm = (k, m) if check == "drift" else (1, 1)  # persistence is for drift
                for r in series_rows:
                    upto = fired_hist[: positions[r["window_key"]] + 1]
                    open_key = f"{check}|{label}"
                    current = repo.open_alert(row["id"], open_key)
                    if r["status"] in FIRING and drift.persistent(upto, kk, mm):
                        evidence = evidence_of(row, r)
                        if current is None:
                            alert_id = new_id("al")
                            repo.add_alert({
                                "id": alert_id, "monitor_id": row["id"], "check_name": check,
                                "slice": label, "kind": "data" if check == "data" else "model",
                                "state": "open", "open_key": open_key,
                                "first_window": r["window_key"], "last_window": r["window_key"],
                                "windows": 1, "evidence": evidence})  # fmt: skip
                            opened.append(alert_id)
                            if emit_events:
                                emit(uow, "monitor.alert", {"alert": alert_id, **evidence,
                                     "group": alert_group(row["name"], check, r["window_key"])})  # fmt: skip
                            flip = row["spec"].get("flag")
                            if flip and check != "data" and emit_events:
                                done_flip = flip_flag(uow, actor, flip, row["name"], alert_id)
                                if done_flip is not None:
                                    flipped.append(done_flip)
                        else:
                            kept = {k: v for k, v in current["evidence"].items() if k == "retrain"}
                            repo.update_alert(current["id"], last_window=r["window_key"],
                                              windows=current["windows"] + 1,
                                              evidence={**evidence, **kept})  # fmt: skip
                    elif r["status"] == "ok" and current is not None:
                        repo.update_alert(current["id"], state="resolved", open_key=None,
                                          resolved_at=utcnow())  # fmt: skip
                        resolved.append(current["id"])
                        if emit_events:
                            emit(uow, "monitor.resolved", {
                                "alert": current["id"], **evidence_of(row, r)})  # fmt: skip
            counts: dict[str, int] = {}
            for r in new:
                counts[r["check_name"]] = counts.get(r["check_name"], 0) + 1
            statuses: dict[str, int] = {}
            for r in new:
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            out = {
                "monitor": row["name"],
                "latest_window": latest_key,
                "computed": counts,
                "statuses": statuses,
                "opened": opened,
                "resolved": resolved,
                **({"flags": flipped} if flipped else {}),
                **notes,
            }
            uow.audit.record(actor, "monitor.run", f"monitor:{row['name']}", details={
                "computed": sum(counts.values()), "opened": len(opened),
                "resolved": len(resolved)})  # fmt: skip
            return out

        return self.store.retrying(work)

    def backfill(
        self, actor: str, name: str, *, now: datetime | str | None = None
    ) -> dict[str, Any]:
        """Forget the monitor's windows and alerts and recompute them from its history (after
        data loss or a config change); feedback is kept and applies as it did (by period).
        No webhook events are sent for the recomputed history."""
        from mlstudio.governance.rbac import Authorizer

        def work(uow: Any) -> int:
            row = self._get(uow, name)
            Authorizer(uow.identity).require_namespace(actor, row["namespace"], "backfill monitors")
            from sqlalchemy import delete

            from mlstudio.store.metadata.tables import monitor_alerts

            uow.conn.execute(delete(monitor_alerts).where(monitor_alerts.c.monitor_id == row["id"]))
            removed = uow.monitoring.delete_windows(row["id"])
            uow.audit.record(actor, "monitor.backfill", f"monitor:{name}",
                             details={"windows_removed": removed})  # fmt: skip
            return removed

        removed = guarded(self.store, actor, "monitor.backfill", f"monitor:{name}", work)
        return {**self.run(actor, name, now=now, emit_events=False), "windows_removed": removed}

    # --- alerts and feedback ------------------------------------------------------------------
    def alerts(
        self, actor: str, name: str | None = None, *, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        from mlstudio.governance.rbac import Authorizer

        with self.store.read() as uow:
            auth = Authorizer(uow.identity)
            monitors = {r["id"]: r for r in uow.monitoring.list()}
            if name is not None:
                row = self._get(uow, name)
                monitors = {row["id"]: row}
            found = uow.monitoring.alerts(
                next(iter(monitors)) if name is not None else None, state=state, limit=limit
            )
            kinds = latest_feedback_kinds(uow, monitors)
            readable = {
                mid
                for mid, r in monitors.items()
                if auth.has_domain_role(actor, r["domain"], READ_ROLES)
            }
        if name is not None:
            self._require_read(actor, next(iter(monitors.values())), "monitor.alerts")
        return [
            alert_view(a, monitors[a["monitor_id"]]["name"], kinds.get(a["id"]))
            for a in found
            if a["monitor_id"] in readable
        ]

    def feedback(
        self,
        actor: str,
        target: str,
        kind: str,
        *,
        start: str | None = None,
        end: str | None = None,
        metric: str | None = None,
        dims: dict[str, str] | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        """Feedback on an alert (``target`` = its id) or on a monitor's range (``target`` = the
        monitor, with ``start``/``end``); it applies to windows computed after it."""
        check_kind(kind)

        def work(uow: Any) -> dict[str, Any]:
            alert = uow.monitoring.alert(target) if target.startswith("al_") else None
            if target.startswith("al_") and alert is None:
                raise NotFoundError(
                    f"alert {target} does not exist", hint="see: mlstudio monitor alerts"
                )
            if alert is not None:
                row = next(r for r in uow.monitoring.list() if r["id"] == alert["monitor_id"])
            else:
                row = self._get(uow, target)
            from mlstudio.data.catalog import require_domain_role

            require_domain_role(uow, actor, row["domain"], READ_ROLES, "give monitor feedback")
            per = row["spec"]["period"]
            if alert is not None:
                s = start or alert["first_window"]
                e = end or alert["last_window"]
                m = alert["check_name"].partition(":")[2] or None
                d = dict(slice_dims(alert["slice"]))
            else:
                if not start:
                    raise InvalidInputError(
                        "feedback on a monitor needs a range", hint="add --start DATE [--end DATE]"
                    )
                s, e, m, d = start, end or start, metric, {}
            d.update(dims or {})
            first, last = parse_window(s, per), parse_window(e, per)
            if last < first:
                raise InvalidInputError(f"--end {e} is before --start {s}", hint="swap them")
            computed = [w["period"] for w in uow.monitoring.windows(row["id"])]
            given_at = max(computed) if computed else first - 1
            fid = uow.monitoring.add_feedback({
                "monitor_id": row["id"], "alert_id": alert["id"] if alert else None, "kind": kind,
                "metric": m, "dims": d, "start_window": window_key(first, per),
                "end_window": window_key(last, per), "given_at": given_at,
                "revision": row["revision"], "comment": comment, "created_by": actor})  # fmt: skip
            view = {
                "id": fid, "monitor": row["name"], "alert": alert["id"] if alert else None,
                "kind": kind, "metric": m, "dims": d, "start": window_key(first, per),
                "end": window_key(last, per), "applies_after": window_key(given_at, per),
                "comment": comment, "created_by": actor,
            }  # fmt: skip
            uow.audit.record(actor, "monitor.feedback", f"monitor:{row['name']}", details=view)
            return view

        return guarded(self.store, actor, "monitor.feedback", f"monitor:{target}", work)

    def tune(
        self, actor: str, name: str, *, threshold: float | None = None, apply: bool = False
    ) -> dict[str, Any]:
        """Replay each anomaly check's history at several thresholds; ``apply`` sets one
        (audited, bumps the revision): see ``monitoring/tuning.py``."""
        from mlstudio.integrations.monitoring.tuning import tune

        return tune(self, actor, name, threshold=threshold, apply=apply)

    # --- show ---------------------------------------------------------------------------------
    def show(self, actor: str, name: str, *, limit: int = 60) -> dict[str, Any]:
        """The monitor, its checks' recent windows (total series), alerts, feedback, quality."""
        with self.store.read() as uow:
            row = self._get(uow, name)
            windows = uow.monitoring.windows(row["id"])
            alerts = uow.monitoring.alerts(row["id"], limit=1000)
            feedback = uow.monitoring.feedback(row["id"])
            kinds = latest_feedback_kinds(uow, {row["id"]: row})
        self._require_read(actor, row, "monitor.show")
        series: dict[str, list[dict[str, Any]]] = {}
        for w in windows:
            if w["slice"] == "":
                res = w["result"]
                point = {"window": w["window_key"], "status": w["status"]}
                if w["check_name"].startswith("anomaly:"):
                    point |= {"value": res.get("value"), "expected": res.get("expected"),
                              "scale": res.get("scale"), "z": res.get("z")}  # fmt: skip
                elif w["check_name"].startswith("model:"):
                    point |= {"value": res.get("value"), "baseline": res.get("baseline"),
                              "labels": res.get("labels"), "predictions": res.get("predictions")}  # fmt: skip
                elif w["check_name"] == "drift":
                    point |= {"n": res.get("n"), "drifted": res.get("drifted", [])}
                else:
                    point |= {"rows": res.get("rows"), "problems": res.get("problems", [])}
                series.setdefault(w["check_name"], []).append(point)
        qualities = {}
        for check in self._checks(row["spec"]):
            mine = [a for a in alerts if a["check_name"] == check]
            metric = check.partition(":")[2]
            missed = sum(1 for f in feedback if f["kind"] == "missed" and (
                f["metric"] in (None, metric) if metric else True))  # fmt: skip
            qualities[check] = quality([kinds.get(a["id"]) for a in mine], missed).as_dict()
        return {
            **self._view(row),
            "series": {c: pts[-limit:] for c, pts in series.items()},
            "alerts": [alert_view(a, row["name"], kinds.get(a["id"])) for a in alerts],
            "feedback": [feedback_view(f) for f in feedback],
            "quality": qualities,
        }


# --- helpers ----------------------------------------------------------------------------------
def _now(now: datetime | str | None) -> datetime:
    from datetime import UTC

    if now is None:
        return utcnow()
    if isinstance(now, str):
        try:
            parsed = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"--now {now!r} is not a time", hint="use ISO form, e.g. 2026-03-01T00:00:00Z"
            ) from None
        now = parsed
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _key(p: int | None, per: str) -> str | None:
    return window_key(p, per) if p is not None else None


def _win(check: str, p: int, per: str, label: str, status: str, result: Any) -> dict[str, Any]:
    import json

    clean = json.loads(json.dumps(result, default=_plain))
    return {"check_name": check, "window_key": window_key(p, per), "period": p,
            "slice": label, "status": status, "result": clean}  # fmt: skip


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _flagged(windows: list[dict[str, Any]]) -> dict[tuple[str, str], set[int]]:
    out: dict[tuple[str, str], set[int]] = {}
    for w in windows:
        if w["status"] == "anomaly":
            out.setdefault((w["check_name"], w["slice"]), set()).add(int(w["period"]))
    return out
