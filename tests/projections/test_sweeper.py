"""The expiry sweep: overdue purchases found in the read model are expired by the domain
and their reservations released; others are left alone."""

from __future__ import annotations

from decimal import Decimal

from ledger.purchase import EXPIRED, PENDING
from ptm.bootstrap import Services
from ptm.sweeper import sweep_once
from tests.conftest import FakeClock
from tests.helpers import make_world


def test_sweep_expires_only_overdue_purchases(services: Services, clock: FakeClock) -> None:
    w = make_world(services.ledger)
    old, _ = w.submitted([w.line(0, "300")])
    clock.advance(hours=23)
    recent, _ = w.submitted([w.line(0, "200")])
    clock.advance(hours=1, seconds=1)
    services.runner.catch_up()
    assert sweep_once(services.ledger, services.engine) == 1
    assert services.ledger.get_purchase(old).status == EXPIRED
    assert services.ledger.get_purchase(recent).status == PENDING
    assert w.available(w.seller) == Decimal("800")
    services.runner.catch_up()
    assert (
        sweep_once(services.ledger, services.engine) == 0
    )  # nothing left to do; the read model caught up
