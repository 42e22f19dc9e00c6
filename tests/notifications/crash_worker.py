"""A worker process for the crash test: it kills itself with SIGKILL right after a
provider accepted its ``--kill-after``-th message, before ``mark_sent`` can commit.

Exits 0 once nothing is due; 3 if a delivery failed (the stand-ins are up, so that
would be a bug). Run as ``python -m tests.notifications.crash_worker``. It imports only
what a worker needs (the outbox store, not the whole ledger): the test starts it a few
dozen times.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from notifications.outbox import OutboxStore
from notifications.senders import EmailSender, SmsSender, SmtpEmailSender, TwilioSmsSender
from notifications.worker import OutboxWorker

MAX_ROUNDS = 1000


class KillAfter:
    """Wraps both senders; dies the moment the provider accepted the Nth message."""

    def __init__(self, email: EmailSender, sms: SmsSender, kill_after: int) -> None:
        self._email = email
        self._sms = sms
        self._left = kill_after

    def _accepted(self) -> None:
        self._left -= 1
        if self._left == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    def send_email(self, message: EmailMessage, *, outbox_key: str) -> str:
        ref = self._email.send_email(message, outbox_key=outbox_key)
        self._accepted()
        return ref

    def send_sms(self, *, to: str, body: str, outbox_key: str) -> str:
        ref = self._sms.send_sms(to=to, body=body, outbox_key=outbox_key)
        self._accepted()
        return ref


def open_store(url: str) -> tuple[OutboxStore, Callable[[], None]]:
    """The outbox of a SQLite or PostgreSQL database URL, and how to close it."""
    if url.startswith("sqlite:///"):
        from eventsourcing.sqlite import SQLiteDatastore  # noqa: PLC0415

        from adapters.storage.sqlite import SQLiteOutbox  # noqa: PLC0415

        sqlite = SQLiteDatastore(url.removeprefix("sqlite:///"), lock_timeout=30)
        return SQLiteOutbox(sqlite), sqlite.close
    from eventsourcing.postgres import PostgresDatastore  # noqa: PLC0415

    from adapters.storage.postgres import PostgresOutbox  # noqa: PLC0415

    parts = urlsplit(url)
    postgres = PostgresDatastore(
        unquote(parts.path.lstrip("/")),
        parts.hostname or "127.0.0.1",
        parts.port or 5432,
        unquote(parts.username or "postgres"),
        unquote(parts.password or ""),
        schema=parse_qs(parts.query).get("schema", [""])[0],
    )
    return PostgresOutbox(postgres), postgres.close


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--twilio-url", required=True)
    parser.add_argument("--kill-after", type=int, required=True)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--mail-from", required=True)
    parser.add_argument("--twilio-sid", required=True)
    parser.add_argument("--twilio-token", required=True)
    parser.add_argument("--twilio-from", required=True)
    args = parser.parse_args()

    store, close = open_store(args.database_url)
    senders = KillAfter(
        SmtpEmailSender(
            host="127.0.0.1",
            port=args.smtp_port,
            mail_from=args.mail_from,
            security="none",
            timeout_s=5.0,
        ),
        TwilioSmsSender(
            account_sid=args.twilio_sid,
            auth_token=args.twilio_token,
            from_number=args.twilio_from,
            base_url=args.twilio_url,
            timeout_s=5.0,
        ),
        args.kill_after,
    )
    worker = OutboxWorker(
        store,
        senders,
        senders,
        lambda: datetime.now(tz=UTC),
        batch=args.batch,
        max_backoff_s=1.0,
    )
    try:
        for _ in range(MAX_ROUNDS):
            stats = worker.run_once()
            if stats.retried or stats.deferred or stats.failed_permanently:
                print(f"unexpected failure: {stats}", file=sys.stderr)
                return 3
            if stats.taken == 0:
                return 0
        return 4
    finally:
        close()


if __name__ == "__main__":
    sys.exit(main())
