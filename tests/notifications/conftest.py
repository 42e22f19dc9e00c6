"""Fixtures of the local stand-ins for the providers — a real SMTP server (aiosmtpd) and
an HTTP server speaking Twilio's Messages API (``testkit.mailserver``, ``testkit.sms``),
both on 127.0.0.1, both stoppable to simulate an outage — and of a worker that talks to
them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifications.outbox import OutboxStore
from notifications.worker import AttachmentProvider, OutboxWorker
from testkit.mailserver import SmtpStandIn
from testkit.sms import TwilioStandIn
from tests.conftest import FakeClock

# --- the stand-ins -------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpStandIn]:
    server = SmtpStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def twilio_server() -> Iterator[TwilioStandIn]:
    server = TwilioStandIn()
    server.start()
    yield server
    server.stop()


# --- the worker ----------------------------------------------------------------------


@pytest.fixture
def worker_clock() -> FakeClock:
    """The worker's clock. The stores stamp new rows with the wall clock, so this one
    starts a little ahead of it (rows written during the test are due) and then moves
    only by hand."""
    return FakeClock(datetime.now(tz=UTC) + timedelta(minutes=5))


WorkerFactory = Callable[..., OutboxWorker]


@pytest.fixture
def make_worker(
    smtp_server: SmtpStandIn, twilio_server: TwilioStandIn, worker_clock: FakeClock
) -> WorkerFactory:
    """Build a worker over a store that sends through both stand-ins."""

    def build(
        store: OutboxStore,
        *,
        batch: int = 50,
        max_backoff_s: float = 60.0,
        attachments: AttachmentProvider | None = None,
        **kwargs: Any,
    ) -> OutboxWorker:
        return OutboxWorker(
            store,
            kwargs.pop("email", None) or smtp_server.sender(),
            kwargs.pop("sms", None) or twilio_server.sender(),
            worker_clock,
            batch=batch,
            max_backoff_s=max_backoff_s,
            attachments=attachments,
            **kwargs,
        )

    return build
