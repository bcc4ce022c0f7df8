"""Alembic environment: runs on the connection handed over by ``mlstudio.store.metadata.schema``."""

from alembic import context

from mlstudio.store.metadata.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs `alembic` by hand
    raise RuntimeError("run migrations through mlstudio (mlstudio init), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
