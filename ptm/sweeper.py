"""Expiring purchases whose reservation TTL passed, so the reserved mineral returns to
the seller on time (a later submission or validation would expire them too, but nobody
may come back to them). Finds candidates in the purchases read model and lets the
domain decide: a purchase that is not overdue any more is left alone."""

from __future__ import annotations

import logging
import threading
from uuid import UUID

from sqlalchemy import Engine

from kernel.errors import LedgerError
from ledger.application import Ledger
from projections.queries import overdue_purchases

log = logging.getLogger(__name__)

BATCH = 100


def sweep_once(ledger: Ledger, engine: Engine) -> int:
    """Expire the overdue purchases found now in the read models of ``engine``; returns
    how many it expired."""
    expired = 0
    for pid in overdue_purchases(engine, ledger.clock(), limit=BATCH):
        try:
            if ledger.expire_purchase(purchase_id=UUID(pid), actor="sweeper"):
                expired += 1
        except LedgerError:
            log.warning("purchase %s could not be expired now; next sweep retries", pid)
    return expired


def run_forever(
    ledger: Ledger, engine: Engine, stop: threading.Event, every_s: float = 30.0
) -> None:
    """Sweep every ``every_s`` seconds until ``stop`` is set."""
    while not stop.wait(every_s):
        try:
            n = sweep_once(ledger, engine)
            if n:
                log.info("expired %d overdue purchase(s)", n)
        except Exception:  # the database may be down; the next sweep tries again
            log.exception("expiry sweep failed")
