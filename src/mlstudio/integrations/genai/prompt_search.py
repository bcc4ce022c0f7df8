"""Prompt search: which of several prompts does best on an evaluation set, with error bars.

Candidates are compared on the same items (paired), in looks of ``chunk`` items: after each
look the leader (the best mean so far) is compared with every other candidate by the
evaluation's paired statistics (:func:`mlstudio.evaluate`: exact McNemar for 0/1 scores,
paired bootstrap otherwise). The search stops early when the leader is significantly ahead of
all of them; each interim look spends ``alpha / looks`` (Bonferroni over the planned looks), so
looking often does not inflate the chance of a false winner. It also stops when the evaluation
set is used up or the money budget refuses the next batch (what was computed is kept and the
report says why it stopped).

Two ways to turn a prompt into a prediction per item:

- ``generate``: the model's answer, scored against the ``reference`` column by ``metric``
  (``exact_match`` by default, after stripping spaces and case);
- ``nearest_label``: an embedding model embeds the rendered prompt and each of ``labels``; the
  prediction is the closest label (zero-shot classification with an embedding model: prompt
  wording changes the vectors, so it changes the accuracy).

Every model call goes through batch inference (:mod:`.batch`): items are kept, a re-run of the
search pays only for new items, and the namespace budget applies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import BudgetExceededError, InvalidInputError
from mlstudio.integrations.genai.batch import BatchSpec, Ledger, run_batch
from mlstudio.integrations.genai.prompts import Prompt
from mlstudio.integrations.genai.providers import Provider

PREDICTIONS = ("generate", "nearest_label")


@dataclass(frozen=True)
class SearchSpec:
    predict: str = "generate"
    reference: str = "answer"
    labels: Sequence[str] | None = None
    metric: str = "exact_match"
    chunk: int = 40
    max_items: int | None = None
    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 16
    max_tokens: int = 64

    def __post_init__(self) -> None:
        if self.predict not in PREDICTIONS:
            raise InvalidInputError(
                f"unknown prediction {self.predict!r}", hint=f"use one of: {', '.join(PREDICTIONS)}"
            )
        if self.predict == "nearest_label" and (
            not self.labels or not all(isinstance(x, str) and x for x in self.labels)
        ):
            raise InvalidInputError(
                "nearest_label needs the labels to choose from",
                hint="pass labels=['billing', 'shipping', ...]",
            )
        if isinstance(self.chunk, bool) or not isinstance(self.chunk, int) or self.chunk < 10:
            raise InvalidInputError(f"invalid chunk {self.chunk!r}", hint="give 10 items or more")
        if not 0.5 < self.confidence < 1:
            raise InvalidInputError(
                f"confidence must be between 0.5 and 1, not {self.confidence}", hint="e.g. 0.95"
            )


def _normal(text: Any) -> str | None:
    return None if text is None else " ".join(str(text).split()).lower()


def search(
    table: Any,
    candidates: Mapping[str, Prompt],
    provider: Provider,
    ledger: Ledger,
    spec: SearchSpec,
    *,
    judge: Provider | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the search; returns the report (winner or none, why it stopped, per look the
    leader and the items used, and the final paired comparison). With ``judge`` (a
    generative provider), two candidates' answers are judged pairwise in both orders instead
    of scored by ``metric`` (:mod:`.prompt_judging`)."""
    from mlstudio.integrations.evaluation.compare import evaluate

    tally = None
    if judge is not None:
        if spec.predict != "generate" or len(candidates) != 2:
            raise InvalidInputError(
                "an LLM judge compares the answers of two generating candidates",
                hint="pass two candidates with predict='generate', or leave out judge=",
            )
        from mlstudio.integrations.genai.prompt_judging import PairwiseTally

        tally = PairwiseTally(*candidates)
    if len(candidates) < 2:
        raise InvalidInputError(
            "a prompt search needs two candidates or more", hint="pass candidates=[A, B]"
        )
    if spec.reference not in table.column_names:
        raise InvalidInputError(
            f"the evaluation set has no column {spec.reference!r} with the right answers",
            hint="pass reference= the column holding them",
        )
    for prompt in candidates.values():  # every candidate renders every row: before any call
        prompt.check_columns({}, list(table.column_names))
    order = list(range(table.num_rows))
    random.Random(spec.seed).shuffle(order)
    if spec.max_items is not None:
        order = order[: spec.max_items]
    if len(order) < spec.chunk:
        raise InvalidInputError(
            f"the evaluation set has {len(order)} items, fewer than one look ({spec.chunk})",
            hint="give more items, or a smaller chunk=",
        )
    looks_planned = math.ceil(len(order) / spec.chunk)
    interim = 1 - (1 - spec.confidence) / looks_planned
    raw_reference = [str(v) for v in table.column(spec.reference).to_pylist()]
    reference = [_normal(v) for v in raw_reference]
    questions = (
        [str(v) for v in table.column("question").to_pylist()]
        if "question" in table.column_names
        else [""] * table.num_rows
    )
    label_vectors = _label_vectors(provider, spec) if spec.predict == "nearest_label" else None
    predicted: dict[str, list[str | None]] = {name: [] for name in candidates}
    used: list[int] = []
    looks: list[dict[str, Any]] = []
    stopped, report = "the evaluation set is used up", None
    cost = 0.0
    for look, start in enumerate(range(0, len(order), spec.chunk), 1):
        rows = order[start : start + spec.chunk]
        part = table.take(rows)
        try:
            raw: dict[str, list[str | None]] = {}
            for name, prompt in candidates.items():
                answers, raw[name], spent = _predict(
                    part, prompt, provider, ledger, spec, label_vectors
                )
                predicted[name].extend(answers)
                cost += spent
            if tally is not None and judge is not None:
                a, b = candidates
                tally.judge(
                    judge,
                    ledger,
                    [questions[i] for i in rows],
                    [raw_reference[i] for i in rows],
                    raw[a],
                    raw[b],
                    spec.batch_size,
                )
        except BudgetExceededError as exc:
            for name in candidates:  # keep the candidates paired: drop the unfinished look
                del predicted[name][len(used) :]
            stopped = f"the budget refused look {look}: {exc.message}"
            break
        used.extend(rows)
        y = [reference[i] for i in used]
        means = {n: _mean(p, y) for n, p in predicted.items()}
        if tally is not None:
            judged = tally.summary(interim)
            report = {"comparisons": [judged]}
            means = {n: float(w) for n, w in judged["wins"].items()}  # consistent wins so far
            leader = judged["ahead"] or max(means, key=lambda n: means[n])
            ahead = judged["ahead"] is not None
        else:
            leader = max(means, key=lambda n: (means[n], -list(candidates).index(n)))
            ordered = {
                leader: predicted[leader],
                **{n: p for n, p in predicted.items() if n != leader},
            }
            report = evaluate(y, ordered, metrics=[spec.metric], confidence=interim, seed=spec.seed)
            ahead = all(c["verdict"] == "worse" for c in report["comparisons"])
        looks.append(
            {"look": look, "items": len(used), "leader": leader, "means": means, "ahead": ahead}
        )
        if progress is not None:
            progress(
                f"look {look}/{looks_planned}: {len(used)} items, leader {leader} "
                + ", ".join(f"{n} {m:.3f}" for n, m in means.items())
            )
        if ahead:
            stopped = f"{leader} is significantly ahead of every other candidate"
            break
    if report is None:
        raise BudgetExceededError(
            f"the prompt search stopped before its first look: {stopped}",
            hint="raise the namespace budget, then run it again (computed items are kept)",
        )
    winner = looks[-1]["leader"] if looks[-1]["ahead"] else None
    return {
        "winner": winner,
        "stopped": stopped,
        "items": len(used),
        "looks": looks,
        "interim_confidence": interim,
        "metric": "pairwise LLM judge" if tally is not None else spec.metric,
        "predict": spec.predict,
        "candidates": {n: p.digest for n, p in candidates.items()},
        "comparison": report["comparisons"],
        "cost_usd": cost,
    }


