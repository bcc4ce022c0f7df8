"""Request bodies of the monitoring routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In


class RetrainIn(In):
    workflow: str = Field(..., description="NS/MODULE/WORKFLOW[:TAG|@N] to run")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters")
    cooldown: str = Field("6h", description="No new run until this long after the last one")
    max_per: str = Field("3/7d", description="N/DURATION: at most N runs in any such period")


class GroundTruthIn(In):
    labels: str = Field(..., description="Dataset NS/NAME[@V] with the key and the label")
    metric: str = Field("accuracy", description="Evaluation metric (accuracy, auc, mae, …)")
    baseline: str | float | None = Field(None, description="A value, or tracking:RUN[:KEY]")
    tolerance: float = Field(0.02, description="Alert when worse than the baseline by more")
    min_labels: int = Field(100, description="Labelled rows a window needs for a verdict")
    label_column: str = Field("label", description="The labels' column")
    prediction_column: str = Field("prediction", description="The source's prediction column")
    key: str = Field("request_id", description="Join key on both sides")


class MonitorIn(In):
    name: str = Field(..., description="NS/NAME of the monitor")
    source: str = Field(
        ..., description='Dataset NS/NAME[@V] it reads, or sql:QUERY over "NS/NAME" tables'
    )
    time_column: str = Field(..., description="Column holding each row's time")
    period: str = Field("day", description="Window size: hour, day or week")
    domain: str = Field("production", description="Domain the source is read as")
    dimensions: list[str] = Field(default_factory=list, description="Columns to slice by")
    features: list[str] = Field(default_factory=list, description="Columns checked for drift")
    reference: str | None = Field(
        None,
        description="Drift reference: a dataset NS/NAME[@V], or window:FROM..TO (TO excluded) "
        "of the source's own rows",
    )
    metrics: list[str] = Field(default_factory=list, description="NAME=AGG:COLUMN or NAME=count")
    alpha: float = Field(0.05, description="Significance level (BH per window)")
    persistence: str = Field("1/1", description="K/M: drift alerts when K of the last M fire")
    max_slices: int = Field(50, description="Slice values kept per dimension (the rest capped)")
    freshness: int = Field(2, description="Periods without data before a data alert")
    schedule: str | None = Field(None, description="Cron expression (stored)")
    flag: str | None = Field(None, description="KEY=VALUE: set that serving flag when a model "
                             "alert opens (e.g. a kill switch to the fallback)")  # fmt: skip
    retrain: RetrainIn | None = Field(None, description="Start this workflow run (as the "
                                      "monitor's creator) when a model alert opens")  # fmt: skip
    ground_truth: GroundTruthIn | None = Field(None, description="Score predictions against "
                                               "labels joined by request id")  # fmt: skip
    after: list[str] = Field(default_factory=list, max_length=20, description="Upstream "
                             "monitors whose data must be ok first")  # fmt: skip


class RunIn(In):
    now: str | None = Field(None, description="Evaluate as of this ISO time (default: now)")


class TuneIn(In):
    threshold: float | None = Field(None, description="Threshold to evaluate (and apply)")
    apply: bool = Field(False, description="Set it for future windows (needs threshold)")


class FeedbackIn(In):
    target: str = Field(..., description="An alert id, or a monitor NS/NAME with start/end")
    kind: str = Field(..., description="confirmed, expected, false_alarm, missed, new_trend, "
                      "event or comment")  # fmt: skip
    start: str | None = Field(None, description="First window (ISO date) of the range")
    end: str | None = Field(None, description="Last window (ISO date) of the range")
    metric: str | None = Field(None, description="Metric the feedback is about")
    dims: dict[str, str] | None = Field(None, description="Dimension filter (series it covers)")
    comment: str = ""
