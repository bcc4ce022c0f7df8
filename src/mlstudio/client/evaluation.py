"""The evaluation area over HTTP: each method sends its ``/api/v1/evaluations`` request."""

from __future__ import annotations

from typing import Any

from mlstudio.client.areas import RemoteArea, seg
from mlstudio.client.http import LONG


class RemoteEvaluation(RemoteArea):
    def compare(
        self,
        candidates: list[str],
        *,
        on: str,
        label: str | None = None,
        metrics: list[str] | None = None,
        slices: list[str] | None = None,
        cluster: str | None = None,
        margin: float = 0.0,
        domain: str = "experimentation",
        save: str | None = None,
        resamples: int = 2000,
        seed: int = 0,
        confidence: float = 0.95,
        correction: str = "holm",
    ) -> dict[str, Any]:
        body = {
            "candidates": list(candidates),
            "on": on,
            "label": label,
            "metrics": list(metrics or []),
            "slices": list(slices or []),
            "cluster": cluster,
            "margin": margin,
            "domain": domain,
            "save": save,
            "resamples": resamples,
            "seed": seed,
            "confidence": confidence,
            "correction": correction,
        }
        return self.http.json("POST", "/evaluations", json=body, timeout=LONG)

    def lift(
        self,
        experiment: str,
        *,
        metric: str,
        variant_column: str,
        unit_column: str,
        pre_period_column: str | None = None,
        denominator_column: str | None = None,
        control: str | None = None,
        treatment: str | None = None,
        domain: str = "experimentation",
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        body = {
            "experiment": experiment,
            "metric": metric,
            "variant_column": variant_column,
            "unit_column": unit_column,
            "pre_period_column": pre_period_column,
            "denominator_column": denominator_column,
            "control": control,
            "treatment": treatment,
            "domain": domain,
            "confidence": confidence,
        }
        return self.http.json("POST", "/evaluations/lift", json=body, timeout=LONG)

    def judge(
        self,
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
        body = {
            "a": a,
            "b": b,
            "on": on,
            "judge": judge,
            "label": label,
            "human": human,
            "id_column": id_column,
            "human_column": human_column,
            "domain": domain,
            "tie_delta": tie_delta,
            "question": question,
            "judge_model": judge_model,
            "judge_key_env": judge_key_env,
            "save": save,
        }
        return self.http.json("POST", "/evaluations/judge", json=body, timeout=LONG)

    def rank(
        self,
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
        body = {
            "on": on,
            "first": first,
            "second": second,
            "winner": winner,
            "domain": domain,
            "resamples": resamples,
            "seed": seed,
            "confidence": confidence,
        }
        return self.http.json("POST", "/evaluations/rank", json=body, timeout=LONG)

    def show(self, ref: str) -> dict[str, Any]:
        return self.http.json("GET", f"/evaluations/{seg(ref)}")

    def list(
        self, dataset: str | None = None, *, limit: int | None = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        return self.http.list("/evaluations", {"dataset": dataset}, limit, offset)
