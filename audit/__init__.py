"""Auditing the ledger without trusting its operators (docs/domain.md §6).

* :mod:`audit.chain` — the hash chain every recorder extends as it records events.
* :mod:`audit.signing` — Ed25519 digests of the chain head, made by the platform.
* :mod:`audit.verify` — recompute the chain from the event rows; locate tampering.
* :mod:`audit.replay` — balances as of any position or instant, from the log alone.
* :mod:`audit.export` — JSON Lines export and its offline verification.
* :mod:`audit.service` — the facade the CLI and the API use.
"""
