"""Read models on memory, SQLite and PostgreSQL: each equals what the aggregates say and
what a fresh replay gives, after scripted and random histories."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.errors import LedgerError
from ledger.application import Ledger
from projections import queries
from projections.runner import ProjectionRunner
from ptm.bootstrap import Services
from testkit.readmodels import assert_balances_match_aggregates, assert_equals_fresh_replay
from tests.conftest import FakeClock
from tests.helpers import World, last_code, make_world


def scripted_history(svc: Services, clock: FakeClock) -> World:
    app = svc.ledger
    w = make_world(app)
    p1, c1 = w.submitted([w.line(0, "100.5"), w.line(1, "20")])
    app.validate_purchase(purchase_id=p1, buyer_id=w.buyer, code=c1, actor="b")
    p2, _ = w.submitted([w.line(0, "50")])
    app.cancel_purchase(purchase_id=p2, buyer_id=w.buyer, actor="b")
    w.submitted([w.line(1, "30")])  # stays pending
    draft = w.draft([w.line(0, "1")])
    app.save_purchase(purchase_id=draft, buyer_id=w.buyer, actor="b")
    return w


def test_read_models_follow_the_ledger(services: Services, clock: FakeClock) -> None:
    w = scripted_history(services, clock)
    services.runner.catch_up()
    assert services.runner.lag() == {"balances": 0, "custody": 0, "purchases": 0}
    assert_balances_match_aggregates(services, w.codes)

    buyer = queries.balances_of(services.engine, str(w.buyer))
    assert [(r["origin_code"], r["available"]) for r in buyer.items] == [
        (w.codes[0], Decimal("100.5")),
        (w.codes[1], Decimal("20")),
    ]
    seller = {
        r["origin_code"]: r for r in queries.balances_of(services.engine, str(w.seller)).items
    }
    assert seller[w.codes[0]]["available"] == Decimal("899.5")
    assert seller[w.codes[1]]["reserved"] == Decimal("30")

    open_ = queries.purchases_of(services.engine, str(w.buyer), open_only=True)
    assert sorted(r["status"] for r in open_.items) == ["draft", "pending_acceptance"]
    history = queries.purchases_of(services.engine, str(w.buyer))
    assert history.total == 4
    assert sorted(r["status"] for r in history.items) == [
        "cancelled",
        "confirmed",
        "draft",
        "pending_acceptance",
    ]
    confirmed = next(r for r in history.items if r["status"] == "confirmed")
    assert confirmed["total"] == Decimal("100.5") * 250000 + 20 * 250000
    assert confirmed["lines"][0]["origin_code"] == w.codes[0]

    custody = queries.custody_of(services.engine, w.codes[0]).items
    assert [r["kind"] for r in custody] == [
        "produced",
        "reserved",
        "transferred",
        "reserved",
        "released",
    ]
    assert [r["position"] for r in custody] == sorted(r["position"] for r in custody)
    assert custody[2]["to_holder"] == str(w.buyer) and custody[2]["quantity"] == Decimal("100.5")

    rep = queries.report(services.engine).items
    assert len(rep) == 1
    assert rep[0]["mineral"] == "ORO" and rep[0]["municipality_code"] == "05001"
    assert rep[0]["quantity"] == Decimal("120.5") and rep[0]["purchases"] == 1
    assert rep[0]["value"] == Decimal("120.5") * 250000
    assert rep[0]["month"] == "2026-03"
    assert_equals_fresh_replay(services)


def test_pagination_has_a_hard_maximum(services: Services) -> None:
    w = make_world(services.ledger)
    for _ in range(3):
        w.draft([w.line()])
    services.runner.catch_up()
    page = queries.purchases_of(services.engine, str(w.buyer), limit=2)
    assert len(page.items) == 2 and page.next_offset == 2 and page.total == 3
    page2 = queries.purchases_of(services.engine, str(w.buyer), offset=2, limit=2)
    assert len(page2.items) == 1 and page2.next_offset is None
    huge = queries.purchases_of(services.engine, str(w.buyer), limit=10_000)
    assert len(huge.items) == 3  # capped at MAX_PAGE, here all fit
    assert queries._limit(10_000) == queries.MAX_PAGE


def test_two_runners_never_apply_a_page_twice(services: Services) -> None:
    scripted_history(services, FakeClock())
    other = ProjectionRunner(
        services.ledger.recorder, services.ledger.mapper, services.engine, page_size=3
    )
    mine = ProjectionRunner(
        services.ledger.recorder, services.ledger.mapper, services.engine, page_size=5
    )
    while other.run_page() + mine.run_page():
        pass
    assert other.lag() == {"balances": 0, "custody": 0, "purchases": 0}
    assert_equals_fresh_replay(services)


def test_wait_returns_when_position_reached(services: Services) -> None:
    w = make_world(services.ledger)
    head = services.runner.head()
    assert not services.runner.wait(head, timeout_s=0.05)  # nothing applied yet: bounded
    services.runner.catch_up()
    assert services.runner.wait(head, timeout_s=0.05)
    assert queries.origin_code_row(services.engine, w.codes[0])["produced"] == Decimal("1000")


_worlds = itertools.count(1)

ops = st.lists(
    st.tuples(
        st.sampled_from(["buy", "buy", "buy", "cancel", "wrong", "resend", "expire", "project"]),
        st.integers(0, 1),
        st.integers(1, 300),
    ),
    min_size=5,
    max_size=40,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=ops, page_size=st.integers(1, 7))
def test_random_histories_equal_fresh_replay(
    services: Services, history: list[tuple[str, int, int]], page_size: int
) -> None:
    app: Ledger = services.ledger
    clock: Any = app.clock
    # hypothesis reuses the fixture: fresh parties for each example
    w = make_world(app, n=next(_worlds), quantities=("900", "400"))
    runner = ProjectionRunner(app.recorder, app.mapper, services.engine, page_size=page_size)
    pending: list[Any] = []
    for op, i, q in history:
        try:
            if op == "buy":
                pid, code = w.submitted([w.line(i, str(Decimal(q) / 4))])
                if q % 3:
                    app.validate_purchase(purchase_id=pid, buyer_id=w.buyer, code=code, actor="b")
                else:
                    pending.append(pid)
            elif op == "cancel" and pending:
                app.cancel_purchase(purchase_id=pending.pop(), buyer_id=w.buyer, actor="b")
            elif op == "wrong" and pending:
                code = last_code(app, pending[-1])
                app.validate_purchase(
                    purchase_id=pending[-1],
                    buyer_id=w.buyer,
                    code=f"{(int(code) + 1) % 10**6:06d}",
                    actor="b",
                )
            elif op == "resend" and pending:
                app.resend_code(purchase_id=pending[-1], buyer_id=w.buyer, actor="b")
            elif op == "expire":
                clock.advance(hours=25)
                for pid in pending:
                    app.expire_purchase(purchase_id=pid)
            elif op == "project":
                runner.run_page()
        except LedgerError:
            pass
    runner.catch_up()
    assert_balances_match_aggregates(services, w.codes)
    assert_equals_fresh_replay(services)
