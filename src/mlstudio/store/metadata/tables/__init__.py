"""SQLAlchemy Core tables, one file per aggregate; ``metadata`` holds them all."""

from mlstudio.store.metadata.tables._base import metadata
from mlstudio.store.metadata.tables.audit import audit_events
from mlstudio.store.metadata.tables.deployments import deployments
from mlstudio.store.metadata.tables.evaluation import evaluations, model_alias_gates
from mlstudio.store.metadata.tables.features import (
    feature_materializations,
    feature_usages,
    feature_views,
)
from mlstudio.store.metadata.tables.flags import feature_flags
from mlstudio.store.metadata.tables.genai import (
    genai_budgets,
    genai_checkpoints,
    genai_items,
    genai_ledger,
    prompt_aliases,
    prompt_versions,
)
from mlstudio.store.metadata.tables.governance import api_tokens, datasets, declassifiers, domains
from mlstudio.store.metadata.tables.identity import role_grants, users
from mlstudio.store.metadata.tables.maintenance import deleted_versions, installation, run_pins
from mlstudio.store.metadata.tables.modules import (
    module_versions,
    modules,
    namespaces,
    tag_events,
    tags,
)
from mlstudio.store.metadata.tables.monitoring import (
    monitor_alerts,
    monitor_feedback,
    monitor_windows,
    monitors,
)
from mlstudio.store.metadata.tables.registry import (
    model_alias_events,
    model_aliases,
    model_approvals,
    model_reads,
    registered_model_versions,
    registered_models,
)
from mlstudio.store.metadata.tables.runs import cache_entries, runs, task_runs
from mlstudio.store.metadata.tables.service import (
    schedule_fires,
    schedules,
    task_queue,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
    workers,
)
from mlstudio.store.metadata.tables.tracking import (
    tracking_artifacts,
    tracking_experiments,
    tracking_latest_metrics,
    tracking_logged_models,
    tracking_metrics,
    tracking_params,
    tracking_runs,
    tracking_tags,
)

__all__ = [
    "monitor_alerts",
    "monitor_feedback",
    "monitor_windows",
    "monitors",
    "model_alias_gates",
    "api_tokens",
    "audit_events",
    "datasets",
    "declassifiers",
    "deleted_versions",
    "installation",
    "domains",
    "evaluations",
    "feature_flags",
    "genai_budgets",
    "genai_checkpoints",
    "genai_items",
    "genai_ledger",
    "prompt_aliases",
    "prompt_versions",
    "deployments",
    "feature_materializations",
    "feature_usages",
    "feature_views",
    "cache_entries",
    "runs",
    "schedule_fires",
    "schedules",
    "task_queue",
    "webhook_attempts",
    "webhook_deliveries",
    "webhooks",
    "workers",
    "task_runs",
    "metadata",
    "model_alias_events",
    "model_aliases",
    "model_approvals",
    "model_reads",
    "registered_model_versions",
    "registered_models",
    "module_versions",
    "modules",
    "namespaces",
    "role_grants",
    "run_pins",
    "tag_events",
    "tags",
    "tracking_artifacts",
    "tracking_experiments",
    "tracking_latest_metrics",
    "tracking_logged_models",
    "tracking_metrics",
    "tracking_params",
    "tracking_runs",
    "tracking_tags",
    "users",
]
