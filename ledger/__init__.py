"""PTM Ledger domain: registry, origin codes, purchases, and the ledger application.

Imports only the standard library and ``eventsourcing``; no HTTP, SQL or SMTP.
"""
