"""Request bodies of the model registry routes (responses are the registry's views)."""

from __future__ import annotations

from pydantic import Field

from mlstudio.api.schemas.common import MAX_INT, In


class ModelCreateIn(In):
    name: str = Field(description="Model name, e.g. churn-model")
    namespace: str | None = Field(None, description="Namespace whose maintainers manage it")
    description: str = ""


class RegisterIn(In):
    run_id: str = Field(description="Run whose task returned the Model")
    task: str | None = Field(None, description="Task (or node) that returned it")
    namespace: str | None = Field(None, description="Namespace of a model created by this")
    description: str = ""


class AliasIn(In):
    version: int = Field(ge=1, le=MAX_INT, description="Version to point the alias at")
    override_reason: str | None = Field(
        None, description="Move a gated alias without a passing evaluation (approvers; audited)"
    )


class GateIn(In):
    on: str | None = Field(None, description="Evaluation set NS/NAME (its latest version)")
    metric: str | None = Field(None, description="Metric the new version must not be worse on")
    margin: float = Field(0.0, ge=0, description="Non-inferiority margin")
    slices: list[str] = Field(default_factory=list, description="Slice columns that count")


class DecisionIn(In):
    reason: str = Field(description="Why (recorded with the decision)")


class ProtectIn(In):
    protected: bool = Field(True, description="False unprotects the alias")


class PredictIn(In):
    model: str = Field(description="NAME@ALIAS or NAME/VERSION")
    input: str = Field(description="Dataset to score, NS/NAME[@V]")
    output: str = Field(description="Dataset to write the predictions to, NS/NAME")
    domain: str = Field("production", description="Domain the data and model are read under")
