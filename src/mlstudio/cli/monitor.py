"""``mlstudio monitor …``: monitors (drift, metric anomalies), alerts and feedback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col
from mlstudio.errors import InvalidInputError

app = typer.Typer(
    help="Monitors: n-aware drift, metric anomalies, alerts and human feedback.",
    add_completion=False,
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Monitor NS/NAME")]
Now = Annotated[str | None, typer.Option("--now", help="Evaluate as of this ISO time")]


def _print(m: dict[str, Any]) -> None:
    c = console()
    c.print(f"{m['name']}: {m['source']} (domain {m['domain']}), revision {m['revision']}",
            markup=False)  # fmt: skip
    c.print(f"  checks {', '.join(m['checks'])}", markup=False)
    truth = (m.get("spec") or {}).get("ground_truth")
    if truth:
        c.print(f"  ground truth {truth['labels']} by {truth['key']}: {truth['metric']} against "
                f"{truth['baseline']:.4g} ({truth['baseline_source']}), alerting below it by "
                f"more than {truth['tolerance']:g} with >= {truth['min_labels']} labels",
                markup=False)  # fmt: skip
    retrain = (m.get("spec") or {}).get("retrain")
    if retrain:
        c.print(f"  on a model alert: run {retrain['workflow']} (cooldown {retrain['cooldown']}, "
                f"at most {retrain['max_per']})", markup=False)  # fmt: skip


@app.command("add")
def add(
    name: Name,
    source: Annotated[
        str,
        typer.Option("--source", help='Dataset NS/NAME it reads, or sql:SELECT … FROM "NS/NAME" …'),
    ],
    time_column: Annotated[str, typer.Option("--time-column", help="Column with each row's time")],
    period: Annotated[str, typer.Option("--period", help="hour, day or week")] = "day",
    domain: Annotated[str, typer.Option("--domain", help="Domain it reads as")] = "production",
    dimensions: Annotated[
        list[str] | None, typer.Option("--dimension", help="Column to slice by (repeatable)")
    ] = None,
    features: Annotated[
        list[str] | None, typer.Option("--feature", help="Column checked for drift (repeatable)")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Drift reference NS/NAME[@V], or window:FROM..TO (the source's own rows)",
        ),
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option("--metric", help="NAME=AGG:COLUMN or NAME=count (repeatable): anomalies"),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level")] = 0.05,
    persistence: Annotated[
        str, typer.Option("--persistence", help="K/M: drift alerts when K of the last M fire")
    ] = "1/1",
    max_slices: Annotated[int, typer.Option("--max-slices", help="Values kept per slice")] = 50,
    freshness: Annotated[
        int, typer.Option("--freshness", help="Periods without data before a data alert")
    ] = 2,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Cron (UTC): mlstudio server runs it then")
    ] = None,
    flag: Annotated[
        str | None,
        typer.Option("--flag", help="KEY=VALUE: set this serving flag when a model alert opens"),
    ] = None,
    on_alert_run: Annotated[
        str | None,
        typer.Option(
            "--on-alert-run",
            help="Workflow NS/MODULE/WF[:TAG|@N] started (as you, "
            "in --domain) when a model alert opens",
        ),
    ] = None,
    run_param: Annotated[
        list[str] | None,
        typer.Option("--run-param", help="That workflow's parameter NAME=VALUE (repeatable)"),
    ] = None,
    cooldown: Annotated[
        str, typer.Option("--cooldown", help="No new triggered run until this after the last")
    ] = "6h",
    max_per: Annotated[
        str, typer.Option("--max-per", help="N/DURATION: at most N triggered runs per period")
    ] = "3/7d",
    ground_truth: Annotated[
        str | None,
        typer.Option(
            "--ground-truth",
            help="Labels NS/NAME (request_id + label): score the predictions per window and slice",
        ),
    ] = None,
    model_metric: Annotated[
        str, typer.Option("--model-metric", help="Evaluation metric, e.g. accuracy, auc, mae")
    ] = "accuracy",
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="VALUE or tracking:RUN[:KEY] (the training run's metric)"),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Alert when worse than the baseline by more")
    ] = 0.02,
    min_labels: Annotated[
        int, typer.Option("--min-labels", help="Labelled rows a window needs for a verdict")
    ] = 100,
    label_column: Annotated[str, typer.Option("--label-column", help="Labels' column")] = "label",
    prediction_column: Annotated[
        str, typer.Option("--prediction-column", help="The source's prediction column")
    ] = "prediction",
    join_key: Annotated[
        str, typer.Option("--join-key", help="Column joining predictions and labels")
    ] = "request_id",
    after: Annotated[
        list[str] | None,
        typer.Option("--after", help="Upstream monitor whose data must be ok first (repeatable)"),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Declare a monitor over a dataset it may read in its domain. Audited."""
    from mlstudio.workflows.service import parse_params

    if on_alert_run is None and run_param:
        raise InvalidInputError("--run-param needs --on-alert-run", hint="add --on-alert-run WF")
    if ground_truth is None and baseline is not None:
        raise InvalidInputError("--baseline needs --ground-truth", hint="add --ground-truth LABELS")
    truth = None
    if ground_truth is not None:
        truth = {"labels": ground_truth, "metric": model_metric, "baseline": baseline,
                 "tolerance": tolerance, "min_labels": min_labels, "label_column": label_column,
                 "prediction_column": prediction_column, "key": join_key}  # fmt: skip
    retrain = None
    if on_alert_run is not None:
        retrain = {"workflow": on_alert_run, "params": parse_params(run_param or []),
                   "cooldown": cooldown, "max_per": max_per}  # fmt: skip
    result = context.studio().monitoring.add(
        name,
        source=source,
        time_column=time_column,
        period=period,
        domain=domain,
        dimensions=dimensions or [],
        features=features or [],
        reference=reference,
        metrics=metrics or [],
        alpha=alpha,
        persistence=persistence,
        max_slices=max_slices,
        freshness=freshness,
        schedule=schedule,
        flag=flag,
        retrain=retrain,
        ground_truth=truth,
        after=after or [],
    )
    emit(result, json_output, _print)


