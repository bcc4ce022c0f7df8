"""``mlstudio eval …``: is candidate B better than A on this application's data?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table
from mlstudio.cli.tables import Col
from mlstudio.errors import InvalidInputError

app = typer.Typer(
    help="A-vs-B evaluation with paired statistics: error bars, slices, stored reports.",
    add_completion=False,
    no_args_is_help=True,
)


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(ci: Any) -> str:
    return "-" if not ci else f"[{ci['low']:.4f}, {ci['high']:.4f}]"


def _p(value: Any) -> str:
    return "-" if value is None else ("<0.0001" if value < 1e-4 else f"{value:.4f}")


def print_report(r: dict[str, Any]) -> None:
    c = console()
    c.print(
        f"evaluation {r['id']} on {r['dataset']} ({r['n_items']} items, label {r['label']}, "
        f"domain {r['domain']}); baseline {r['baseline']}",
        markup=False,
    )
    table(
        None,
        [
            Col("metric", key=True),
            Col("candidate", key=True),
            Col("n"),
            Col("baseline"),
            Col("candidate mean [CI]"),
            Col("Δ"),
            Col("Δ 95% CI" if abs(r["confidence"] - 0.95) < 1e-9 else "Δ CI"),
            Col("p"),
            Col("test"),
            Col("verdict", key=True),
            Col("MDE"),
        ],
        [
            [
                x["metric"],
                x["candidate"],
                str(x["n"]),
                _fmt(x["a"]["mean"]),
                f"{_fmt(x['b']['mean'])} {_ci(x['b']['ci'])}",
                _fmt(x["delta"]),
                _ci(x["delta_ci"]),
                _p(x["p_value"]),
                x["test"],
                x["verdict"],
                _fmt(x["mde"]),
            ]
            for x in r["comparisons"]
        ],
    )
    tested = [s for s in r["slices"] if s["tested"]]
    if r["slices"]:
        c.print(
            f"slices: {len(tested)} tested, {r['correction']} correction over "
            f"{r['family_size']} tests",
            markup=False,
        )
        table(
            None,
            [
                Col("slice", key=True),
                Col("metric"),
                Col("candidate"),
                Col("n"),
                Col("Δ"),
                Col("Δ CI"),
                Col("adj. p"),
                Col("verdict"),
            ],
            [
                [
                    f"{s['column']}={s['value']}",
                    s["metric"],
                    s["candidate"],
                    str(s["n"]),
                    _fmt(s["delta"]),
                    _ci(s["delta_ci"]),
                    _p(s["adjusted_p"]),
                    s["verdict"] if s["tested"] else (s.get("note") or "not tested"),
                ]
                for s in r["slices"]
            ],
        )
    if r.get("ranking"):
        c.print(f"ranking on {r['ranking_metric']}:", markup=False)
        for e in r["ranking"]:
            c.print(
                f"  {e['rank']}. {e['name']} {_fmt(e['mean'])} {_ci(e['ci'])} "
                f"(rank {e['rank_ci'][0]}-{e['rank_ci'][1]})",
                markup=False,
            )
    for note in r.get("notes") or []:
        c.print(f"note: {note}", markup=False)
    for x in r["comparisons"]:
        for note in x["notes"]:
            c.print(f"note ({x['metric']}, {x['candidate']}): {note}", markup=False)
    if r.get("scores"):
        c.print(f"item-level scores: dataset {r['scores']}", markup=False)
    if r.get("tracking_run"):
        c.print(f"report: tracking run {r['tracking_run']} (evaluation/report.html)", markup=False)


def _write_report(report: dict[str, Any], path: Path) -> None:
    from mlstudio.integrations.evaluation.report import html_page, markdown

    if path.suffix.lower() not in (".md", ".html", ".htm"):
        raise InvalidInputError(
            f"--report {path.name}: write .md or .html", hint="--report report.html"
        )
    text = markdown(report) if path.suffix.lower() == ".md" else html_page(report)
    path.write_text(text)


@app.command("compare")
def compare(
    candidates: Annotated[
        list[str],
        typer.Argument(
            help="models:/NAME@ALIAS, models:/NAME/V, column:NAME or run:RUN[/TASK][#COL]; "
            "the first is the baseline"
        ),
    ],
    on: Annotated[str, typer.Option("--on", help="Evaluation set NS/NAME[@V]")],
    metrics: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="auc, log_loss, accuracy, mae, rmse, ndcg@10 …"),
    ] = None,
    slices: Annotated[list[str] | None, typer.Option("--slice", help="Column to slice by")] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Column of item groups (clustered errors)")
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, help="Non-inferiority margin")
    ] = 0.0,
    label: Annotated[
        str | None, typer.Option("--label", help="Column of true outcomes (default: the model's)")
    ] = None,
    domain: Annotated[str, typer.Option("--domain", help="Domain the reads pass")] = (
        "experimentation"
    ),
    save: Annotated[
        str | None, typer.Option("--save", help="Item-level scores dataset NS/NAME")
    ] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=100, max=100_000)] = 2000,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    correction: Annotated[str, typer.Option("--correction", help="holm or bh")] = "holm",
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the report to FILE.md/.html")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Compare each candidate with the first on the evaluation set: paired Δ with a bootstrap
    CI, a paired test, a verdict (better / worse / tied / non-inferior), slices."""
    if report is not None and report.suffix.lower() not in (".md", ".html", ".htm"):
        raise InvalidInputError(
            f"--report {report.name}: write .md or .html", hint="--report report.html"
        )
    if not json_output:
        console(stderr=True).print(f"scoring {len(candidates)} candidates on {on} …", markup=False)
    result = context.studio().evaluation.compare(
        candidates,
        on=on,
        label=label,
        metrics=metrics,
        slices=slices,
        cluster=cluster,
        margin=margin,
        domain=domain,
        save=save,
        resamples=resamples,
        seed=seed,
        correction=correction,
    )
    if report is not None:
        _write_report(result, report)
    emit(result, json_output, print_report)


