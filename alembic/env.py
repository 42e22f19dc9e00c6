"""Alembic environment: migrations of the read-model tables only (the event store's
tables belong to the eventsourcing recorders). The connection comes from
``adapters.db.upgrade`` (``config.attributes["connection"]``) or from the settings.

This folder has no ``__init__.py`` (``import alembic`` must find the library); the wheel
installs it as the package ``ptm_migrations``, which ``adapters.db.migrations_dir`` finds."""

from __future__ import annotations

from sqlalchemy import Connection

from alembic import context
from projections.tables import metadata

config = context.config
target_metadata = metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from adapters.db import make_engine
    from ptm.settings import Settings

    engine = make_engine(Settings().database_url)
    with engine.connect() as conn:
        run(conn)
        conn.commit()
