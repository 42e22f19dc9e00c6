"""What the layout refactor must not change: the stored names of things."""

from __future__ import annotations

import pytest
from eventsourcing.utils import resolve_topic

from kernel.idempotency import IdempotencyRecord
from ledger.application import Ledger
from ptm.settings import Settings, eventsourcing_env


def test_the_ledger_keeps_its_application_name() -> None:
    # Its tables (ptmledger_events) and prefixed settings are named after it.
    assert Ledger.name == "PTMLedger"
    app = Ledger(eventsourcing_env(Settings(env="test", database_url="memory://")))
    try:
        assert app.name == "PTMLedger"
    finally:
        app.close()


def test_idempotency_records_stored_under_their_old_topic_still_resolve() -> None:
    old = "ledger.idempotency:IdempotencyRecord.Recorded"
    assert resolve_topic(old) is IdempotencyRecord.Recorded
    assert resolve_topic("ledger.idempotency:IdempotencyRecord") is IdempotencyRecord


def test_the_ledger_refuses_a_recorder_that_would_drop_its_messages() -> None:
    # The library's own in-memory recorder ignores the outbox: messages would be lost.
    with pytest.raises(TypeError, match="outbox"):
        Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"})
