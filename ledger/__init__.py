"""PTM Ledger domain: registry, origin codes, purchases, and the ledger application.

Imports only the standard library, ``eventsourcing`` and the shared kernel; no HTTP, SQL,
SMTP or settings. The use cases are in :mod:`ledger.usecases`.
"""
