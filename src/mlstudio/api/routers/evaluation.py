"""``/api/v1/evaluations``: A-vs-B comparisons and their stored reports (one call per route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.evaluation import CompareIn, JudgeIn, LiftIn, RankIn

router = APIRouter(prefix="/evaluations", tags=["evaluation"])


@router.post("")
def compare(body: CompareIn, studio: StudioDep) -> dict[str, Any]:
    """Score the candidates on the evaluation set and compare each with the first."""
    return studio.evaluation.compare(
        body.candidates,
        on=body.on,
        label=body.label,
        metrics=body.metrics or None,
        slices=body.slices,
        cluster=body.cluster,
        margin=body.margin,
        domain=body.domain,
        save=body.save,
        resamples=body.resamples,
        seed=body.seed,
        confidence=body.confidence,
        correction=body.correction,
    )


@router.post("/lift")
def lift(body: LiftIn, studio: StudioDep) -> dict[str, Any]:
    """Business lift of an online experiment's logged outcomes."""
    return studio.evaluation.lift(
        body.experiment,
        metric=body.metric,
        variant_column=body.variant_column,
        unit_column=body.unit_column,
        pre_period_column=body.pre_period_column,
        denominator_column=body.denominator_column,
        control=body.control,
        treatment=body.treatment,
        domain=body.domain,
        confidence=body.confidence,
    )


@router.post("/judge")
def judge(body: JudgeIn, studio: StudioDep) -> dict[str, Any]:
    """Judge two answer columns in both orders; agreement with human labels when given."""
    return studio.evaluation.judge(
        body.a,
        body.b,
        on=body.on,
        judge=body.judge,
        label=body.label,
        human=body.human,
        id_column=body.id_column,
        human_column=body.human_column,
        domain=body.domain,
        tie_delta=body.tie_delta,
        question=body.question,
        judge_model=body.judge_model,
        judge_key_env=body.judge_key_env,
        save=body.save,
    )


@router.post("/rank")
def rank(body: RankIn, studio: StudioDep) -> dict[str, Any]:
    """Bradley-Terry ranking from a dataset of pairwise preferences."""
    return studio.evaluation.rank(
        on=body.on,
        first=body.first,
        second=body.second,
        winner=body.winner,
        domain=body.domain,
        resamples=body.resamples,
        seed=body.seed,
        confidence=body.confidence,
    )


@router.get("")
def list_evaluations(studio: StudioDep, page: Paging, dataset: str | None = None) -> dict[str, Any]:
    """Stored evaluations, newest first (``dataset``: only those on NS/NAME)."""
    return page.page(studio.evaluation.list(dataset, limit=page.limit, offset=page.offset))


@router.get("/{ref}")
def show_evaluation(ref: str, studio: StudioDep) -> dict[str, Any]:
    """A stored evaluation's full report (needs a role on its domain)."""
    return studio.evaluation.show(ref)
