"""What the layout refactor must not change: the stored names of things."""

from __future__ import annotations

import pytest
from eventsourcing.utils import resolve_topic

from kernel.idempotency import IdempotencyRecord
from ledger.application import Ledger
from ptm.settings import Settings, eventsourcing_env
from testkit.world import nit


def test_the_ledger_keeps_its_application_name() -> None:
    # Its tables (ptmledger_events) and prefixed settings are named after it.
    assert Ledger.name == "PTMLedger"
    app = Ledger(eventsourcing_env(Settings(env="test", database_url="memory://")))
    try:
        assert app.name == "PTMLedger"
    finally:
        app.close()


def test_idempotency_records_keep_the_topic_they_were_stored_under() -> None:
    old = "ledger.idempotency:IdempotencyRecord.Recorded"
    assert resolve_topic(old) is IdempotencyRecord.Recorded
    assert resolve_topic("ledger.idempotency:IdempotencyRecord") is IdempotencyRecord
    # New records are written under the same topic: one topic per class in a store, and a
    # build from before the kernel existed still reads them.
    app = Ledger(eventsourcing_env(Settings(env="test", database_url="memory://")))
    try:
        app.register_buyer(
            nit=nit("900123456"),
            name="Compradora Uno S.A.S.",
            rucom="RUCOM-20260001",
            email="compras@example.co",
            mobile="+573001234567",
            idempotency_key="alta-1",
        )
        topics = {n.topic for n in app.recorder.select_notifications(1, 10)}
    finally:
        app.close()
    assert old in topics
    assert not any(t.startswith("kernel.") for t in topics)


def test_the_ledger_refuses_a_recorder_that_would_drop_its_messages() -> None:
    # The library's own in-memory recorder ignores the outbox: messages would be lost.
    with pytest.raises(TypeError, match="outbox"):
        Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"})
