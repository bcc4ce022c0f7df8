"""``mlstudio experiments …``: the experiments tracked runs belong to."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col, WideFlag

app = typer.Typer(
    help="List and show experiments (groups of tracked runs).",
    add_completion=False,
    no_args_is_help=True,
)


def metric_text(metrics: dict[str, Any], limit: int = 3) -> str:
    shown = [f"{k}={_number(v)}" for k, v in list(metrics.items())[:limit]]
    more = len(metrics) - limit
    return ", ".join(shown) + (f" (+{more})" if more > 0 else "")


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@app.command("list")
def list_experiments(
    all_: Annotated[bool, typer.Option("--all", help="Include deleted experiments")] = False,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Every experiment and its number of runs."""
    rows = context.studio().tracking.experiments(include_deleted=all_)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print("no experiments yet; run a workflow to track its tasks")
            return
        table(
            None,
            [Col("id", key=True), Col("experiment", key=True), Col("runs"), Col("state", drop=1)],
            [[e["id"], e["name"], str(e["runs"]), e["lifecycle_stage"]] for e in data],
            wide=wide,
        )

    emit(rows, json_output, human)


@app.command("show")
def show_experiment(
    experiment: Annotated[str, typer.Argument(help="Experiment name or id")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest runs")] = 20,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """An experiment and its newest runs."""
    data = context.studio().tracking.experiment(experiment, limit=limit)

    def human(exp: dict[str, Any]) -> None:
        console().print(f"experiment {exp['name']} (id {exp['id']}): {exp['runs']} runs")
        if exp["recent"]:
            print_runs(exp["recent"], wide)

    emit(data, json_output, human)


def print_runs(runs: list[dict[str, Any]], wide: bool) -> None:
    table(
        None,
        [
            Col("run", key=True),
            Col("name", key=True),
            Col("status"),
            Col("metrics"),
            Col("params", drop=1),
            Col("workflow run", drop=2),
        ],
        [
            [
                r["id"],
                r["name"],
                r["status"] + (" (cached)" if r["cache_hit"] else ""),
                metric_text(r["metrics"]),
                metric_text(r["params"]),
                r["workflow_run_id"] or "-",
            ]
            for r in runs
        ],
        wide=wide,
    )


def print_compare(data: dict[str, Any], wide: bool) -> None:
    runs = data["runs"]
    headers = [Col("", key=True)] + [Col(r["label"], key=True) for r in runs]
    rows: list[list[str]] = []
    for p in data["params"]:
        rows.append([f"params.{p['key']}"] + ["-" if v is None else str(v) for v in p["values"]])
    for m in data["metrics"]:
        cells = []
        for i, v in enumerate(m["values"]):
            text = "-" if v is None else _number(v)
            cells.append(text + (" *" if m["best"] == i else ""))
        rows.append([f"metrics.{m['key']} ({m['direction']})", *cells])
    if not rows:
        console().print("no params or metrics differ" if runs else "nothing to compare")
        return
    table(None, headers, rows, wide=wide)
    console().print("runs: " + ", ".join(f"{r['label']} = {r['id']}" for r in runs))


def plot_series(series: list[dict[str, Any]], metric: str, path: str) -> dict[str, Any]:
    """Write one line per run of ``metric`` against step to ``path`` (matplotlib, Agg)."""
    from pathlib import Path

    from mlstudio.errors import InvalidInputError

    if not path.lower().endswith(".png"):
        raise InvalidInputError(f"--to {path!r} is not a .png file", hint="use --to FILE.png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidInputError("plotting needs matplotlib", hint="pip install matplotlib") from exc
    fig, ax = plt.subplots(figsize=(8, 4.5))
    points = 0
    for one in series:
        xs = [p["step"] for p in one["points"]]
        ys = [float(p["value"]) for p in one["points"]]
        points += len(xs)
        ax.plot(xs, ys, label=one["run"])
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return {"path": str(target), "metric": metric, "runs": len(series), "points": points}
