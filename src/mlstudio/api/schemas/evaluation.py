"""Request bodies of the evaluation routes (responses are the evaluation reports)."""

from __future__ import annotations

from pydantic import Field

from mlstudio.api.schemas.common import In


class CompareIn(In):
    candidates: list[str] = Field(
        description="models:/NAME@ALIAS, models:/NAME/V or column:NAME; the first is the baseline"
    )
    on: str = Field(description="Evaluation set NS/NAME[@V]")
    label: str | None = Field(None, description="Column of true outcomes (default: the model's)")
    metrics: list[str] = Field(default_factory=list, description="Metrics (default per task)")
    slices: list[str] = Field(default_factory=list, description="Columns to slice by")
    cluster: str | None = Field(None, description="Column of item groups (clustered errors)")
    margin: float = Field(0.0, ge=0, description="Non-inferiority margin")
    domain: str = Field("experimentation", description="Domain whose policy the reads pass")
    save: str | None = Field(None, description="Item-level scores dataset NS/NAME")
    resamples: int = Field(2000, ge=100, le=100_000, description="Bootstrap resamples")
    seed: int = Field(0, ge=0, description="Random seed (reproducible intervals)")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Interval confidence")
    correction: str = Field("holm", description="holm or bh, across slices and metrics")


class LiftIn(In):
    experiment: str = Field(description="Dataset of logged outcomes NS/NAME[@V]")
    metric: str = Field(description="Outcome column (e.g. revenue)")
    variant_column: str = Field(description="Column naming each row's variant")
    unit_column: str = Field(description="Randomisation unit (e.g. account_id)")
    pre_period_column: str | None = Field(None, description="Pre-period covariate (CUPED)")
    denominator_column: str | None = Field(None, description="Denominator of a ratio metric")
    control: str | None = Field(None, description="Control variant (default: 'control')")
    treatment: str | None = Field(None, description="Only this treatment")
    domain: str = Field("experimentation", description="Domain whose policy the read passes")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Interval confidence")
