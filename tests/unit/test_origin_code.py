"""The origin-code aggregate: two-phase reservations and conservation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ConflictError, InsufficientBalanceError
from ledger.origin import OriginCode

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def produce(qty: str = "100") -> tuple[OriginCode, object]:
    op = uuid4()
    oc = OriginCode.produce(
        code="OC-TEST-0001",
        mineral="ORO",
        unit="g",
        operator_id=op,
        expediente="EXP-1",
        department_code="05",
        municipality_code="05001",
        period="2026-01",
        quantity=Decimal(qty),
        now=NOW,
    )
    return oc, op


def test_reserve_transfer_release_exactly_once() -> None:
    oc, op = produce()
    buyer, p1, p2 = uuid4(), uuid4(), uuid4()
    oc.reserve(purchase_id=p1, holder_id=op, quantity=Decimal("30"), expires_at=NOW)
    oc.reserve(purchase_id=p2, holder_id=op, quantity=Decimal("20"), expires_at=NOW)
    assert oc.available_to(op) == 50 and oc.reserved_by(op) == 50
    assert oc.transfer(purchase_id=p1, to_holder_id=buyer) == 30
    oc.release(purchase_id=p2, reason="cancelled")
    assert oc.available_to(op) == 70 and oc.available_to(buyer) == 30
    for call in (
        lambda: oc.transfer(purchase_id=p1, to_holder_id=buyer),
        lambda: oc.release(purchase_id=p1, reason="x"),
        lambda: oc.release(purchase_id=p2, reason="x"),
    ):
        with pytest.raises(ConflictError) as e:
            call()
        assert e.value.code == "reservation_not_pending"


def test_no_overdraft() -> None:
    oc, op = produce("10")
    with pytest.raises(InsufficientBalanceError) as e:
        oc.reserve(purchase_id=uuid4(), holder_id=op, quantity=Decimal("10.01"), expires_at=NOW)
    assert e.value.context["available"] == Decimal("10")
    assert oc.available_to(op) == 10 and not oc.pending_events[1:]


def test_double_reservation_by_same_purchase_refused() -> None:
    oc, op = produce()
    p = uuid4()
    oc.reserve(purchase_id=p, holder_id=op, quantity=Decimal("1"), expires_at=NOW)
    with pytest.raises(ConflictError):
        oc.reserve(purchase_id=p, holder_id=op, quantity=Decimal("1"), expires_at=NOW)


def test_overdue_reservations_and_coverable() -> None:
    oc, op = produce()
    p = uuid4()
    oc.reserve(purchase_id=p, holder_id=op, quantity=Decimal("60"), expires_at=NOW)
    assert oc.expired_reservations(NOW - timedelta(seconds=1)) == []
    assert oc.expired_reservations(NOW) == [p]
    assert oc.coverable_by(op, NOW) == 100 and oc.coverable_by(op, NOW - timedelta(1)) == 40


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["reserve", "transfer", "release"]),
            st.integers(1, 5000),
            st.integers(0, 4),
        ),
        max_size=60,
    )
)
def test_conservation_under_any_sequence(ops: list[tuple[str, int, int]]) -> None:
    oc, op = produce("500")
    buyers = [uuid4() for _ in range(5)]
    pending: list[object] = []
    for kind, q, who in ops:
        qty = Decimal(q) / 100
        try:
            if kind == "reserve":
                p = uuid4()
                oc.reserve(purchase_id=p, holder_id=op, quantity=qty, expires_at=NOW)
                pending.append(p)
            elif pending and kind == "transfer":
                oc.transfer(purchase_id=pending.pop(who % len(pending)), to_holder_id=buyers[who])
            elif pending:
                oc.release(purchase_id=pending.pop(who % len(pending)), reason="r")
        except InsufficientBalanceError:
            pass
        oc.check_invariants()
    replayed = None
    for e in oc.collect_events():
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.available == oc.available
    assert replayed.reservations == oc.reservations
