"""``mlstudio quickstart``: push the bundled example modules and run the end-to-end demo twice."""

from __future__ import annotations

import importlib.util
import time
from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, plural
from mlstudio.cli.progress import describe_counts, live_progress
from mlstudio.cli.quickstart_champion import crown, serve_once

app = typer.Typer(add_completion=False)

WORKFLOW = "churn/propensity/train"
GENERATE = "churn/data/generate"


def _governance(p: Any, run_id: str) -> dict[str, Any]:
    """The classification of the training table (labels, point-in-time usage features and
    account features) and of the models, from the run's records."""
    with p.store.read() as uow:
        tasks = uow.runs.task_runs_of(run_id)
    features: dict[str, str] = {}
    models: dict[str, str] = {}
    from mlstudio.governance.classification import Classification

    for t in tasks:
        ref = (t.output or {}).get("v") or {}
        if t.node_id.endswith("assemble") and ref.get("schema"):
            features = {
                c["name"]: Classification.from_dict(c["classification"]).spec()
                for c in ref["schema"]
            }
        if t.task == "fit" and ref.get("classification"):
            models[t.node_id] = Classification.from_dict(ref["classification"]).spec()
    return {"features": features, "models": models}


def _artifact_digest(p: Any, run_id: str, node_id: str) -> str:
    """The digest of what task ``node_id`` of the run returned (a model: its artifact)."""
    with p.store.read() as uow:
        tasks = uow.runs.task_runs_of(run_id)
    return next(t.output["v"]["digest"] for t in tasks if t.node_id == node_id)


