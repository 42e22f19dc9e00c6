"""PostgreSQL persistence (production, CI): the library's recorders plus an outbox
written in the same transaction as the events, and advisory locks that serialise
writers of one origin code across processes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from ptm.storage.outbox import PENDING, SENT, OutboxRow

OUTBOX_TABLE = "ptm_outbox"


def _row(r: DictRow) -> OutboxRow:
    return OutboxRow(
        key=r["key"],
        event_id=r["event_id"],
        channel=r["channel"],
        recipient=r["recipient"],
        template=r["template"],
        params=dict(r["params"]),
        secret_params=tuple(r["secret_params"]),
        created_at=r["created_at"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        sent_at=r["sent_at"],
        last_error=r["last_error"],
        provider_ref=r["provider_ref"],
    )


class PostgresOutbox:
    """Outbox rows in the same PostgreSQL schema as the events."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self.table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(OUTBOX_TABLE))

    def create_statements(self) -> list[Any]:
        return [
            SQL(
                "CREATE TABLE IF NOT EXISTS {t} ("
                "seq bigserial, key text PRIMARY KEY, event_id text NOT NULL, "
                "channel text NOT NULL, recipient text NOT NULL, template text NOT NULL, "
                "params jsonb NOT NULL, secret_params jsonb NOT NULL, "
                "created_at timestamptz NOT NULL DEFAULT now(), "
                "status text NOT NULL DEFAULT 'pending', attempts int NOT NULL DEFAULT 0, "
                "next_attempt_at timestamptz NOT NULL DEFAULT now(), sent_at timestamptz, "
                "last_error text, provider_ref text)"
            ).format(t=self.table),
            SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (status, next_attempt_at)").format(
                i=Identifier(f"{OUTBOX_TABLE}_due"), t=self.table
            ),
            SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (event_id text_pattern_ops)").format(
                i=Identifier(f"{OUTBOX_TABLE}_event"), t=self.table
            ),
        ]

    def insert(self, curs: Cursor[DictRow], messages: Sequence[Any]) -> None:
        curs.executemany(
            SQL(
                "INSERT INTO {t} (key, event_id, channel, recipient, template, params, "
                "secret_params) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (key) DO NOTHING"
            ).format(t=self.table),
            [
                (
                    m.key,
                    m.event_id,
                    m.channel,
                    m.recipient,
                    m.template,
                    Jsonb(m.params),
                    Jsonb(list(m.secret_params)),
                )
                for m in messages
            ],
        )

    def all(self) -> Sequence[OutboxRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT * FROM {t} ORDER BY seq").format(t=self.table))
            return [_row(r) for r in curs.fetchall()]

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT * FROM {t} WHERE status=%s AND next_attempt_at<=%s "
                    "ORDER BY seq LIMIT %s"
                ).format(t=self.table),
                (PENDING, now, limit),
            )
            return [_row(r) for r in curs.fetchall()]

    def caused_by(self, aggregate_id: str) -> Sequence[OutboxRow]:
        # event ids are "<aggregate id>:<version>"; the text_pattern_ops index serves LIKE.
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT * FROM {t} WHERE event_id LIKE %s ORDER BY seq").format(t=self.table),
                (f"{aggregate_id}:%",),
            )
            return [_row(r) for r in curs.fetchall()]

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("SELECT * FROM {t} WHERE key=%s FOR UPDATE").format(t=self.table), (key,)
            )
            r = curs.fetchone()
            if r is None or r["status"] == SENT:
                return False
            row = _row(r)
            curs.execute(
                SQL(
                    "UPDATE {t} SET status=%s, sent_at=%s, attempts=attempts+1, provider_ref=%s, "
                    "params=%s, last_error=NULL WHERE key=%s"
                ).format(t=self.table),
                (SENT, now, provider_ref, Jsonb(row.redacted()), key),
            )
            return True

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "UPDATE {t} SET attempts=attempts+1, last_error=%s, next_attempt_at=%s "
                    "WHERE key=%s AND status=%s"
                ).format(t=self.table),
                (error[:500], next_attempt_at, key, PENDING),
            )


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder with a transactional outbox."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.outbox = PostgresOutbox(datastore)
        self.sql_create_statements.extend(self.outbox.create_statements())

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        messages = kwargs.get("outbox") or ()
        if messages:
            self.outbox.insert(curs, messages)


class Factory(PostgresFactory):
    """PostgreSQL infrastructure with the ledger's application recorder."""

    application_recorder_class = PostgresLedgerRecorder


def advisory_key(key: str) -> int:
    """A signed 64-bit advisory-lock key from a string."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class AdvisoryLocker:
    """Serialise writers of the same keys across processes with session advisory locks.

    Keys are sorted, so two holders never wait on each other in a cycle; the locks are
    released explicitly (and by PostgreSQL if the connection dies).
    """

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    @contextmanager
    def hold(self, keys: Sequence[str]) -> Iterator[None]:
        ids = sorted({advisory_key(k) for k in keys})
        if not ids:
            yield
            return
        with self.datastore.get_connection() as conn:
            for i in ids:
                conn.execute("SELECT pg_advisory_lock(%s)", (i,))
            try:
                yield
            finally:
                for i in reversed(ids):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (i,))
