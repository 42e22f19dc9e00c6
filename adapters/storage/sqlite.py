"""SQLite persistence (the embedded default): the library's recorders plus an outbox and
the audit hash chain written in the same transaction as the events, and a polling
subscription, since the library's SQLite recorder has none."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    OperationalError,
    StoredEvent,
    Subscription,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)

from adapters.storage.recorder import PtmRecorder
from audit.chain import (
    CHAIN_TABLE,
    DIGESTS_TABLE,
    GENESIS,
    ChainRow,
    Digest,
    EventRow,
    canonical_id,
    extend_links,
)
from notifications.outbox import PENDING, SENT, OutboxRow, dumps

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

_CREATE_CHAIN = (
    f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (position INTEGER PRIMARY KEY, link TEXT NOT NULL)"
)
_CREATE_DIGESTS = f"""
CREATE TABLE IF NOT EXISTS {DIGESTS_TABLE} (
    position INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    link TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (position, key_id)
)"""

#: Least time (ms) an outbox write waits for SQLite's write lock before it fails.
OUTBOX_BUSY_TIMEOUT_MS = 5000

#: Rows per statement when sealing a log that predates the chain.
SEAL_PAGE = 5000

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

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Cursor]:
        """A transaction that holds SQLite's write lock from its first statement.

        ``BEGIN IMMEDIATE`` takes the lock up front, waiting for it (busy timeout, at
        least :data:`OUTBOX_BUSY_TIMEOUT_MS`). A deferred transaction that reads first
        and writes after would be refused at once (``database is locked``, no waiting)
        whenever another connection — another process — wrote in between.
        """
        with self.datastore.get_connection(commit=True) as conn, conn.cursor() as c:
            c.execute("PRAGMA busy_timeout")
            if int(c.fetchone()[0]) < OUTBOX_BUSY_TIMEOUT_MS:
                c.execute(f"PRAGMA busy_timeout = {OUTBOX_BUSY_TIMEOUT_MS}")
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise OperationalError(e) from e
            try:
                yield c
            except BaseException:
                conn.rollback()
                raise
            try:
                conn.commit()
            except sqlite3.OperationalError as e:
                conn.rollback()
                raise OperationalError(e) from e

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        # Idempotent: a row already sent (by this sender's earlier try, or another
        # sender) answers False and is left exactly as it is.
        with self._writing() as c:
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
            return c.rowcount == 1

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        with self._writing() as c:
            c.execute(
                f"UPDATE {OUTBOX_TABLE} SET attempts=attempts+1, last_error=?, next_attempt_at=? "
                "WHERE key=? AND status=?",
                (error[:500], _ts(next_attempt_at), key, PENDING),
            )


def _digest(r: Any) -> Digest:
    signed_at = _dt(r["signed_at"])
    assert signed_at is not None
    return Digest(
        position=r["position"],
        link=r["link"],
        signed_at=signed_at,
        signature=r["signature"],
        key_id=r["key_id"],
    )


class SQLiteAudit:
    """Chain links and signed digests in the same SQLite database as the events."""

    def __init__(self, datastore: SQLiteDatastore, events_table: str) -> None:
        self.datastore = datastore
        self.events_table = events_table
        self._uuid_ids = datastore.originator_id_type == "uuid"

    @staticmethod
    def create_statements() -> list[str]:
        return [_CREATE_CHAIN, _CREATE_DIGESTS]

    @staticmethod
    def extend_chain(c: SQLiteCursor, items: Sequence[tuple[int, StoredEvent]]) -> None:
        """Insert the links of just-inserted events, in the events' transaction.

        The events were inserted first, so this transaction already holds SQLite's
        write lock and reads the head as the previous writer committed it.
        """
        c.execute(f"SELECT position, link FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        current = ChainRow(head["position"], _link(head["link"])) if head else None
        rows = [(r.position, r.link.hex()) for r in extend_links(current, items)]
        c.executemany(f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)", rows)

    def seal_existing(self) -> int:
        """Link a log recorded before the chain existed (only when the chain is empty).

        Never extends a non-empty chain: events after its head without links are
        exactly what verification must report as inserted behind the recorder's back.
        """
        with self.datastore.transaction(commit=True) as c:
            # A write first, so this transaction holds the write lock before reading.
            c.execute(f"DELETE FROM {CHAIN_TABLE} WHERE position < 0")
            c.execute(f"SELECT 1 FROM {CHAIN_TABLE} LIMIT 1")
            if c.fetchone() is not None:
                return 0
            prev, after, total = GENESIS, 0, 0
            while True:
                rows = self._event_rows(c, after, SEAL_PAGE, None, ())
                if not rows:
                    return total
                links = []
                for e in rows:
                    prev = e.link(prev)
                    links.append((e.position, prev.hex()))
                c.executemany(f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)", links)
                after, total = rows[-1].position, total + len(rows)

    def _oid(self, value: Any) -> str:
        if self._uuid_ids:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                return canonical_id(UUID(value))
        return str(value)

    def _row(self, r: Any) -> EventRow:
        # SQLite keeps whatever type was written: rows edited by hand may hold text where
        # bytes belong. They must come out as rows to report, not as a crash.
        state = r[4]
        if isinstance(state, str):
            state = state.encode("utf-8")
        return EventRow(
            r[0],
            self._oid(r[1]),
            r[2] if isinstance(r[2], int) else -1,
            r[3] if isinstance(r[3], str) else "",
            bytes(state or b""),
        )

    def _event_rows(
        self,
        c: SQLiteCursor,
        after: int,
        limit: int,
        stop: int | None,
        topics: Sequence[str],
    ) -> list[EventRow]:
        sql = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} WHERE rowid > ?"
        )
        params: list[Any] = [after]
        if stop is not None:
            sql += " AND rowid <= ?"
            params.append(stop)
        if topics:
            sql += f" AND topic IN ({','.join('?' * len(topics))})"
            params.extend(topics)
        sql += " ORDER BY rowid LIMIT ?"
        params.append(limit)
        c.execute(sql, params)
        return [self._row(r) for r in c.fetchall()]

    def max_position(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table}")
            return int(c.fetchone()[0] or 0)

    def event_rows(
        self, after: int, limit: int, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[EventRow]:
        with self.datastore.transaction(commit=False) as c:
            return self._event_rows(c, after, limit, stop, topics)

    def events_of(self, originator_id: UUID, stop: int | None, limit: int) -> Sequence[EventRow]:
        key = originator_id.hex if self._uuid_ids else str(originator_id)
        sql = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} WHERE originator_id = ?"
        )
        params: list[Any] = [key]
        if stop is not None:
            sql += " AND rowid <= ?"
            params.append(stop)
        sql += " ORDER BY originator_version LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [EventRow(r[0], self._oid(r[1]), r[2], r[3], bytes(r[4])) for r in c.fetchall()]

    def chain_head(self) -> ChainRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position, link FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
            r = c.fetchone()
            return None if r is None else ChainRow(r[0], _link(r[1]))

    def chain_rows(self, after: int, limit: int, stop: int | None = None) -> Sequence[ChainRow]:
        sql = f"SELECT position, link FROM {CHAIN_TABLE} WHERE position > ?"
        params: list[Any] = [after]
        if stop is not None:
            sql += " AND position <= ?"
            params.append(stop)
        sql += " ORDER BY position LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [ChainRow(r[0], _link(r[1])) for r in c.fetchall()]

    def chain_row_before(self, position: int) -> ChainRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, link FROM {CHAIN_TABLE} WHERE position < ? "
                "ORDER BY position DESC LIMIT 1",
                (position,),
            )
            r = c.fetchone()
            return None if r is None else ChainRow(r[0], _link(r[1]))

    def add_digest(self, digest: Digest) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {DIGESTS_TABLE} (position, key_id, link, signed_at, signature) "
                "VALUES (?,?,?,?,?) ON CONFLICT (position, key_id) DO NOTHING",
                (
                    digest.position,
                    digest.key_id,
                    digest.link,
                    _ts(digest.signed_at),
                    digest.signature,
                ),
            )
            c.execute("SELECT changes()")
            return bool(c.fetchone()[0])

    def latest_digests(self, offset: int, limit: int) -> Sequence[Digest]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT * FROM {DIGESTS_TABLE} ORDER BY position DESC, key_id LIMIT ? OFFSET ?",
                (limit, offset),
            )
            return [_digest(r) for r in c.fetchall()]

    def digest_count(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT COUNT(*) FROM {DIGESTS_TABLE}")
            return int(c.fetchone()[0])

    def digests_after(
        self, after: tuple[int, str], limit: int, stop: int | None = None
    ) -> Sequence[Digest]:
        sql = f"SELECT * FROM {DIGESTS_TABLE} WHERE (position, key_id) > (?, ?)"
        params: list[Any] = [after[0], after[1]]
        if stop is not None:
            sql += " AND position <= ?"
            params.append(stop)
        sql += " ORDER BY position, key_id LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [_digest(r) for r in c.fetchall()]


def _link(text: str) -> bytes:
    # A link edited into something that is not hex must still be reported, not crash.
    try:
        return bytes.fromhex(text)
    except (ValueError, TypeError):
        return b""


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
    """SQLite application recorder with a transactional outbox, the audit hash chain
    and subscriptions."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.outbox = SQLiteOutbox(datastore)
        self.audit = SQLiteAudit(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            _CREATE_OUTBOX,
            _CREATE_OUTBOX_INDEX,
            _CREATE_OUTBOX_EVENT_INDEX,
            *SQLiteAudit.create_statements(),
        ]

    def create_table(self) -> None:
        super().create_table()
        self.audit.seal_existing()

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        messages = kwargs.get("outbox") or ()
        if messages:
            SQLiteOutbox.insert(c, messages)
        if stored_events:
            assert ids is not None and len(ids) == len(stored_events)
            SQLiteAudit.extend_chain(c, list(zip(ids, stored_events, strict=True)))
        return ids

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


#: mypy checks here that the recorder has every power of a PTM Ledger recorder.
_: type[PtmRecorder] = SQLiteLedgerRecorder


class Factory(SQLiteFactory):
    """SQLite infrastructure with the ledger's application recorder."""

    application_recorder_class = SQLiteLedgerRecorder