@app.command("show")
def show(
    evaluation: Annotated[str, typer.Argument(help="Evaluation id (or a unique prefix)")],
    json_output: JsonFlag = False,
) -> None:
    """A stored evaluation's report."""
    report = context.studio().evaluation.show(evaluation)
    emit(report, json_output, print_judge if report.get("kind") == "judge" else print_report)


@app.command("list")
def list_evaluations(
    dataset: Annotated[str | None, typer.Option("--on", help="Only those on NS/NAME")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    json_output: JsonFlag = False,
) -> None:
    """Stored evaluations, newest first."""
    rows = context.studio().evaluation.list(dataset, limit=limit)

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console().print("no evaluations; run one with `mlstudio eval compare A B --on DS`")
            return
        table(
            None,
            [Col("id", key=True), Col("dataset"), Col("candidates"), Col("verdicts"), Col("by")],
            [
                [
                    r["id"],
                    r["dataset"],
                    ", ".join(r["candidates"]),
                    ", ".join(f"{k}: {v}" for k, v in r["verdicts"].items()),
                    r["created_by"],
                ]
                for r in rows
            ],
        )

    emit(rows, json_output, human)


def print_lift(r: dict[str, Any]) -> None:
    c = console()
    controls = sorted({x["control"] for x in r["results"]})
    c.print(
        f"lift of {r['metric']} per {r['unit']} on {r['dataset']} (control: {', '.join(controls)})",
        markup=False,
    )
    table(
        None,
        [
            Col("treatment", key=True),
            Col("units c/t", drop=2),
            Col("mean c/t", drop=1),
            Col("lift"),
            Col("lift CI"),
            Col("p"),
            Col("CUPED", drop=3),
            Col("SRM"),
        ],
        [
            [
                x["treatment"],
                f"{x['n_control']}/{x['n_treatment']}",
                f"{_fmt(x['mean_control'], 2)}/{_fmt(x['mean_treatment'], 2)}",
                "-" if x["lift_rel"] is None else f"{x['lift_rel']:+.2%}",
                "-" if None in x["ci_rel"] else f"[{x['ci_rel'][0]:+.2%}, {x['ci_rel'][1]:+.2%}]",
                _p(x["p_value"]),
                "-" if not x["cuped"] else f"-{(x['variance_reduction'] or 0):.0%} var",
                "ok" if x["srm_ok"] else f"MISMATCH p={x['srm_p']:.2g}",
            ]
            for x in r["results"]
        ],
    )
    for x in r["results"]:
        for note in x["notes"]:
            if not note.startswith("control variant"):
                c.print(f"note ({x['treatment']}): {note}", markup=False)
    for variant, entries in (r.get("served") or {}).items():
        versions = ", ".join(
            f"{e['model']}/{e['version']} ({e['rows']} rows)"
            if e["version"] is not None
            else f"fallback ({e['rows']} rows)"
            for e in entries
        )
        c.print(f"served {variant}: {versions}", markup=False)
    for note in r.get("notes") or []:
        c.print(f"note: {note}", markup=False)


@app.command("lift")
def lift(
    experiment: Annotated[
        str, typer.Option("--experiment", help="Dataset of logged outcomes NS/NAME[@V]")
    ],
    metric: Annotated[str, typer.Option("--metric", "-m", help="Outcome column, e.g. revenue")],
    variant_column: Annotated[
        str, typer.Option("--variant-column", help="Column naming each row's variant")
    ],
    unit_column: Annotated[
        str, typer.Option("--unit-column", help="Randomisation unit, e.g. account_id")
    ],
    pre_period_column: Annotated[
        str | None, typer.Option("--pre-period-column", help="Pre-period covariate (CUPED)")
    ] = None,
    denominator_column: Annotated[
        str | None, typer.Option("--denominator-column", help="Ratio metric denominator")
    ] = None,
    control: Annotated[str | None, typer.Option("--control", help="Control variant")] = None,
    treatment: Annotated[str | None, typer.Option("--treatment", help="Only this one")] = None,
    domain: Annotated[str, typer.Option("--domain", help="Domain the read passes")] = (
        "experimentation"
    ),
    json_output: JsonFlag = False,
) -> None:
    """Business lift of an online experiment: per-unit means, lift with a delta-method CI,
    CUPED variance reduction, and a sample-ratio-mismatch check."""
    result = context.studio().evaluation.lift(
        experiment,
        metric=metric,
        variant_column=variant_column,
        unit_column=unit_column,
        pre_period_column=pre_period_column,
        denominator_column=denominator_column,
        control=control,
        treatment=treatment,
        domain=domain,
    )
    emit(result, json_output, print_lift)


def print_judge(r: dict[str, Any]) -> None:
    c = console()
    c.print(
        f"judge {r['judge']} on {r['dataset']} ({r['n']} items, domain {r['domain']}): "
        f"A = {r['a']}, B = {r['b']}",
        markup=False,
    )
    w = r["win_rate"]
    rate = "-" if w["b_win_rate"] is None else f"{w['b_win_rate']:.3f}"
    ci = "-" if not w["ci"] else f"[{w['ci'][0]:.3f}, {w['ci'][1]:.3f}]"
    table(
        None,
        [Col("A wins"), Col("B wins"), Col("ties"), Col("inconsistent"), Col("B win rate [CI]")],
        [[str(r["a_wins"]), str(r["b_wins"]), str(r["ties"]), str(r["inconsistent"]),
          f"{rate} {ci}"]],
    )  # fmt: skip
    c.print(f"consistency in both orders: {r['consistency']:.3f}", markup=False)
    if r.get("human"):
        c.print(
            f"agreement with {r['human']} on {r['human_n']} items: "
            f"{_fmt(r['human_agreement'], 3)}, Cohen's kappa {_fmt(r['cohen_kappa'], 3)}",
            markup=False,
        )
    usage = r.get("judge_usage")
    if usage:
        c.print(
            f"judge calls: {usage['calls']}, tokens in/out {usage['input_tokens']}/"
            f"{usage['output_tokens']}, {usage['seconds']:.1f} s, ${usage['cost_usd']:.4f}",
            markup=False,
        )
    for note in r.get("notes") or []:
        c.print(f"note: {note}", markup=False)
    if r.get("id"):
        c.print(f"stored as evaluation {r['id']}; verdicts: {r['verdicts']}", markup=False)


@app.command("judge")
def judge(
    a: Annotated[str, typer.Argument(help="Column of answer A (column:NAME or NAME)")],
    b: Annotated[str, typer.Argument(help="Column of answer B")],
    on: Annotated[str, typer.Option("--on", help="Evaluation set NS/NAME[@V]")],
    judge_ref: Annotated[
        str,
        typer.Option(
            "--judge",
            help="metric:token_f1 (a rule), human:NS/NAME (human labels) or llm:openai:URL "
            "(a model, with --judge-model)",
        ),
    ],
    label: Annotated[
        str | None, typer.Option("--label", help="Reference answers (metric judges)")
    ] = None,
    human: Annotated[
        str | None, typer.Option("--human", help="Human labels NS/NAME: report agreement")
    ] = None,
    id_column: Annotated[
        str, typer.Option("--id-column", help="Item id column joining human labels")
    ] = "id",
    human_column: Annotated[
        str, typer.Option("--human-column", help="Human labels' a/b/tie column")
    ] = "preference",
    tie_delta: Annotated[
        float, typer.Option("--tie-delta", min=0.0, help="Score difference counted as a tie")
    ] = 0.0,
    question: Annotated[
        str | None, typer.Option("--question", help="Question column shown to an llm: judge")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Model an llm: judge asks for")
    ] = None,
    judge_key_env: Annotated[
        str | None,
        typer.Option("--judge-key-env", help="Variable holding the llm: judge's API key"),
    ] = None,
    save: Annotated[
        str | None, typer.Option("--save", help="Verdicts dataset NS/NAME (default NAME-judge)")
    ] = None,
    domain: Annotated[str, typer.Option("--domain", help="Domain the reads pass")] = (
        "experimentation"
    ),
    json_output: JsonFlag = False,
) -> None:
    """Judge answers A and B item by item, in both orders (inconsistent verdicts reported);
    with --human, agreement and Cohen's kappa against human labels."""
    result = context.studio().evaluation.judge(
        a,
        b,
        on=on,
        judge=judge_ref,
        label=label,
        human=human,
        id_column=id_column,
        human_column=human_column,
        domain=domain,
        tie_delta=tie_delta,
        question=question,
        judge_model=judge_model,
        judge_key_env=judge_key_env,
        save=save,
    )
    emit(result, json_output, print_judge)


def print_rank(r: dict[str, Any]) -> None:
    console().print(
        f"Bradley-Terry ranking from {r['n_comparisons']} preferences in {r['dataset']}",
        markup=False,
    )
    table(
        None,
        [Col("rank"), Col("candidate", key=True), Col("strength [CI]"), Col("wins/comparisons")],
        [
            [
                str(e["rank"]),
                e["name"],
                f"{e['strength']:+.3f} [{e['ci']['low']:+.3f}, {e['ci']['high']:+.3f}]",
                f"{e['wins']:g}/{e['comparisons']}",
            ]
            for e in r["ranking"]
        ],
    )


@app.command("rank")
def rank(
    on: Annotated[str, typer.Option("--on", help="Preferences NS/NAME[@V], one pair per row")],
    first: Annotated[str, typer.Option("--first", help="Column naming candidate a")] = "a",
    second: Annotated[str, typer.Option("--second", help="Column naming candidate b")] = "b",
    winner: Annotated[
        str, typer.Option("--winner", help="Column: a, b, tie or the winner's name")
    ] = "winner",
    resamples: Annotated[int, typer.Option("--resamples", min=10, max=2000)] = 200,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    domain: Annotated[str, typer.Option("--domain", help="Domain the read passes")] = (
        "experimentation"
    ),
    json_output: JsonFlag = False,
) -> None:
    """Rank candidates from pairwise preferences (Bradley-Terry strengths, bootstrap CIs)."""
    result = context.studio().evaluation.rank(
        on=on,
        first=first,
        second=second,
        winner=winner,
        domain=domain,
        resamples=resamples,
        seed=seed,
    )
    emit(result, json_output, print_rank)
