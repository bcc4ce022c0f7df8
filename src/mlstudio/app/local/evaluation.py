"""The evaluation area: compare candidates on a governed evaluation set; stored reports."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mlstudio.app.local.base import Area, check_page


class LocalEvaluation(Area):
    @cached_property
    def service(self) -> Any:
        from mlstudio.integrations.evaluation.service import EvaluationService
        from mlstudio.integrations.tracking.service import TrackingService

        p = self.platform
        return EvaluationService(
            p.store, p.cas, p.registry, TrackingService(p.store, p.cas), runs=p.runs
        )

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
        return self.service.compare(
            self.actor,
            list(candidates),
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
            confidence=confidence,
            correction=correction,
        )

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
        return self.service.lift(
            self.actor,
            experiment,
            metric=metric,
            variant_column=variant_column,
            unit_column=unit_column,
            pre_period_column=pre_period_column,
            denominator_column=denominator_column,
            control=control,
            treatment=treatment,
            domain=domain,
            confidence=confidence,
        )

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
        return self.service.judge(
            self.actor,
            a,
            b,
            on=on,
            judge=judge,
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
        return self.service.rank(
            self.actor,
            on=on,
            first=first,
            second=second,
            winner=winner,
            domain=domain,
            resamples=resamples,
            seed=seed,
            confidence=confidence,
        )

    def show(self, ref: str) -> dict[str, Any]:
        return self.service.show(self.actor, ref)

    def list(
        self, dataset: str | None = None, *, limit: int | None = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        check_page(limit, offset)
        return self.service.list(
            self.actor, dataset=dataset, limit=limit or 2**31 - 1, offset=offset
        )
