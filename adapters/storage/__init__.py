"""Persistence adapters: the eventsourcing recorders of PTM Ledger for in-memory,
SQLite and PostgreSQL, each extended with a transactional outbox written in the same
transaction as the events, and (SQLite) a polling subscription."""
