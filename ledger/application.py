"""The ledger application: the use cases of the registry and of purchases, together.

Each concern is a module of :mod:`ledger.usecases`; :class:`Ledger` is their union, one
``eventsourcing`` application whose commands all run on the kernel's command runner
(:mod:`kernel.commands`): load aggregates, decide, then save every changed aggregate,
the idempotency record and the outbox messages in one atomic write; a version conflict
runs the command again, a bounded number of times. Writers on the same origin code are
serialised by a :class:`~kernel.locks.Locker` first, so conflicts stay rare even on a
hot code.
"""

from __future__ import annotations

from ledger.usecases.acceptance import AcceptanceCases
from ledger.usecases.base import LedgerConfig
from ledger.usecases.notices import NoticeCases
from ledger.usecases.registry import RegistryCases
from ledger.usecases.seller_channels import SellerChannelCases


class Ledger(RegistryCases, SellerChannelCases, AcceptanceCases, NoticeCases):
    """Use cases of the registry and of purchases from authorized mining operators."""

    #: The library names an application's tables and settings after it (``ptmledger_events``,
    #: ``PTMLEDGER_…``); it defaults to the class name, so every subclass restates it.
    name = "PTMLedger"


__all__ = ["Ledger", "LedgerConfig"]
