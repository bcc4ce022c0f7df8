"""``/api/v1/genai``: namespace money budgets and the prompts modules define."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mlstudio.api.deps import StudioDep

router = APIRouter(prefix="/genai", tags=["genai"])


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usd: float | None = Field(description="USD per period; null removes the budget")
    period: str = Field("30d", description="a rolling period: hours, days or weeks, e.g. 30d")


@router.get("/budgets/{namespace}")
def show_budget(namespace: str, studio: StudioDep) -> dict[str, Any]:
    """A namespace's budget, what it spent in the period and what is reserved now."""
    return studio.genai.budget(namespace)


@router.put("/budgets/{namespace}")
def set_budget(namespace: str, body: BudgetIn, studio: StudioDep) -> dict[str, Any]:
    """Set or remove (usd null) a namespace's budget (admins; audited)."""
    return studio.genai.set_budget(namespace, body.usd, body.period)


@router.get("/prompts")
def list_prompts(studio: StudioDep, module: str | None = None) -> dict[str, Any]:
    """The newest version of every prompt (of ``module`` NS/MODULE)."""
    return {"items": studio.genai.prompts(module)}


@router.get("/prompt")
def show_prompt(ref: str, studio: StudioDep) -> dict[str, Any]:
    """The prompt ``ref`` (NS/MODULE/NAME[:TAG|@V]) with the module versions it changed in."""
    return studio.genai.prompt(ref)
