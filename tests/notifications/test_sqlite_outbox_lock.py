"""The SQLite outbox under concurrent senders: ``mark_sent`` takes the write lock up
front (``BEGIN IMMEDIATE``) and waits for it (busy timeout) instead of failing with
``database is locked`` — a failure there comes after the provider accepted the message,
so the round would be retried and the e-mail or SMS delivered twice.

Two datastores on the same file stand for two processes (the API's embedded sender and
``ptm notify run``, or two senders): each has its own connections, so SQLite's file
locks, not the library's in-process interlock, decide who writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteDatastore

from adapters.storage.sqlite import OUTBOX_TABLE, SQLiteLedgerRecorder, SQLiteOutbox
from ledger.messages import OutboxMessage
from notifications.outbox import SENT, OutboxRow
from notifications.worker import OutboxWorker
from tests.notifications.samples import PARAMS

ROWS = 400
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _message(i: int) -> OutboxMessage:
    return OutboxMessage(
        key=f"m-{i:04d}",
        event_id=f"agg-{i}:1",
        channel="email",
        recipient=f"vendedor{i}@example.co",
        template="login_code",
        params=dict(PARAMS["login_code"]),
        secret_params=("code",),
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[SQLiteDatastore, SQLiteDatastore]]:
    path = str(tmp_path / "outbox.sqlite3")
    # A short lock timeout on both "processes": the outbox must not depend on a long
    # one configured elsewhere to get through light contention.
    first = SQLiteDatastore(path, lock_timeout=1)
    second = SQLiteDatastore(path, lock_timeout=1)
    SQLiteLedgerRecorder(first).create_table()
    with first.transaction(commit=True) as c:
        SQLiteOutbox.insert(c, [_message(i) for i in range(ROWS)])
    yield first, second
    first.close()
    second.close()


def test_two_senders_marking_at_once_never_hit_a_locked_database(
    db: tuple[SQLiteDatastore, SQLiteDatastore],
) -> None:
    """Two senders on one file, each marking its half sent while reading the due rows
    and counting failures (what a round does), all at once: every row ends sent, once,
    and no call fails with ``database is locked``. Before the write lock was taken up
    front, the read inside ``mark_sent`` made SQLite refuse the upgrade to a write
    at once (no waiting), so these calls failed within a few dozen rows."""
    stores = [SQLiteOutbox(db[0]), SQLiteOutbox(db[1])]
    errors: list[BaseException] = []
    marked: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def sender(n: int) -> None:
        store = stores[n]
        barrier.wait()
        try:
            for i in range(n, ROWS, 2):
                key = f"m-{i:04d}"
                if i % 7 == 0:  # a failed attempt first, as a retried message has
                    store.mark_failed(key, NOW, "timeout", NOW)
                if store.mark_sent(key, NOW, f"ref-{i}"):
                    marked[n].append(key)
                if i % 10 == 0:
                    store.due(NOW, 20)
        except BaseException as e:  # the thread's failure is the test's
            errors.append(e)

    threads = [threading.Thread(target=sender, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, f"{type(errors[0]).__name__}: {errors[0]}"
    rows = stores[0].all()
    assert len(rows) == ROWS and all(r.status == SENT for r in rows)
    assert sorted(marked[0] + marked[1]) == sorted(r.key for r in rows)
    assert all(r.params["code"] == "«enviado»" for r in rows)  # secrets blanked


def test_two_senders_racing_on_the_same_rows_record_each_once(
    db: tuple[SQLiteDatastore, SQLiteDatastore],
) -> None:
    """Both senders mark the SAME rows: each row is recorded sent by exactly one of
    them (True), the other learns it was already sent (False), and nobody fails."""
    stores = [SQLiteOutbox(db[0]), SQLiteOutbox(db[1])]
    errors: list[BaseException] = []
    wins: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def sender(n: int) -> None:
        barrier.wait()
        try:
            for i in range(ROWS):
                key = f"m-{i:04d}"
                if stores[n].mark_sent(key, NOW, f"ref-{n}-{i}"):
                    wins[n].append(key)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=sender, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, f"{type(errors[0]).__name__}: {errors[0]}"
    assert not set(wins[0]) & set(wins[1])
    assert len(wins[0]) + len(wins[1]) == ROWS
    with db[0].transaction(commit=False) as c:
        c.execute(f"SELECT COUNT(*) FROM {OUTBOX_TABLE} WHERE attempts = 1 AND status = ?", (SENT,))
        assert c.fetchone()[0] == ROWS  # one recorded attempt each, not two


class CountingSender:
    """An e-mail and SMS provider that counts what it was asked to deliver."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_email(self, message: object, *, outbox_key: str) -> str:
        self.sent.append(outbox_key)
        return f"ref-{len(self.sent)}"

    def send_sms(self, *, to: str, body: str, outbox_key: str) -> str:
        self.sent.append(outbox_key)
        return f"ref-{len(self.sent)}"


def test_a_retried_mark_sent_never_delivers_twice(
    db: tuple[SQLiteDatastore, SQLiteDatastore],
) -> None:
    """The sender delivers and records; a retry of ``mark_sent`` (as after a lost reply)
    answers False and changes nothing; the next rounds, of this sender or another
    process's, deliver nothing again."""
    store = SQLiteOutbox(db[0])
    provider = CountingSender()
    later = datetime.now(tz=UTC) + timedelta(minutes=1)  # the rows are due by then
    worker = OutboxWorker(store, provider, provider, lambda: later)
    first = worker.run_once()
    assert first.sent == worker.batch and len(provider.sent) == worker.batch
    key = provider.sent[0]
    before: OutboxRow = next(r for r in store.all() if r.key == key)
    assert store.mark_sent(key, later + timedelta(minutes=5), "otra-ref") is False
    assert SQLiteOutbox(db[1]).mark_sent(key, NOW, "otra-ref") is False
    after = next(r for r in store.all() if r.key == key)
    assert after == before  # not counted again, not re-stamped
    while worker.run_once().taken:
        pass
    other = OutboxWorker(SQLiteOutbox(db[1]), provider, provider, lambda: later)
    assert other.run_once().taken == 0
    assert sorted(provider.sent) == sorted({*provider.sent}) and len(provider.sent) == ROWS