def _mean(predicted: list[str | None], y: list[str | None]) -> float:
    return sum(1 for p, t in zip(predicted, y, strict=True) if p is not None and p == t) / len(y)


def _label_vectors(provider: Provider, spec: SearchSpec) -> list[list[float]]:
    return provider.embed(list(spec.labels or []))


def _predict(
    part: Any,
    prompt: Prompt,
    provider: Provider,
    ledger: Ledger,
    spec: SearchSpec,
    label_vectors: list[list[float]] | None,
) -> tuple[list[str | None], list[str | None], float]:
    """One candidate's normalized prediction per row of ``part`` (None: the call failed), its
    raw answers, and what the new calls cost."""
    columns = [c for c in part.column_names if c in (prompt.variables or {})]
    inputs = part.select(columns)
    batch = BatchSpec(
        operation="embed" if spec.predict == "nearest_label" else "generate",
        prompt=prompt,
        output="answer_of_prompt",
        batch_size=spec.batch_size,
        max_tokens=spec.max_tokens,
    )
    out, _ = run_batch(inputs, batch, provider, ledger)
    answers = out.column("answer_of_prompt").to_pylist()
    status = out.column("status").to_pylist()
    spent = sum(
        c
        for c, kept in zip(
            out.column("cost_usd").to_pylist(), out.column("cached").to_pylist(), strict=True
        )
        if not kept
    )
    if label_vectors is None:
        raw = [a if s == "ok" else None for a, s in zip(answers, status, strict=True)]
        return [_normal(a) for a in raw], raw, spent
    labels = [_normal(x) for x in spec.labels or []]
    chosen: list[str | None] = []
    for vector, ok in zip(answers, status, strict=True):
        if ok != "ok":
            chosen.append(None)
            continue
        scores = [sum(a * b for a, b in zip(vector, lv, strict=True)) for lv in label_vectors]
        chosen.append(labels[max(range(len(scores)), key=scores.__getitem__)])
    return chosen, list(chosen), spent
