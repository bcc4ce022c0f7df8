from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

# API tokens: only the sha256 of the secret is stored; the secret is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_name", String(128), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
)

# Execution domains and their policy (governance.policy.DomainPolicy as JSON).
domains = Table(
    "domains",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("policy", Json(), nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Named, versioned datasets. `columns` holds, per column in order: name, type,
# classification (governance.classification.Classification.to_dict) and provenance.
datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(64), nullable=False, index=True),
    Column("full_name", String(129), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("domain", String(64), nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("columns", Json(), nullable=False),
    Column(
        "source", Json(), nullable=False
    ),  # {"kind": "import", "file": …} or {"kind": "run", "run_id", "node"}
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("full_name", "version"),
)

# Declassifiers: the only way a tag goes down; bound to one task's code digest.
declassifiers = Table(
    "declassifiers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("module", String(129), nullable=False),
    Column("task", String(128), nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("columns", Json(), nullable=False),  # output columns it applies to
    Column("lower_to", String(16), nullable=True),  # new level, or None to keep the level
    Column("remove_labels", Json(), nullable=False),
    Column("justification", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | approved | revoked
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("approved_by", String(128), nullable=True),
    Column("approved_at", UtcDateTime, nullable=True),
    Index("ix_declassifiers_module_task", "module", "task"),
)
