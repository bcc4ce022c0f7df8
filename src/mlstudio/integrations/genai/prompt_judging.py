"""Judging a prompt search's two candidates with an LLM, in both orders.

For each item the judge model sees the question (a ``question`` column, when the evaluation set
has one), the reference answer and the two candidates' answers as X and Y, and must answer X,
Y or TIE (the judge prompt of :mod:`mlstudio.integrations.evaluation.llm_judge`). Every item
is judged twice, with the answers swapped: an item whose two verdicts disagree is
*inconsistent* (a judge that prefers whichever answer comes first shows up here) and, like a
tie, is left out of the win rate. The win rate of the second candidate among decided items
gets a Wilson interval; the search stops when it excludes 1/2.

The judge's calls go through batch inference like the candidates': kept (a re-run does not
ask the judge again), priced and under the namespace budget.
"""

from __future__ import annotations

from typing import Any

from mlstudio.integrations.genai.batch import BatchSpec, Ledger, run_batch
from mlstudio.integrations.genai.prompts import Prompt
from mlstudio.integrations.genai.providers import Provider

JUDGE = Prompt(
    "pairwise_judge",
    "Question:\n{question}\n\nReference answer:\n{reference}\n\nAnswer X:\n{x}\n\n"
    "Answer Y:\n{y}\n\nWhich answer is better: X, Y or TIE?",
    system=(
        "You compare two answers to the same question and decide which one is better: more "
        "correct, more complete and more faithful to the reference when one is given. "
        "Reply with exactly one word: X if answer X is better, Y if answer Y is better, or TIE."
    ),
)


class PairwiseTally:
    """The consistent verdicts so far, per candidate: a's wins, b's wins, ties, inconsistent."""

    def __init__(self, a: str, b: str) -> None:
        self.a, self.b = a, b
        self.counts = {"a": 0, "b": 0, "tie": 0, "inconsistent": 0}
        self.unreadable = 0

    def judge(
        self,
        judge: Provider,
        ledger: Ledger,
        questions: list[str],
        references: list[str],
        answers_a: list[str | None],
        answers_b: list[str | None],
        batch_size: int,
    ) -> None:
        """Judge these items in both orders and add their outcomes."""
        import pyarrow as pa

        from mlstudio.integrations.evaluation.llm_judge import parse_verdict

        n = len(questions)
        x = [a or "" for a in answers_a] + [b or "" for b in answers_b]
        y = [b or "" for b in answers_b] + [a or "" for a in answers_a]
        table = pa.table(
            {
                "question": questions * 2,
                "reference": references * 2,
                "x": x,
                "y": y,
            }
        )
        spec = BatchSpec(
            operation="generate",
            prompt=JUDGE,
            output="verdict",
            batch_size=batch_size,
            max_tokens=8,
        )
        out, _ = run_batch(table, spec, judge, ledger)
        verdicts = []
        for text, status in zip(
            out.column("verdict").to_pylist(), out.column("status").to_pylist(), strict=True
        ):
            found = parse_verdict(text or "") if status == "ok" else None
            if found is None:
                self.unreadable += 1
            verdicts.append(found or "tie")
        for first, second in zip(verdicts[:n], verdicts[n:], strict=True):
            v1 = {"x": "a", "y": "b", "tie": "tie"}[first]
            v2 = {"x": "b", "y": "a", "tie": "tie"}[second]
            self.counts[v1 if v1 == v2 else "inconsistent"] += 1

    def summary(self, confidence: float) -> dict[str, Any]:
        from mlstudio.integrations.evaluation.judges import wilson_interval

        decided = self.counts["a"] + self.counts["b"]
        low, high = wilson_interval(self.counts["b"], decided, confidence)
        ahead = None
        if decided and low > 0.5:
            ahead = self.b
        elif decided and high < 0.5:
            ahead = self.a
        return {
            "candidates": [self.a, self.b],
            "wins": {self.a: self.counts["a"], self.b: self.counts["b"]},
            "ties": self.counts["tie"],
            "inconsistent": self.counts["inconsistent"],
            "unreadable_verdicts": self.unreadable,
            "win_rate": {self.b: self.counts["b"] / decided} if decided else None,
            "ci": [low, high] if decided else None,
            "confidence": confidence,
            "method": "both-order LLM judge, Wilson interval of the decided items",
            "ahead": ahead,
        }
