"""Persistence adapters: the eventsourcing recorders of PTM Ledger for in-memory, SQLite
and PostgreSQL. Each writes the outbox rows and the audit-chain links in the same
transaction as the events, and implements :class:`adapters.storage.recorder.PtmRecorder`;
SQLite adds a polling subscription, PostgreSQL cross-process advisory locks."""
