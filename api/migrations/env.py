"""Alembic environment: run on the connection `api.store.database.run_migrations` hands over."""

from __future__ import annotations

from alembic import context

from api.store.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "calmdesk migrations run through api.store.run_migrations (or `calmdesk serve`), "
        "which passes a database connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
