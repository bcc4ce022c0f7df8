"""``eval judge`` and ``eval rank``: pairwise judges on a governed evaluation set, and a
Bradley-Terry ranking from a governed table of pairwise preferences.

A judge is named, so the CLI, the API and the client can all ask for it:

- ``metric:NAME`` — a rule: the text metric ``NAME`` (exact_match, token_f1, rouge_l,
  similarity) of each answer against the ``--label`` column; the better-scoring answer wins.
- ``human:NS/NAME[@V]`` — imported human labels: a dataset with an item-id column and a
  preference column (``a`` | ``b`` | ``tie``), joined to the evaluation set by item id.

Either is called in both orders (see :mod:`judges`); ``--human`` adds agreement with a
human-labelled subset (agreement rate and Cohen's kappa). Every read goes through the governed
dataset path under the evaluation's domain, and each call is audited (``eval.judge``,
``eval.rank``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlstudio.core.ids import new_id
from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.judges import labels_judge

PREFERENCES = ("a", "b", "tie")
MAX_RANK_RESAMPLES = 2000


def _read(
    service: Any, actor: str, ref: str, domain: str
) -> tuple[str, dict[str, list], dict[str, Any]]:
    """A governed read of ``ref``: its ``NS/NAME@V``, its columns and their classifications."""
    from mlstudio.data.catalog import DatasetService
    from mlstudio.data.io import field_classifications

    dataset = DatasetService(service.store, service.cas).read(actor, ref, domain=domain)
    table = dataset.to_arrow()
    columns = {n: table.column(n).to_pylist() for n in table.column_names}
    return dataset.name, columns, field_classifications(table)


def _columns(service: Any, actor: str, ref: str, domain: str) -> tuple[str, dict[str, list]]:
    name, columns, _ = _read(service, actor, ref, domain)
    return name, columns


def _need(columns: dict[str, list], name: str, ref: str, option: str) -> list:
    if name not in columns:
        raise InvalidInputError(
            f"{ref} has no column {name!r}",
            hint=f"pass {option} COLUMN; its columns are {', '.join(columns)}",
        )
    return columns[name]


def _preferences(columns: dict[str, list], ref: str, id_column: str, column: str) -> dict[Any, str]:
    """item id -> "a" | "b" | "tie" from a human-labels table (bad labels refused)."""
    ids = _need(columns, id_column, ref, "--id-column")
    labels = _need(columns, column, ref, "--human-column")
    out: dict[Any, str] = {}
    for key, label in zip(ids, labels, strict=True):
        value = "" if label is None else str(label).strip().lower()
        if value not in PREFERENCES:
            raise InvalidInputError(
                f"{ref}: preference {label!r} for item {key!r} is not a, b or tie",
                hint=f"label every row of {column!r} a, b or tie",
            )
        if key in out and out[key] != value:
            raise InvalidInputError(
                f"{ref}: item {key!r} is labelled twice, {out[key]} and {value}",
                hint="keep one human label per item",
            )
        out[key] = value
    return out


def _rule_judge(metric_name: str, references: list) -> Callable[..., float]:
    from mlstudio.integrations.evaluation.metrics import get_metric

    metric = get_metric(metric_name)
    if metric.task != "text" or metric.kind != "item":
        raise InvalidInputError(
            f"judge metric:{metric_name} is not a text metric",
            hint="use metric:exact_match, metric:token_f1, metric:rouge_l, metric:similarity or "
            "metric:embedding_similarity",
        )

    def judge(item: dict, x: Any, y: Any) -> float:
        ref = [references[item["index"]]]
        sx, sy = (float(metric.item_scores(ref, [v])[0]) for v in (x, y))
        if sx != sx or sy != sy:  # NaN: an answer or the reference is missing
            return 0.0
        return sx - sy

    return judge


def judge(
    service: Any,
    actor: str,
    a: str,
    b: str,
    *,
    on: str,
    judge: str,
    label: str | None = None,
    human: str | None = None,
    id_column: str = "id",
    human_column: str = "preference",
    domain: str = "experimentation",
    tie_delta: float = 0.0,
    question: str | None = None,
    judge_model: str | None = None,
    judge_key_env: str | None = None,
    save: str | None = None,
) -> dict[str, Any]:
    """Judge answer columns ``a`` and ``b`` of ``on`` with the named ``judge`` in both orders;
    with ``human``, agreement (rate, Cohen's kappa) on the human-labelled items. The report is
    stored (``eval show ID``) with the per-item verdicts as a governed dataset (``save``, by
    default ``NS/NAME-judge``)."""
    from mlstudio.data.catalog import parse_dataset_name, parse_dataset_ref
    from mlstudio.governance.rbac import Authorizer
    from mlstudio.integrations.evaluation.judges import judge_pairwise, win_rate_summary

    a, b = a.removeprefix("column:"), b.removeprefix("column:")
    if a == b:
        raise InvalidInputError("A and B are the same column", hint="judge two different answers")
    kind, _, target = judge.partition(":")
    if kind not in JUDGE_KINDS or not target:
        raise InvalidInputError(f"unknown judge {judge!r}", hint=JUDGE_HINT)
    if kind == "metric" and not label:
        raise InvalidInputError(
            f"judge {judge} compares each answer with a reference", hint="add --label COLUMN"
        )
    if kind != "llm" and (judge_model or judge_key_env or question):
        raise InvalidInputError(
            "--judge-model, --judge-key-env and --question are for llm: judges",
            hint="use --judge llm:openai:URL, or leave those options out",
        )
    if not tie_delta >= 0:
        raise InvalidInputError(f"tie delta is {tie_delta}", hint="--tie-delta 0 or more")
    name, _ = parse_dataset_ref(on)
    target_name = parse_dataset_name(save).full if save else f"{name.full}-judge"
    with service.store.read() as uow:  # the verdicts must be storable before anyone is asked
        Authorizer(uow.identity).require_namespace(
            actor, target_name.partition("/")[0], "write datasets"
        )
    llm = _llm_judge(target, judge_model, judge_key_env) if kind == "llm" else None
    ref, columns, classes = _read(service, actor, on, domain)
    answers = [_need(columns, c, ref, "A and B as") for c in (a, b)]
    used = [a, b]
    items = [{"index": i} for i in range(len(answers[0]))]
    ids: list | None = None
    if kind == "human" or human:
        ids = _need(columns, id_column, ref, "--id-column")
        used.append(id_column)
    judged_by: Callable[..., Any]
    judge_ref = judge
    extra_classes: list[Any] = []
    if kind == "metric":
        judged_by = _rule_judge(target, _need(columns, label or "", ref, "--label"))
        used.append(label or "")
    elif kind == "llm":
        assert llm is not None
        if question:
            llm.questions = _need(columns, question, ref, "--question")
            used.append(question)
        if label:
            llm.references = _need(columns, label, ref, "--label")
            used.append(label)
        judged_by = llm
    else:
        judge_ref, labels_columns, labels_classes = _read(service, actor, target, domain)
        prefs = _preferences(labels_columns, judge_ref, id_column, human_column)
        keys = ids or []
        judged_by = labels_judge(prefs, key=lambda item: keys[item["index"]])
        judge_ref = f"human:{judge_ref}"
        extra_classes.append(labels_classes.get(human_column))
    human_by_index: dict[int, str] | None = None
    human_ref = None
    notes: list[str] = []
    if human:
        human_ref, human_columns, human_classes = _read(service, actor, human, domain)
        extra_classes.append(human_classes.get(human_column))
        prefs = _preferences(human_columns, human_ref, id_column, human_column)
        position = {key: i for i, key in enumerate(ids or [])}
        human_by_index = {position[k]: v for k, v in prefs.items() if k in position}
        unknown = len(prefs) - len(human_by_index)
        if unknown:
            notes.append(f"{unknown} human labels name items that are not in {ref}")
        if not human_by_index:
            raise InvalidInputError(
                f"no item of {human_ref} is in {ref} (joined on {id_column!r})",
                hint="label items of the evaluation set, by the same id column",
            )
    report = judge_pairwise(
        items, answers[0], answers[1], judged_by, tie_delta=tie_delta, human=human_by_index
    )
    body = report.to_dict()
    for key in ("outcomes", "orders"):
        body.pop(key)
    body["notes"] = [*body["notes"], *notes]
    out = {
        "id": new_id("ev"),
        "kind": "judge",
        "dataset": ref,
        "domain": domain,
        "a": a,
        "b": b,
        "judge": judge_ref,
        "human": human_ref,
        **body,
        "win_rate": win_rate_summary(report),
    }
    if llm is not None:
        out["judge_usage"] = llm.describe()
    from mlstudio.integrations.evaluation.judge_store import record_judgement

    return record_judgement(
        service,
        actor,
        out,
        report,
        target_name,
        ids=ids,
        id_column=id_column,
        human=human_by_index,
        classification=[classes.get(c) for c in used] + extra_classes,
        id_class=classes.get(id_column) if ids is not None else None,
    )


JUDGE_KINDS = ("metric", "human", "llm")
JUDGE_HINT = (
    "--judge metric:token_f1 (a rule), human:NS/NAME (human labels) or llm:openai:URL "
    "(a model; with --judge-model NAME)"
)


def _llm_judge(spec: str, model: str | None, key_env: str | None) -> Any:
    from mlstudio.integrations.evaluation.llm_judge import LLMJudge, check_key_env
    from mlstudio.integrations.genai.registry import open_provider

    if key_env:
        check_key_env(key_env, spec)
    return LLMJudge(open_provider(spec, model=model, api_key_env=key_env))


def rank(
    service: Any,
    actor: str,
    *,
    on: str,
    first: str = "a",
    second: str = "b",
    winner: str = "winner",
    domain: str = "experimentation",
    resamples: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Bradley-Terry strengths with bootstrap intervals from the pairwise preferences in
    ``on``: one row per comparison, the two candidates' names in ``first`` and ``second``, the
    outcome in ``winner`` (a, b, tie, or the winner's name)."""
    from mlstudio.integrations.evaluation.ranking import bradley_terry

    if not 10 <= resamples <= MAX_RANK_RESAMPLES:
        raise InvalidInputError(
            f"resamples must be between 10 and {MAX_RANK_RESAMPLES}, not {resamples}",
            hint="--resamples 200",
        )
    if not 0.5 < confidence < 1:
        raise InvalidInputError(f"confidence must be in (0.5, 1), not {confidence}", hint="0.95")
    ref, columns = _columns(service, actor, on, domain)
    lefts, rights, wins = (
        _need(columns, c, ref, o)
        for c, o in ((first, "--first"), (second, "--second"), (winner, "--winner"))
    )
    comparisons: list[tuple[str, str, float]] = []
    for row, (x, y, w) in enumerate(zip(lefts, rights, wins, strict=True)):
        if x is None or y is None:
            raise InvalidInputError(
                f"{ref} row {row}: a candidate name is missing", hint="name both candidates"
            )
        x, y, verdict = str(x), str(y), "" if w is None else str(w).strip()
        outcome = {"a": 1.0, x: 1.0, "b": 0.0, y: 0.0, "tie": 0.5}.get(verdict.lower())
        outcome = {x: 1.0, y: 0.0}.get(verdict, outcome)
        if outcome is None:
            raise InvalidInputError(
                f"{ref} row {row}: winner {w!r} is not a, b, tie, {x!r} or {y!r}",
                hint=f"write a, b, tie or the winner's name in {winner!r}",
            )
        comparisons.append((x, y, outcome))
    if not comparisons:
        raise InvalidInputError(f"{ref} has no preferences", hint="import at least one row")
    fitted = bradley_terry(comparisons, resamples=resamples, seed=seed, confidence=confidence)
    games: dict[str, int] = {}
    won: dict[str, float] = {}
    for x, y, outcome in comparisons:
        for name, score in ((x, outcome), (y, 1.0 - outcome)):
            games[name] = games.get(name, 0) + 1
            won[name] = won.get(name, 0.0) + score
    ranking = [
        {
            "rank": i + 1,
            "name": name,
            "strength": strength,
            "ci": {"low": ci.low, "high": ci.high},
            "comparisons": games[name],
            "wins": won[name],
        }
        for i, (name, strength, ci) in enumerate(fitted)
    ]
    out = {
        "dataset": ref,
        "domain": domain,
        "n_comparisons": len(comparisons),
        "method": "Bradley-Terry (log-strengths centred at 0; ties count half)",
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
        "ranking": ranking,
    }

    def work(uow: Any) -> None:
        uow.audit.record(
            actor,
            "eval.rank",
            f"dataset:{ref}",
            details={"domain": domain, "order": [r["name"] for r in ranking]},
        )

    service.store.retrying(work)
    return out
