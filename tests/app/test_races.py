"""Two writers on one store, interleaved by hand at the worst moment: a command that
loaded a purchase before another process ended it, and its origin codes after. It must
run again on the new state (and answer what the purchase now is), never fail on the
mismatch. The fault harness found this as a late validation racing an expiry."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import LedgerError
from kernel.locks import Locker
from ledger.application import Ledger
from ledger.purchase import CONFIRMED, EXPIRED, PENDING
from ptm.bootstrap import build_ledger
from ptm.settings import Settings
from testkit.world import make_world
from tests.conftest import FakeClock


class InterleavingLocker:
    """Runs ``meanwhile`` once, as the command takes its locks: after the command loaded
    the purchase, before it loads the origin codes."""

    def __init__(self, inner: Locker, meanwhile: Callable[[], Any]) -> None:
        self.inner = inner
        self.meanwhile: Callable[[], Any] | None = meanwhile

    def hold(self, keys: Sequence[str]) -> AbstractContextManager[None]:
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return self.inner.hold(keys)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ptm.sqlite3'}"
    pg_url = request.getfixturevalue("pg_url")
    return f"{pg_url}?schema={request.getfixturevalue('pg_schema')}"


@pytest.fixture
def two_writers(url: str, tmp_path: Path) -> Iterator[tuple[Ledger, Ledger, FakeClock]]:
    """Two ledgers on one store (as two processes), the second a day ahead."""
    settings = Settings(
        env="test",
        database_url=url,
        var_dir=tmp_path / "var",
        code_hmac_key="k" * 32,  # type: ignore[arg-type]
        statement_key="t" * 32,  # type: ignore[arg-type]
    )
    clock = FakeClock()

    def later() -> datetime:
        return clock() + timedelta(seconds=settings.reservation_ttl_s + 60)

    first = build_ledger(settings, clock=clock)
    other = build_ledger(settings, clock=later, create_table=False)
    yield first, other, clock
    first.close()
    other.close()


def test_a_validation_that_loses_to_an_expiry_answers_that_the_purchase_ended(
    two_writers: tuple[Ledger, Ledger, FakeClock],
) -> None:
    app, other, _ = two_writers
    world = make_world(app)
    pid, code = world.submitted()
    expired: list[bool] = []
    app.locker = InterleavingLocker(
        app.locker, lambda: expired.append(other.expire_purchase(purchase_id=pid))
    )

    with pytest.raises(LedgerError) as caught:
        app.validate_purchase(purchase_id=pid, buyer_id=world.buyer, code=code, actor="b")

    assert expired == [True]
    assert caught.value.code == "wrong_state"  # what a late validation is told
    assert app.get_purchase(pid).status == EXPIRED
    oc = app.get_origin_code(world.codes[0])
    assert not oc.has_reservation(pid)
    assert oc.available_to(world.buyer) == 0
    assert app.runner.conflicts >= 1


def test_a_cancel_that_loses_to_a_validation_elsewhere_answers_that_it_was_confirmed(
    two_writers: tuple[Ledger, Ledger, FakeClock],
) -> None:
    app, _, _ = two_writers
    world = make_world(app)
    pid, code = world.submitted()
    assert app.get_purchase(pid).status == PENDING
    # A validation commits while our cancel holds a stale view of the purchase.
    validated: list[Any] = []

    def validate_elsewhere() -> None:
        validated.append(
            app.validate_purchase(purchase_id=pid, buyer_id=world.buyer, code=code, actor="x")
        )

    # Load the purchase into our unit, then let the validation commit, then release.
    original_get = app.repository.get
    calls: list[int] = []

    def get(aggregate_id: Any, **kw: Any) -> Any:
        agg = original_get(aggregate_id, **kw)
        if aggregate_id == pid and not calls:
            calls.append(1)
            validate_elsewhere()
        return agg

    app.repository.get = get  # type: ignore[method-assign]
    try:
        with pytest.raises(LedgerError) as caught:
            app.cancel_purchase(purchase_id=pid, buyer_id=world.buyer, actor="b")
    finally:
        app.repository.get = original_get  # type: ignore[method-assign]

    assert validated and validated[0]["status"] == CONFIRMED
    assert caught.value.code == "wrong_state"
    assert app.get_purchase(pid).status == CONFIRMED
