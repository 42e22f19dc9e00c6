"""The credential store in the read-model database (table ``identity_credentials``,
created by the alembic migration ``0002``): one row per user, overwritten on a password
or authenticator change and emptied on erasure. Same engine as the read models, so the
memory backend (a private SQLite file), SQLite and PostgreSQL all use it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.usecases.identity import StoredCredentials

_metadata = MetaData()
credentials_table = Table(
    "identity_credentials",
    _metadata,
    Column("user_id", String(36), primary_key=True),
    Column("password_hash", Text, nullable=True),
    Column("totp_sealed", Text, nullable=True),
    Column("totp_pending", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class SqlCredentialStore:
    """A :class:`ledger.usecases.identity.CredentialStore` on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # on PostgreSQL its search_path names the schema
        self.table = credentials_table

    def get(self, user_id: UUID) -> StoredCredentials | None:
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.password_hash, t.c.totp_sealed, t.c.totp_pending).where(
                    t.c.user_id == str(user_id)
                )
            ).first()
        if row is None:
            return None
        return StoredCredentials(
            password_hash=row.password_hash,
            totp_sealed=row.totp_sealed,
            totp_pending=row.totp_pending,
        )

    def put(self, user_id: UUID, credentials: StoredCredentials, now: datetime) -> None:
        values = {
            "user_id": str(user_id),
            "password_hash": credentials.password_hash,
            "totp_sealed": credentials.totp_sealed,
            "totp_pending": credentials.totp_pending,
            "updated_at": now,
        }
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(self.table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={k: stmt.excluded[k] for k in values if k != "user_id"},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def erase(self, user_id: UUID, now: datetime) -> None:
        self.put(user_id, StoredCredentials(), now)