def _counts(show: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in show["tasks"]:
        if t["kind"] == "task":
            counts[t["state"]] = counts.get(t["state"], 0) + 1
    return counts


@app.command("quickstart")
def quickstart(
    customers: Annotated[
        int, typer.Option("--customers", min=100, max=200_000, help="Synthetic customers")
    ] = 4000,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Serve the champion for one request at the end"),
    ] = True,
    json_output: JsonFlag = False,
) -> None:
    """Push churn/data, churn/features and churn/propensity, run the propensity workflow, run it
    again to show the cache at work, then register the best model, make it champion (approved
    by a second person) and serve it with `mlstudio serve` for one request."""
    from mlstudio.errors import RunFailedError
    from mlstudio.examples import EXAMPLES_DIR, QUICKSTART_MODULES
    from mlstudio.workflows.options import RunOptions

    p = context.embedded_only("sets up the examples on the local home")
    studio = context.studio()
    out = console(stderr=True)
    started = time.perf_counter()
    if not any(ns["name"] == "churn" for ns in studio.namespaces.list()):
        studio.namespaces.create("churn", description="Churn and upgrade propensity (quickstart)")
    pushed = []
    for folder in QUICKSTART_MODULES:
        if not json_output:
            out.print(f"pushing {folder} …")
        result = studio.modules.push(EXAMPLES_DIR / folder, message="quickstart")
        studio.modules.promote(result["module"], result["version"])
        pushed.append({**result, "promoted": True})
        if not json_output:
            tests = result["tests"]
            note = (
                "unchanged"
                if result["unchanged"]
                else f"{plural(tests.get('passed', 0), 'test')} passed"
            )
            out.print(f"  [green]✓[/] {result['ref']} ({note}); latest → {result['version']}")
    record = studio.runs.start(
        GENERATE,
        {"n_customers": customers},
        RunOptions(domain="production", trigger="quickstart"),
    )
    with live_progress(not json_output, f"generating data {record['id']}") as observe:
        generated = studio.runs.wait(record["id"], observe)
    if generated["state"] != "succeeded":
        raise RunFailedError(
            f"quickstart data run {record['id']} {generated['state']}: {generated.get('error')}",
            hint=f"see: mlstudio runs logs {record['id']}",
        )
    if not json_output:
        out.print(
            f"  data: {GENERATE} wrote churn/customers, churn/usage, churn/outcomes (domain production)"
        )
    runs = []
    for attempt in ("first run", "re-run (cached)"):
        record = studio.runs.start(WORKFLOW, {}, RunOptions(trigger="quickstart"))
        t0 = time.perf_counter()
        with live_progress(not json_output, f"{attempt} {record['id']}") as observe:
            show = studio.runs.wait(record["id"], observe)
        elapsed = time.perf_counter() - t0
        runs.append(
            {
                "run": record["id"],
                "label": attempt,
                "state": show["state"],
                "seconds": round(elapsed, 2),
                "tasks": _counts(show),
            }
        )
        if not json_output:
            out.print(
                f"  {attempt}: {show['state']} in {elapsed:.2f}s — {describe_counts(_counts(show))}"
            )
        if show["state"] != "succeeded":
            raise RunFailedError(
                f"quickstart run {record['id']} {show['state']}: {show.get('error')}",
                hint=f"see: mlstudio runs logs {record['id']}",
            )
    output = show["output_value"] or {}
    governance = _governance(p, runs[0]["run"])
    best = output["best"]
    kinds = ["logreg", "gbm"]  # the workflow's default candidates, in fit.map's order
    node = f"fit[{kinds.index(best['kind'])}]"
    champion = crown(studio, runs[0]["run"], _artifact_digest(p, runs[0]["run"], node), best, kinds)
    if not json_output:
        what = "registered" if champion["registered"] else "already registered:"
        out.print(
            f"  {what} {champion['model']} version {champion['version']} ({best['kind']}), "
            f"approved by {champion['approved_by']} (the author may not approve its own); "
            f"{champion['alias']} → {champion['champion']}"
        )
    served = None
    if serve and importlib.util.find_spec("uvicorn") is not None:
        if not json_output:
            out.print(f"  serving {champion['model']}@{champion['alias']} with mlstudio serve …")
        served = serve_once(studio, p.settings.home / "logs")
        if not json_output:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in served["scores"].items())
            out.print(
                f"  served: version {served['version']} answered in a real HTTP request "
                f"(ready in {served['ready_s']:.1f}s): churn risk {scores}"
            )
    stats = studio.cache.stats()
    data = {
        "modules": pushed,
        "runs": runs,
        "best": output.get("best"),
        "report": output.get("report"),
        "classification": governance,
        "cache": {k: stats[k] for k in ("hits", "misses", "hit_ratio", "saved_s")},
        "champion": champion,
        "served": served,
        "seconds": round(time.perf_counter() - started, 2),
        "next": [
            f"mlstudio runs show {runs[0]['run']}",
            f"mlstudio runs logs {runs[0]['run']} --task fit[0]",
            f"mlstudio runs clone {runs[0]['run']} -p seed=11",
            f"mlstudio run {WORKFLOW} --domain adhoc        # refused: adhoc may not read confidential data",
            "mlstudio features show churn/customer_usage   # the feature view it trained on",
            "mlstudio data show churn/customers",
            "mlstudio data lineage churn/customers --column contact_email",
            "mlstudio audit --action data",
            "mlstudio module show churn/propensity",
            "mlstudio cache stats",
            f"mlstudio model show {champion['model']}@{champion['alias']}",
            f"mlstudio serve {champion['model']} --alias {champion['alias']}   # keep it up",
        ],
    }

    def human(d: dict[str, Any]) -> None:
        c = console()
        c.print()
        c.print(d["report"] or "(no report)", markup=False, highlight=False)
        c.print()
        gov = d["classification"]
        if gov["features"]:
            c.print(
                "[bold]Classification[/] of the training table and the models (propagated by the "
                "execution layer; unclassified = restricted)"
            )
            for column, spec in gov["features"].items():
                c.print(f"  column  {column:<24} {spec}")
            for node, spec in gov["models"].items():
                c.print(f"  model   {node:<24} {spec}")
            c.print()
        first, second = d["runs"]
        c.print(
            f"first run {first['seconds']:.2f}s, cached re-run {second['seconds']:.2f}s; "
            f"cache: {d['cache']['hits']} hits, {d['cache']['saved_s']:.2f}s of compute saved"
        )
        c.print("\n[bold]Try next:[/]")
        for line in d["next"]:
            c.print(f"  {line}")

    emit(data, json_output, human)
