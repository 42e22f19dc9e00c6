"""The shared kernel: what every bounded context of PTM Ledger builds on.

* :mod:`kernel.errors` — the one error tree (machine-readable ``code``, ``field``, Spanish
  ``detail``) that the API maps to RFC 9457 problems.
* :mod:`kernel.idempotency` — a client key remembered with the outcome of its command.
* :mod:`kernel.locks` — serialising writers of the same keys (in process, across processes).
* :mod:`kernel.commands` — the one command runner: unit of work, idempotent replay and
  bounded retry on a version conflict.

The kernel imports nothing of this project; everything else may import it.
"""
