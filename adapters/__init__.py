"""Adapters: the concrete technology behind the interfaces the inner packages declare.

* :mod:`adapters.storage` — the event-store recorders (memory, SQLite, PostgreSQL), each
  with the outbox and audit chain written in the same transaction as the events.
* :mod:`adapters.crypto` — sealing secrets at rest.
* :mod:`adapters.db` — the read-model database engine and its migrations.

Only the composition root (:mod:`ptm.bootstrap`, :mod:`ptm.settings`) names them.
"""
