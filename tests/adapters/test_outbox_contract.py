"""The outbox contract (tests/adapters/contract.py) on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from tests.adapters.contract import (
    MemoryBackend,
    OutboxStoreContract,
    PostgresBackend,
    SQLiteBackend,
)


class TestMemoryOutbox(MemoryBackend, OutboxStoreContract):
    pass


class TestSQLiteOutbox(SQLiteBackend, OutboxStoreContract):
    pass


class TestPostgresOutbox(PostgresBackend, OutboxStoreContract):
    pass
