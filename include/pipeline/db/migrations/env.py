"""Alembic environment for the project's schema; the version table lives in that schema too."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from pipeline.db.schema import SCHEMA, metadata

url = context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("set sqlalchemy.url (pipeline.db.migrate.upgrade does)")
engine = create_engine(url, poolclass=pool.NullPool)

with engine.connect() as connection:
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    connection.commit()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
