"""Evaluations (one comparison of candidates on one dataset version, with its full report) and
the evaluation gates that guard a model's protected alias."""

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset", String(129), nullable=False),  # NS/NAME of the evaluation set
    Column("dataset_version", Integer, nullable=False),
    Column("domain", String(64), nullable=False),
    Column("label", String(256), nullable=False),
    # [{"ref", "kind": "model"|"column", "model", "version", "digest"}]; the first is the baseline
    Column("candidates", Json(), nullable=False),
    Column("metrics", Json(), nullable=False),
    Column("margin", Float, nullable=False),
    Column("report", Json(), nullable=False),
    Column("scores", String(160), nullable=True),  # the item-level scores dataset NS/NAME@V
    Column("tracking_run", String(32), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_evaluations_dataset", "dataset", "created_at"),
)

# "moving ALIAS of MODEL needs an evaluation on ON showing non-inferiority on METRIC within MARGIN"
model_alias_gates = Table(
    "model_alias_gates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("spec", Json(), nullable=False),  # {"on", "metric", "margin", "slices"}
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("model_id", "alias"),
)
