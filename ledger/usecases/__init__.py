"""The ledger's use cases, one module per concern, all on the kernel's command runner.

* :mod:`~ledger.usecases.base` — the application, its unit and runner, the config.
* :mod:`~ledger.usecases.registry` — organisations, contacts, production.
* :mod:`~ledger.usecases.queries` — reading aggregates, balances, the TXT statement.
* :mod:`~ledger.usecases.drafts` — open, complete, load and save a purchase.
* :mod:`~ledger.usecases.seller_channels` — the one-time URL and the web service.
* :mod:`~ledger.usecases.acceptance` — submit, acceptance code, validate, cancel, expire.
* :mod:`~ledger.usecases.notices` — message parameters and which carry a statement.
* :mod:`~ledger.usecases.identity` — users, login with a second factor, sessions.
"""
