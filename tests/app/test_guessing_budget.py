"""The budgets across purchases: wrong acceptance codes per (buyer, seller) and messages
per seller, recorded as events so they hold across purchases and across processes."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from kernel.errors import SellerMessagesCappedError, SubmissionsSuspendedError
from ledger.application import Ledger
from ledger.guard import PairGuard, SellerGuard, pair_guard_id, seller_guard_id
from ledger.purchase import DRAFT, LOCKED, PENDING
from ptm.bootstrap import build_ledger
from ptm.settings import Settings
from tests.conftest import FakeClock
from tests.helpers import World, last_code, make_world, nit, outbox

AGENCY_EMAIL = "alertas@anm.example.gov.co"


@pytest.fixture
def world(ledger: Ledger) -> World:
    ledger.register_agency(
        nit=nit("900500018"),
        name="Agencia Nacional de Minería",
        email=AGENCY_EMAIL,
        mobile="+576012201999",
    )
    return make_world(ledger)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _guess_wrong(w: World, pid: UUID, code: str, times: int) -> list[Exception]:
    errors: list[Exception] = []
    for _ in range(times):
        with pytest.raises(Exception) as e:
            w.app.validate_purchase(
                purchase_id=pid, buyer_id=w.buyer, code=_wrong(code), actor="buyer-user"
            )
        errors.append(e.value)
    return errors


def _messages(w: World, template: str) -> list[str]:
    return [r.recipient for r in outbox(w.app).all() if r.template == template]


def test_ten_wrong_codes_across_purchases_suspend_the_pair(world: World, clock: FakeClock) -> None:
    w = world
    first, code1 = w.submitted()
    _guess_wrong(w, first, code1, 5)
    assert w.app.get_purchase(first).status == LOCKED  # the per-purchase limit, as before
    second, code2 = w.submitted()
    errors = _guess_wrong(w, second, code2, 5)
    # The 10th wrong code over both purchases spends the budget: 429 with Retry-After.
    last = errors[-1]
    assert isinstance(last, SubmissionsSuspendedError)
    assert int(last.context["retry_after_s"]) == 24 * 3600
    guard = w.app.repository.get(pair_guard_id(w.buyer, w.seller))
    assert isinstance(guard, PairGuard) and guard.suspended_until is not None
    # The event is on record (saved while the command raised).
    kinds = [type(e).__name__ for e in w.app.repository.event_store.get(guard.id)]
    assert kinds.count("WrongCodeCounted") == 10 and "SubmissionsSuspended" in kinds
    # The seller and the agency were told.
    assert sorted(_messages(w, "submissions_suspended")) == sorted(
        ["ventas@diluvio.example.co", AGENCY_EMAIL]
    )

    # While suspended: no submit to this seller (nothing reserved, no message sent) ...
    before = w.available(w.seller)
    sent = len(outbox(w.app).all())
    third = w.draft([w.line()])
    with pytest.raises(SubmissionsSuspendedError) as e:
        w.app.submit_purchase(purchase_id=third, buyer_id=w.buyer, actor="buyer-user")
    assert 0 < int(e.value.context["retry_after_s"]) <= 24 * 3600
    assert w.app.get_purchase(third).status == DRAFT
    assert w.available(w.seller) == before
    assert len(outbox(w.app).all()) == sent
    # ... and no more guesses on a purchase still pending with it (not even counted).
    if w.app.get_purchase(second).status == PENDING:
        with pytest.raises(SubmissionsSuspendedError):
            w.app.validate_purchase(
                purchase_id=second, buyer_id=w.buyer, code=code2, actor="buyer-user"
            )
        assert w.app.get_purchase(second).failed_attempts == 5

    # When the window passes, the buyer may submit again.
    clock.advance(hours=24, seconds=1)
    w.app.submit_purchase(purchase_id=third, buyer_id=w.buyer, actor="buyer-user")
    assert w.app.get_purchase(third).status == PENDING


def test_wrong_codes_older_than_the_window_do_not_count(world: World, clock: FakeClock) -> None:
    w = world
    pid, code = w.submitted()
    _guess_wrong(w, pid, code, 4)
    clock.advance(hours=24, seconds=1)
    pid2, code2 = w.submitted()
    errors = _guess_wrong(w, pid2, code2, 4)
    assert not any(isinstance(e, SubmissionsSuspendedError) for e in errors)
    w.app.submit_purchase(purchase_id=w.draft([w.line()]), buyer_id=w.buyer, actor="u")


def test_another_buyer_is_not_suspended(world: World) -> None:
    w = world
    for _ in range(2):
        pid, code = w.submitted()
        _guess_wrong(w, pid, code, 5)
    other = w.app.register_buyer(
        nit=nit("901999111"),
        name="Otra Comercializadora S.A.S.",
        rucom="RUCOM-20230002",
        email="otra@example.co",
        mobile="+573001110000",
    )
    pid = w.app.create_purchase(
        buyer_id=other, seller=w.seller_ref(), transaction=w.transaction(), actor="o"
    )
    w.app.load_seller_data(
        purchase_id=pid, party_id=other, channel="txt", lines=[w.line()], actor="o"
    )
    w.app.submit_purchase(purchase_id=pid, buyer_id=other, actor="o")
    assert w.app.get_purchase(pid).status == PENDING


def test_messages_to_one_seller_are_capped_per_hour(world: World, clock: FakeClock) -> None:
    w = world
    cap = w.app.config.guard.seller_messages
    for _ in range(cap):
        w.submitted([w.line(0, "1")])
    before, sent = w.available(w.seller), len(outbox(w.app).all())
    draft = w.draft([w.line(0, "1")])
    with pytest.raises(SellerMessagesCappedError) as e:
        w.app.submit_purchase(purchase_id=draft, buyer_id=w.buyer, actor="buyer-user")
    assert 0 < int(e.value.context["retry_after_s"]) <= 3600
    # Nothing half-applied: no reservation, no message.
    assert w.app.get_purchase(draft).status == DRAFT
    assert w.available(w.seller) == before and len(outbox(w.app).all()) == sent
    # The URL e-mail, the web-service token and a re-sent code count against the same cap.
    with pytest.raises(SellerMessagesCappedError):
        w.app.issue_seller_link(
            purchase_id=draft, buyer_id=w.buyer, base_url="http://x.test", actor="u"
        )
    guard = w.app.repository.get(seller_guard_id(w.seller))
    assert isinstance(guard, SellerGuard) and guard.sent == cap
    # An hour later the seller may be written to again.
    clock.advance(hours=1, seconds=1)
    w.app.submit_purchase(purchase_id=draft, buyer_id=w.buyer, actor="buyer-user")
    assert last_code(w.app, draft)


def test_resend_counts_against_the_seller_cap(world: World) -> None:
    w = world
    cap = w.app.config.guard.seller_messages
    pid, _ = w.submitted([w.line(0, "1")])
    for _ in range(cap - 1):
        w.submitted([w.line(0, "1")])
    with pytest.raises(SellerMessagesCappedError):
        w.app.resend_code(purchase_id=pid, buyer_id=w.buyer, actor="buyer-user")
    assert w.app.get_purchase(pid).resends == 0


def test_the_budget_holds_across_processes(tmp_path: Path, clock: FakeClock) -> None:
    """Two ledgers on one SQLite file (as two processes would be): wrong codes given
    through either count against the same budget."""
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{tmp_path / 'ptm.sqlite3'}",
        var_dir=tmp_path / "var",
        code_hmac_key="k" * 32,  # type: ignore[arg-type]
        statement_key="t" * 32,  # type: ignore[arg-type]
    )
    one = build_ledger(settings, clock=clock)
    two = build_ledger(settings, clock=clock)
    try:
        w1 = make_world(one)
        w2 = World(two, w1.buyer, w1.buyer_nit, w1.seller, w1.seller_nit, w1.seller_name, w1.codes)
        pid, code = w1.submitted()
        _guess_wrong(w1, pid, code, 5)
        pid2, code2 = w2.submitted()
        errors = _guess_wrong(w2, pid2, code2, 5)
        assert isinstance(errors[-1], SubmissionsSuspendedError)
        with pytest.raises(SubmissionsSuspendedError):
            w1.app.submit_purchase(
                purchase_id=w1.draft([w1.line()]), buyer_id=w1.buyer, actor="buyer-user"
            )
    finally:
        one.close()
        two.close()
