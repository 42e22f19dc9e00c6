"""SQLite persistence (the embedded default): the library's recorders plus an outbox
written in the same transaction as the events, and a polling subscription, since the
library's SQLite recorder has none."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    StoredEvent,
    Subscription,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)

from ptm.storage.outbox import PENDING, SENT, OutboxRow, dumps

OUTBOX_TABLE = "ptm_outbox"

_CREATE_OUTBOX = f"""
CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    params TEXT NOT NULL,
    secret_params TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    provider_ref TEXT
)"""
_CREATE_OUTBOX_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {OUTBOX_TABLE}_due ON {OUTBOX_TABLE} (status, next_attempt_at)"
)
_CREATE_OUTBOX_EVENT_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {OUTBOX_TABLE}_event ON {OUTBOX_TABLE} (event_id)"
)

#: How often a polling subscription looks for new events (seconds).
POLL_INTERVAL_S = 0.05


def _ts(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat()


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _row(r: Any) -> OutboxRow:
    created = _dt(r["created_at"])
    assert created is not None
    return OutboxRow(
        key=r["key"],
        event_id=r["event_id"],
        channel=r["channel"],
        recipient=r["recipient"],
        template=r["template"],
        params=json.loads(r["params"]),
        secret_params=tuple(json.loads(r["secret_params"])),
        created_at=created,
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=_dt(r["next_attempt_at"]),
        sent_at=_dt(r["sent_at"]),
        last_error=r["last_error"],
        provider_ref=r["provider_ref"],
    )


class SQLiteOutbox:
    """Outbox rows in the same SQLite database as the events."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    @staticmethod
    def insert(c: SQLiteCursor, messages: Sequence[Any]) -> None:
        now = _ts(datetime.now(tz=UTC))
        c.executemany(
            f"INSERT INTO {OUTBOX_TABLE} (key, event_id, channel, recipient, template, params, "
            "secret_params, created_at, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (key) DO NOTHING",
            [
                (
                    m.key,
                    m.event_id,
                    m.channel,
                    m.recipient,
                    m.template,
                    dumps(m.params),
                    dumps(list(m.secret_params)),
                    now,
                    now,
                )
                for m in messages
            ],
        )

    def all(self) -> Sequence[OutboxRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {OUTBOX_TABLE} ORDER BY rowid")
            return [_row(r) for r in c.fetchall()]

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT * FROM {OUTBOX_TABLE} WHERE status=? AND next_attempt_at<=? "
                "ORDER BY rowid LIMIT ?",
                (PENDING, _ts(now), limit),
            )
            return [_row(r) for r in c.fetchall()]

    def caused_by(self, aggregate_id: str) -> Sequence[OutboxRow]:
        # event ids are "<aggregate id>:<version>"; a range scan on the index finds them.
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT * FROM {OUTBOX_TABLE} WHERE event_id >= ? AND event_id < ? ORDER BY rowid",
                (f"{aggregate_id}:", f"{aggregate_id};"),
            )
            return [_row(r) for r in c.fetchall()]

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT * FROM {OUTBOX_TABLE} WHERE key=?", (key,))
            r = c.fetchone()
            if r is None or r["status"] == SENT:
                return False
            row = _row(r)
            c.execute(
                f"UPDATE {OUTBOX_TABLE} SET status=?, sent_at=?, attempts=attempts+1, "
                "provider_ref=?, params=?, last_error=NULL WHERE key=? AND status=?",
                (SENT, _ts(now), provider_ref, dumps(row.redacted()), key, PENDING),
            )
            return True

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"UPDATE {OUTBOX_TABLE} SET attempts=attempts+1, last_error=?, next_attempt_at=? "
                "WHERE key=? AND status=?",
                (error[:500], _ts(next_attempt_at), key, PENDING),
            )


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    """Subscription that wakes its puller on a timer (and on local writes)."""

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            time.sleep(POLL_INTERVAL_S)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._ticker.join()


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder with a transactional outbox and subscriptions."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.outbox = SQLiteOutbox(datastore)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            _CREATE_OUTBOX,
            _CREATE_OUTBOX_INDEX,
            _CREATE_OUTBOX_EVENT_INDEX,
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        messages = kwargs.get("outbox") or ()
        if messages:
            SQLiteOutbox.insert(c, messages)
        return ids

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


class Factory(SQLiteFactory):
    """SQLite infrastructure with the ledger's application recorder."""

    application_recorder_class = SQLiteLedgerRecorder
