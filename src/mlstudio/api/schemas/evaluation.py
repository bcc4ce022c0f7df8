"""Request bodies of the evaluation routes (responses are the evaluation reports)."""

from __future__ import annotations

from pydantic import Field

from mlstudio.api.schemas.common import In


class CompareIn(In):
    candidates: list[str] = Field(
        description="models:/NAME@ALIAS, models:/NAME/V, column:NAME or run:RUN[/TASK][#COL]; "
        "the first is the baseline"
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


class JudgeIn(In):
    a: str = Field(description="Column of answer A (column:NAME or NAME)")
    b: str = Field(description="Column of answer B")
    on: str = Field(description="Evaluation set NS/NAME[@V]")
    judge: str = Field(
        description="metric:NAME (a rule), human:NS/NAME[@V] (human labels) or llm:SPEC"
    )
    label: str | None = Field(None, description="Reference column (metric judges)")
    human: str | None = Field(None, description="Human labels NS/NAME[@V] for agreement")
    id_column: str = Field("id", description="Item id column joining human labels")
    human_column: str = Field("preference", description="Human labels' a/b/tie column")
    domain: str = Field("experimentation", description="Domain whose policy the reads pass")
    tie_delta: float = Field(0.0, ge=0, description="Score difference counted as a tie")
    question: str | None = Field(None, description="Question column shown to an llm: judge")
    judge_model: str | None = Field(None, description="Model an llm: judge asks for")
    judge_key_env: str | None = Field(
        None, description="Server environment variable holding the llm: judge's API key"
    )
    save: str | None = Field(None, description="Verdicts dataset NS/NAME (default NAME-judge)")


class RankIn(In):
    on: str = Field(description="Preferences dataset NS/NAME[@V], one comparison per row")
    first: str = Field("a", description="Column naming the first candidate")
    second: str = Field("b", description="Column naming the second candidate")
    winner: str = Field("winner", description="Column: a, b, tie or the winner's name")
    domain: str = Field("experimentation", description="Domain whose policy the read passes")
    resamples: int = Field(200, ge=10, le=2000, description="Bootstrap refits")
    seed: int = Field(0, ge=0, description="Random seed")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Interval confidence")
