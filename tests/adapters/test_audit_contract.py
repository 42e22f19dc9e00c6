"""The audit chain store contract (tests/adapters/contract.py) on memory, SQLite and
PostgreSQL; the databases also keep the chain for the next recorder."""

from __future__ import annotations

from tests.adapters.contract import (
    AuditStoreContract,
    DurableAuditStoreContract,
    MemoryBackend,
    PostgresBackend,
    SQLiteBackend,
)


class TestMemoryAudit(MemoryBackend, AuditStoreContract):
    pass


class TestSQLiteAudit(SQLiteBackend, DurableAuditStoreContract):
    pass


class TestPostgresAudit(PostgresBackend, DurableAuditStoreContract):
    pass
