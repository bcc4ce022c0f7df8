"""``/api/v1/flags``: feature flags (one call into the flags area per route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlstudio.api.deps import StudioDep
from mlstudio.api.schemas.flags import EvaluateIn, FlagIn

router = APIRouter(prefix="/flags", tags=["flags"])


@router.get("")
def list_flags(studio: StudioDep, prefix: str | None = None) -> dict[str, Any]:
    """Every flag (``prefix``: only keys starting with it)."""
    return {"items": studio.flags.list(prefix)}


@router.get("/{key}")
def show_flag(key: str, studio: StudioDep) -> dict[str, Any]:
    return studio.flags.show(key)


@router.put("/{key}")
def set_flag(key: str, body: FlagIn, studio: StudioDep) -> dict[str, Any]:
    """Create or change a flag; only the fields given change (audited)."""
    return studio.flags.set(
        key,
        value=body.value,
        variants=body.variants,
        default_variant=body.default_variant,
        split=body.split,
        clear_split=body.clear_split,
        rules=body.rules,
        enabled=body.enabled,
        namespace=body.namespace,
        description=body.description,
    )


@router.delete("/{key}")
def remove_flag(key: str, studio: StudioDep) -> dict[str, Any]:
    return studio.flags.remove(key)


@router.post("/{key}/evaluate")
def evaluate_flag(key: str, body: EvaluateIn, studio: StudioDep) -> dict[str, Any]:
    """The flag's value for a subject, with the OpenFeature reason (never an error for a
    missing, disabled or mistyped flag: the caller's default with a reason)."""
    return studio.flags.evaluate(key, body.default, subject=body.subject, context=body.context)
