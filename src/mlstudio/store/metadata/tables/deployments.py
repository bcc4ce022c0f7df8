"""Deployments the server runs: the desired state (what ``mlstudio deploy`` asked for) and the
state its supervisor observed (status, url, pid, restarts), one row per deployment."""

from sqlalchemy import Column, Integer, String, Table, Text

from mlstudio.store.metadata.tables._base import Json, UtcDateTime, metadata

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(200), primary_key=True),  # the model's name
    Column("model", String(200), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("also", Json(), nullable=False),  # more aliases (route/shadow flags)
    Column("fallback", Text, nullable=True),
    Column("domain", String(64), nullable=False),
    Column("port", Integer, nullable=True),  # None: the supervisor picks a free one
    Column("desired", String(16), nullable=False),  # running | removed
    Column("revision", Integer, nullable=False),  # counts changes of the desired state
    Column("created_by", String(128), nullable=False),  # the serving process's identity
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # observed by the supervisor
    Column("status", String(16), nullable=False),  # pending running restarting failed
    Column("reason", Text, nullable=True),  # why it is not running
    Column("url", String(300), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("restarts", Integer, nullable=False),
    Column("running_revision", Integer, nullable=True),
    Column("supervisor", String(64), nullable=True),  # which server's supervisor holds it
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Column("status_at", UtcDateTime, nullable=True),
)