@app.command("list")
def list_monitors(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The monitors you may read."""
    rows = context.studio().monitoring.list(namespace)

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console().print("no monitors; add one with `mlstudio monitor add`")
            return
        table(None, [Col("name", key=True), Col("source"), Col("checks")],
              [[m["name"], m["source"], ", ".join(m["checks"])] for m in rows])  # fmt: skip

    emit(rows, json_output, human)


@app.command("show")
def show(
    name: Name,
    png: Annotated[Path | None, typer.Option("--png", help="Also write the chart here")] = None,
    json_output: JsonFlag = False,
) -> None:
    """The monitor, a chart of each check's total series, alerts, feedback and quality."""
    from mlstudio.integrations.monitoring.chart import png as draw
    from mlstudio.integrations.monitoring.chart import sparkline

    m = context.studio().monitoring.show(name)
    if png is not None:
        metric = next((c for c in m["checks"] if c.startswith("anomaly:")), None)
        if metric is None or metric not in m["series"]:
            raise InvalidInputError(
                f"{name} has no computed metric series to draw", hint="run it first"
            )
        marks = {f["start"] for f in m["feedback"]} | {f["end"] for f in m["feedback"]}
        detector = (m.get("spec") or {}).get("detector") or {}
        threshold = float(detector.get("threshold") or 4.0)  # after `monitor tune --apply`
        png.write_bytes(draw(m["series"][metric], marks=sorted(marks), threshold=threshold))
        m = {**m, "png": str(png)}

    def human(m: dict[str, Any]) -> None:
        c = console()
        _print(m)
        for check, points in m["series"].items():
            key = (
                "value"
                if check.startswith(("anomaly:", "model:"))
                else ("n" if check == "drift" else "rows")
            )
            line = sparkline([p.get(key) for p in points])
            flags = "".join("!" if p["status"] in ("anomaly", "drift", "degraded") else " "
                            for p in points)  # fmt: skip
            if points:
                c.print(f"  {check:<22} {points[0]['window']} {line} {points[-1]['window']}",
                        markup=False)  # fmt: skip
                c.print(f"  {'':<22} {'':<10} {flags}", markup=False)
            q = m["quality"].get(check, {})
            if q.get("precision") is not None or q.get("recall") is not None:
                c.print(f"  {'':<22} precision {q['precision']} recall {q['recall']}",
                        markup=False)  # fmt: skip
        for a in m["alerts"]:
            c.print(f"  alert {a['id']} {a['state']} {a['check']} [{a['slice'] or 'all'}] "
                    f"{a['first_window']}..{a['last_window']} feedback {a['feedback'] or '-'}",
                    markup=False)  # fmt: skip
        if m.get("png"):
            c.print(f"  chart written to {m['png']}", markup=False)

    emit(m, json_output, human)


@app.command("run")
def run(name: Name, now: Now = None, json_output: JsonFlag = False) -> None:
    """Compute the complete windows not computed yet (a re-run computes nothing twice)."""
    result = context.studio().monitoring.run(name, now=now)

    def human(r: dict[str, Any]) -> None:
        computed = ", ".join(f"{k} {v}" for k, v in r["computed"].items()) or "nothing new"
        c = console()
        c.print(f"{r['monitor']}: computed {computed}; opened {len(r['opened'])}, "
                f"resolved {len(r['resolved'])} alerts", markup=False)  # fmt: skip
        for alert_id in r["opened"]:
            c.print(f"  opened {alert_id}", markup=False)
        for alert_id in r["resolved"]:
            c.print(f"  resolved {alert_id}", markup=False)
        for t in r.get("retrain", []):
            done = f"started {t['run']}" if t.get("run") else f"skipped: {t['skipped']}"
            c.print(f"  retrain {t['workflow']} for {t['alert']}: {done}", markup=False)

    emit(result, json_output, human)


@app.command("backfill")
def backfill(name: Name, now: Now = None, json_output: JsonFlag = False) -> None:
    """Recompute the monitor's whole history (after data loss or a change); no webhooks."""
    result = context.studio().monitoring.backfill(name, now=now)
    emit(result, json_output, lambda r: console().print(
        f"{r['monitor']}: recomputed {sum(r['computed'].values())} windows", markup=False))  # fmt: skip


@app.command("alerts")
def alerts(
    name: Annotated[str | None, typer.Argument(help="Monitor NS/NAME (default: all)")] = None,
    state: Annotated[str | None, typer.Option("--state", help="open or resolved")] = None,
    grouped: Annotated[
        bool,
        typer.Option(
            "--grouped", help="One row per incident: a check's slices that opened together"
        ),
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Alerts, newest first, with their evidence and feedback (--grouped: by incident)."""
    rows = context.studio().monitoring.alerts(name, state=state)
    if grouped:
        from mlstudio.integrations.monitoring.views import group_alerts

        groups = group_alerts(rows)

        def by_group(groups: list[dict[str, Any]]) -> None:
            if not groups:
                console().print("no alerts")
                return
            table(None, [Col("monitor", key=True), Col("check"), Col("state"), Col("windows"),
                         Col("slices"), Col("alerts", drop=1)],
                  [[g["monitor"], g["check"], g["state"], f"{g['first_window']}..{g['last_window']}",
                    ", ".join(g["slices"]), str(len(g["alerts"]))] for g in groups])  # fmt: skip

        emit(groups, json_output, by_group)
        return

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console().print("no alerts")
            return
        table(None, [Col("id", key=True), Col("monitor"), Col("check"), Col("slice"),
                     Col("state"), Col("windows"), Col("feedback", drop=1)],
              [[a["id"], a["monitor"], a["check"], a["slice"] or "all", a["state"],
                f"{a['first_window']}..{a['last_window']}", a["feedback"] or "-"]
               for a in rows])  # fmt: skip

    emit(rows, json_output, human)


@app.command("feedback")
def feedback(
    target: Annotated[str, typer.Argument(help="Alert id, or monitor NS/NAME with --start")],
    kind: Annotated[
        str,
        typer.Argument(
            help="confirmed, expected, false_alarm, missed, new_trend, event or comment"
        ),
    ],
    start: Annotated[str | None, typer.Option("--start", help="First window (ISO date)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last window (ISO date)")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="Metric it is about")] = None,
    dims: Annotated[
        list[str] | None, typer.Option("--dim", help="DIM=VALUE filter (repeatable)")
    ] = None,
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Human feedback; it changes windows computed after it only. Audited."""
    parsed: dict[str, str] = {}
    for item in dims or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise InvalidInputError(f"invalid --dim {item!r}", hint="use DIM=VALUE, e.g. plan=pro")
        parsed[k] = v
    result = context.studio().monitoring.feedback(
        target, kind, start=start, end=end, metric=metric, dims=parsed or None, comment=comment
    )
    emit(result, json_output, lambda f: console().print(
        f"{f['kind']} on {f['monitor']} {f['start']}..{f['end']}: applies to windows after "
        f"{f['applies_after']}", markup=False))  # fmt: skip


@app.command("tune")
def tune(
    name: Name,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Threshold (robust z) to evaluate")
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Set it for future windows")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Re-tune the anomaly threshold from feedback: before/after alert counts on history,
    precision and recall per threshold; --apply (with --threshold) sets it. Audited."""
    result = context.studio().monitoring.tune(name, threshold=threshold, apply=apply)

    def human(r: dict[str, Any]) -> None:
        c = console()
        for check, t in r["checks"].items():
            c.print(f"{check}: threshold {t['current_threshold']}, {t['current_alerts']} alerts on "
                    f"history; suggested {t['suggested']}", markup=False)  # fmt: skip
            for row in t["candidates"]:
                c.print(f"  threshold {row['threshold']:<5} alerts {row['alerts']:<4} precision "
                        f"{row['precision']} recall {row['recall']}", markup=False)  # fmt: skip
        if r["applied"] is not None:
            c.print(f"applied threshold {r['applied']} (revision {r['revision']})", markup=False)

    emit(result, json_output, human)


@app.command("remove")
def remove(name: Name, json_output: JsonFlag = False) -> None:
    """Remove a monitor with its windows, alerts and feedback. Audited."""
    emit(context.studio().monitoring.remove(name), json_output,
         lambda r: console().print(f"removed {r['name']}", markup=False))  # fmt: skip
