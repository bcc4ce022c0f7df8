"""Tables of the GenAI workloads: the prompts modules define, the item results of batch
inference (its checkpoint and cache at once), and namespace money budgets with their ledger."""

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

# One row per prompt per module version (a prompt is versioned with the module that defines
# it; ``digest`` names its content, so two module versions with the same prompt share it).
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("module", String(129), nullable=False),  # NS/MODULE
    Column("module_version", Integer, nullable=False),
    Column("name", String(128), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("spec", Json, nullable=False),  # template, system, variables, description, file
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("module", "module_version", "name"),
)

# A named pointer to one prompt of one module version (e.g. ``challenger``: the winner of a
# prompt search), with the report that chose it. Each move is audited (``prompt.alias``). A
# prompt generated in the search (a variant, not one the module defines) is kept in ``spec``.
prompt_aliases = Table(
    "prompt_aliases",
    metadata,
    Column("module", String(129), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("module_version", Integer, nullable=False),
    Column("report", Json, nullable=True),
    Column("spec", Json, nullable=True),  # a generated prompt's definition (else: the module's)
    Column("set_by", String(128), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

# One row per computed item of batch inference, keyed by what determines its answer (the
# model, the operation and its options, the prompt's digest, the item's values): a resumed or
# re-run batch takes these instead of calling (and paying for) the model again. A row is also
# what was paid for it: a namespace's spend is the sum of its rows' costs in the period.
genai_items = Table(
    "genai_items",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("output", Json, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_s", Float, nullable=False),
    Column("namespace", String(64), nullable=True),
    Column("run_id", String(64), nullable=True),
    Column("node_id", String(256), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_genai_items_namespace", "namespace", "created_at"),
    Index("ix_genai_items_run_id", "run_id"),
)

# A namespace's money budget per period (rolling: the last ``period_s`` seconds).
genai_budgets = Table(
    "genai_budgets",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("usd", Float, nullable=False),
    Column("period_s", Integer, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Reservations against a budget (``kind`` reserved: deleted when their batch settles) and
# each batch task's progress (``kind`` progress: one row per task, its items still to compute).
genai_ledger = Table(
    "genai_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # reserved | progress
    Column("usd", Float, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("node_id", String(256), nullable=True),
    Column("item_count", Integer, nullable=False, default=0),  # items it reserves for
    Column("remaining", Integer, nullable=True),  # progress: items of its task still to compute
    Column("note", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_genai_ledger_namespace", "namespace", "created_at"),
    Index("ix_genai_ledger_run_id", "run_id"),
)

# The newest checkpoint of a fine-tuning, keyed by what determines the training (the base
# model, the items and labels, the hyperparameters); the state itself is a blob in the
# content store.
genai_checkpoints = Table(
    "genai_checkpoints",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("step", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
