"""Tables of experiment tracking: experiments, tracked runs, their params, tags, metric series,
artifacts, and MLflow 3 logged models. One store for native task runs and MLflow clients."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

tracking_experiments = Table(
    "tracking_experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("tags", Json(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per tracked run: a task run of a workflow run (source "task") or a run an MLflow
# client created (source "mlflow"). Times are epoch milliseconds, as MLflow has them.
tracking_runs = Table(
    "tracking_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(256), nullable=False),
    Column("user", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # RUNNING FINISHED FAILED KILLED SCHEDULED
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("source", String(16), nullable=False),  # task | mlflow
    Column("workflow_run_id", String(40), nullable=True),
    Column("node_id", Text, nullable=True),
    Column("task_run_id", Integer, nullable=True),
    Column("domain", String(64), nullable=True),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("cache_key", String(64), nullable=True),
    Column("produced_by", String(40), nullable=True),  # a cache hit: the run that computed it
    Column("duration_s", Float, nullable=True),
    Index("ix_tracking_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_tracking_runs_workflow_run", "workflow_run_id"),
    Index("ix_tracking_runs_cache_key", "cache_key"),
)

tracking_params = Table(
    "tracking_params",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tracking_params_key_value", "key", "run_id"),
)

tracking_tags = Table(
    "tracking_tags",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every logged point. ``value`` is NULL for NaN (SQLite cannot hold NaN), with ``is_nan`` set;
# infinities are stored as they are.
tracking_metrics = Table(
    "tracking_metrics",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("run_id", String(40), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False, default=0),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_tracking_metrics_run_key_step", "run_id", "key", "step"),
)

# The latest point per (run, key): what search filters and orders on, what compare shows.
tracking_latest_metrics = Table(
    "tracking_latest_metrics",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False, default=0),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_tracking_latest_metrics_key_value", "key", "value"),
)

# Files logged by a run (owner: a run id) or a logged model (owner: its m-... id), by digest.
tracking_artifacts = Table(
    "tracking_artifacts",
    metadata,
    Column("owner", String(40), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# MLflow 3 LoggedModel: a model entity apart from its run (``models:/m-...``).
tracking_logged_models = Table(
    "tracking_logged_models",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(256), nullable=False),
    Column("source_run_id", String(40), nullable=True),
    Column("status", String(32), nullable=False),  # LOGGED_MODEL_PENDING | _READY | _UPLOAD_FAILED
    Column("model_type", String(128), nullable=True),
    Column("params", Json(), nullable=False),
    Column("tags", Json(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Index("ix_tracking_logged_models_run", "source_run_id"),
    Index("ix_tracking_logged_models_experiment", "experiment_id"),
)
