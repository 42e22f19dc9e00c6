"""Providers down for a while: messages wait with back-off, then all go out, once each."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from ledger.application import Ledger
from notifications.outbox import PENDING, SENT
from testkit.mailserver import SmtpStandIn
from testkit.sms import TwilioStandIn
from tests.conftest import FakeClock
from tests.helpers import make_world, outbox
from tests.notifications.conftest import WorkerFactory

MAX_BACKOFF_S = 60.0


def test_outage_then_recovery_loses_nothing_and_sends_nothing_twice(
    ledger: Ledger,
    smtp_server: SmtpStandIn,
    twilio_server: TwilioStandIn,
    make_worker: WorkerFactory,
    worker_clock: FakeClock,
) -> None:
    world = make_world(ledger)
    box = outbox(ledger)
    worker = make_worker(box, max_backoff_s=MAX_BACKOFF_S)
    codes = [world.submitted()[1]]
    smtp_server.stop()
    twilio_server.stop()

    first = worker.run_once()
    assert (first.taken, first.retried, first.sent) == (2, 2, 0)

    codes += [world.submitted()[1] for _ in range(2)]
    for _ in range(4):  # the outage lasts a few rounds
        worker_clock.advance(seconds=MAX_BACKOFF_S + 1)
        stats = worker.run_once()
        # One call per channel finds the provider down; the rest of the channel waits.
        assert stats.sent == 0 and stats.retried == 2 and stats.deferred == 4
        # Back-off is honoured: right after a round nothing is due, so nothing spins.
        assert worker.run_once().taken == 0

    rows = box.all()
    assert len(rows) == 6 and all(r.status == PENDING for r in rows)
    for r in rows:
        assert r.attempts >= 4 and r.last_error
        assert r.next_attempt_at is not None and r.next_attempt_at > worker_clock.now
        assert r.next_attempt_at <= worker_clock.now + timedelta(seconds=MAX_BACKOFF_S)
    email_errors = {r.last_error for r in rows if r.channel == "email"}
    assert any("SMTP no disponible" in (e or "") for e in email_errors)
    assert any("Twilio no disponible" in (r.last_error or "") for r in rows if r.channel == "sms")
    assert smtp_server.messages == [] and twilio_server.received() == []

    smtp_server.start()
    twilio_server.start()
    worker_clock.advance(seconds=MAX_BACKOFF_S + 1)
    recovered = worker.run_once()
    assert (recovered.sent, recovered.retried, recovered.deferred) == (6, 0, 0)
    worker_clock.advance(seconds=3600)
    assert worker.run_once().taken == 0

    rows = box.all()
    assert all(r.status == SENT for r in rows)
    per_key = Counter(m.key for m in smtp_server.messages)
    assert per_key == Counter({r.key: 1 for r in rows if r.channel == "email"})
    per_code = Counter(c for s in twilio_server.received() for c in codes if c in s.body)
    assert per_code == Counter({c: 1 for c in codes})
    assert {s.to for s in twilio_server.received()} == {"+573009998877"}
