"""A hypothesis state machine over the whole purchase flow: random registrations,
purchases, loads, submissions, wrong codes, re-sends, validations, cancels and
expiries over a few origin codes, with every invariant checked after every step.

Steps in CI: ``PTM_STATEFUL_EXAMPLES`` × ``PTM_STATEFUL_STEPS`` (default 50 × 50 = 2,500).
"""

from __future__ import annotations

import contextlib
import os
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from kernel.errors import (
    CodeExpiredError,
    InsufficientBalanceError,
    InvalidCodeError,
    LimitExceededError,
    PurchaseEndedError,
    ValidationError,
    WrongStateError,
)
from ledger.application import Ledger, LedgerConfig
from ledger.guard import GuardPolicy
from ledger.purchase import CONFIRMED, DRAFT, PENDING
from ptm.settings import Settings, eventsourcing_env
from tests.conftest import FakeClock
from tests.helpers import last_code, make_world

EXAMPLES = int(os.environ.get("PTM_STATEFUL_EXAMPLES", "50"))
STEPS = int(os.environ.get("PTM_STATEFUL_STEPS", "50"))

quantities = st.integers(min_value=1, max_value=6_000).map(lambda n: Decimal(n) / 100)


class PurchaseMachine(RuleBasedStateMachine):
    """Drives the ledger at random and checks the bank invariants after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.app = Ledger(
            eventsourcing_env(Settings(env="test", database_url="memory://")),
            # Random wrong codes and submits on one seller, never minutes apart: the
            # budgets across purchases are raised here (tests/app/test_guessing_budget.py).
            config=LedgerConfig(
                code_key=b"k" * 32,
                snapshot_interval=10,
                guard=GuardPolicy(wrong_codes=1000, seller_messages=100_000),
            ),
            clock=self.clock,
        )
        self.world = make_world(self.app, quantities=("300", "150"))
        self.codes = list(self.world.codes)
        self.purchases: list[UUID] = []
        self.steps = 0

    # --- rules --------------------------------------------------------------------------

    @rule(qty=quantities)
    def produce(self, qty: Decimal) -> None:
        if len(self.codes) >= 5:
            return
        code = self.app.register_production(
            operator_id=self.world.seller,
            mineral="ORO",
            quantity=qty,
            # The purchases are for EXP-001: their lines must come from that title.
            expediente="EXP-001",
            department_code="05",
            municipality_code="05001",
            period="2026-02",
        )
        self.codes.append(code)

    def _with_status(self, *statuses: str) -> list[UUID]:
        return [p for p in self.purchases if self.app.get_purchase(p).status in statuses]

    @rule(
        picks=st.lists(
            st.tuples(st.integers(0, 4), quantities),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        )
    )
    def create(self, picks: list[tuple[int, Decimal]]) -> None:
        lines = {
            self.codes[i % len(self.codes)]: {
                "origin_code": self.codes[i % len(self.codes)],
                "mineral": "ORO",
                "quantity": str(q),
                "unit_price": "1000.5",
            }
            for i, q in picks
        }
        pid = self.app.create_purchase(
            buyer_id=self.world.buyer,
            seller=self.world.seller_ref(),
            transaction=self.world.transaction(),
            actor="b",
        )
        self.purchases.append(pid)
        with contextlib.suppress(InsufficientBalanceError):
            self.app.load_seller_data(
                purchase_id=pid,
                party_id=self.world.buyer,
                channel="txt",
                lines=list(lines.values()),
                actor="b",
            )

    @precondition(lambda self: bool(self._with_status(DRAFT)))
    @rule(data=st.data())
    def submit(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self._with_status(DRAFT)))
        try:
            self.app.submit_purchase(purchase_id=pid, buyer_id=self.world.buyer, actor="b")
            assert self.app.get_purchase(pid).status == PENDING
        except InsufficientBalanceError:
            assert self.app.get_purchase(pid).status == DRAFT
        except ValidationError as e:  # a draft whose lines could not be loaded
            assert e.code == "incomplete_purchase" and not self.app.get_purchase(pid).lines

    @precondition(lambda self: bool(self._with_status(PENDING)))
    @rule(data=st.data(), right=st.booleans())
    def validate(self, data: st.DataObject, right: bool) -> None:
        pending = self._with_status(PENDING)
        if not right and not data.draw(st.booleans(), label="scatter"):
            # Keep hammering one purchase so lock-outs happen, not just scattered failures.
            pid = max(pending, key=lambda p: self.app.get_purchase(p).failed_attempts)
        else:
            pid = data.draw(st.sampled_from(pending))
        code = last_code(self.app, pid)
        given = code if right else f"{(int(code) + 1) % 1_000_000:06d}"
        try:
            res = self.app.validate_purchase(
                purchase_id=pid, buyer_id=self.world.buyer, code=given, actor="b"
            )
            assert right and res["status"] == CONFIRMED
        except (InvalidCodeError, LimitExceededError):
            assert not right
        except (CodeExpiredError, PurchaseEndedError):
            pass

    @precondition(lambda self: bool(self._with_status(PENDING)))
    @rule(data=st.data())
    def brute_force(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self._with_status(PENDING)))
        code = last_code(self.app, pid)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(5):
            try:
                self.app.validate_purchase(
                    purchase_id=pid, buyer_id=self.world.buyer, code=wrong, actor="b"
                )
            except InvalidCodeError:
                continue
            except (LimitExceededError, CodeExpiredError, PurchaseEndedError, WrongStateError):
                break
            raise AssertionError("a wrong code was accepted")
        p = self.app.get_purchase(pid)
        assert p.status != CONFIRMED and (p.status != PENDING or p.failed_attempts < 5)

    @precondition(lambda self: bool(self._with_status(PENDING)))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self._with_status(PENDING)))
        with contextlib.suppress(LimitExceededError, PurchaseEndedError):
            self.app.resend_code(purchase_id=pid, buyer_id=self.world.buyer, actor="b")

    @precondition(lambda self: bool(self._with_status(DRAFT, PENDING)))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3), label="skip") != 3:
            return  # cancel one time in four, or few purchases would ever finish otherwise
        pid = data.draw(st.sampled_from(self._with_status(DRAFT, PENDING)))
        try:
            self.app.cancel_purchase(purchase_id=pid, buyer_id=self.world.buyer, actor="b")
        except WrongStateError:  # overdue: already expired by a sweep in the meantime
            assert not self.app.get_purchase(pid).is_open

    @rule(minutes=st.sampled_from([1, 29, 31, 60 * 6, 60 * 25]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @precondition(lambda self: bool(self.purchases))
    @rule(data=st.data())
    def sweep(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(self.purchases))
        was_overdue = self.app.get_purchase(pid).reservation_overdue(self.clock())
        assert self.app.expire_purchase(purchase_id=pid) == was_overdue

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def bank_invariants(self) -> None:
        self.steps += 1
        confirmed_by_code: dict[str, Decimal] = {}
        pending_by_code: dict[str, dict[str, Decimal]] = {}
        for pid in self.purchases:
            p = self.app.get_purchase(pid)
            for ln in p.lines:
                if p.status == CONFIRMED:
                    confirmed_by_code[ln["origin_code"]] = (
                        confirmed_by_code.get(ln["origin_code"], Decimal(0)) + ln["quantity"]
                    )
                elif p.status == PENDING:
                    pending_by_code.setdefault(ln["origin_code"], {})[str(pid)] = ln["quantity"]
        for code in self.codes:
            oc = self.app.get_origin_code(code)
            oc.check_invariants()  # conservation and non-negativity
            # Each reservation is pending exactly while its purchase is pending.
            assert {k: r["quantity"] for k, r in oc.reservations.items()} == pending_by_code.get(
                code, {}
            )
            # The buyer holds exactly what confirmed purchases moved.
            assert oc.available_to(self.world.buyer) == confirmed_by_code.get(code, Decimal(0))
            assert (
                oc.available_to(self.world.seller)
                + oc.reserved_by(self.world.seller)
                + oc.available_to(self.world.buyer)
                == oc.produced
            )


TestPurchaseMachine = PurchaseMachine.TestCase
TestPurchaseMachine.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_machine_runs_the_required_number_of_steps() -> None:
    """Guard against the CI budget silently shrinking below 2,000 steps."""
    if os.environ.get("CI"):
        assert EXAMPLES * STEPS >= 2000
    assert EXAMPLES >= 1 and STEPS >= 1


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
