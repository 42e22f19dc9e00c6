"""Concurrent buyers on PostgreSQL: 8 writers, each with its own application instance
(own cache, own in-process locks — as separate processes would have), buying from the
same 2 origin codes until they are exhausted. No oversell, conservation holds, and
every purchase ends confirmed or cleanly refused with its error code."""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest

from kernel.errors import InsufficientBalanceError, LedgerError
from ledger.application import Ledger
from ledger.purchase import CONFIRMED, DRAFT
from ptm.bootstrap import build_ledger
from ptm.settings import Settings
from tests.helpers import last_code, make_world

WRITERS = 8


def _settings(url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        var_dir=tmp_path,
        code_hmac_key="k" * 32,  # type: ignore[arg-type]
        postgres_pool_size=4,
        # Hundreds of submits to one seller within the hour: a raised cap, not none.
        guard_seller_messages=100_000,
    )


@pytest.mark.postgres
def test_eight_writers_exhaust_two_origin_codes(
    pg_url: str, pg_schema: str, tmp_path: Path
) -> None:
    url = f"{pg_url}?schema={pg_schema}"
    setup = build_ledger(_settings(url, tmp_path))
    world = make_world(setup, quantities=("400", "300"))
    apps: list[Ledger] = [build_ledger(_settings(url, tmp_path)) for _ in range(WRITERS)]
    outcomes: Counter[str] = Counter()
    confirmed: dict[UUID, tuple[str, Decimal]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        app, rnd = apps[n], random.Random(n)
        misses = 0
        try:
            while misses < 6:
                i = rnd.randrange(2)
                qty = Decimal(rnd.randint(1, 9))
                line = {
                    "origin_code": world.codes[i],
                    "mineral": "ORO",
                    "quantity": str(qty),
                    "unit_price": "1000",
                }
                pid = app.create_purchase(
                    buyer_id=world.buyer,
                    seller=world.seller_ref(),
                    transaction=world.transaction(),
                    actor=f"w{n}",
                )
                try:
                    app.load_seller_data(
                        purchase_id=pid,
                        party_id=world.buyer,
                        channel="txt",
                        lines=[line],
                        actor=f"w{n}",
                    )
                    app.submit_purchase(purchase_id=pid, buyer_id=world.buyer, actor=f"w{n}")
                except InsufficientBalanceError as e:
                    assert e.code == "insufficient_balance"
                    assert app.get_purchase(pid).status == DRAFT
                    with lock:
                        outcomes["refused_" + e.code] += 1
                    misses += 1
                    continue
                misses = 0
                if rnd.random() < 0.15:
                    app.cancel_purchase(purchase_id=pid, buyer_id=world.buyer, actor=f"w{n}")
                    with lock:
                        outcomes["cancelled"] += 1
                    continue
                res = app.validate_purchase(
                    purchase_id=pid, buyer_id=world.buyer, code=last_code(app, pid), actor=f"w{n}"
                )
                assert res["status"] == CONFIRMED
                with lock:
                    outcomes["confirmed"] += 1
                    confirmed[pid] = (world.codes[i], qty)
        except (AssertionError, LedgerError) as e:  # surfaced by the main thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert not errors, errors

    moved = Counter()
    for code, qty in confirmed.values():
        moved[code] += qty
    for code, produced in zip(world.codes, (Decimal(400), Decimal(300)), strict=True):
        oc = setup.get_origin_code(code)
        oc.check_invariants()
        assert oc.produced == produced
        assert not oc.reservations
        assert oc.available_to(world.buyer) == moved[code]  # no oversell, nothing lost
        assert oc.available_to(world.seller) == produced - moved[code]
        assert oc.available_to(world.seller) < 9  # exhausted up to the last small remainder
    assert outcomes["confirmed"] == len(confirmed) > 10
    for pid in confirmed:
        assert setup.get_purchase(pid).status == CONFIRMED
    for app in [setup, *apps]:
        app.close()
