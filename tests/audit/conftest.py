"""Audit fixtures: a small history on the test backend, the platform's keys, and raw
SQL access to the stored rows — what someone tampering with the database would use."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.storage.recorder import recorder_of
from audit.chain import AuditStore
from audit.service import AuditService
from ptm.bootstrap import Services, build_audit
from ptm.settings import Settings
from tests.api.conftest import ctx, users  # noqa: F401 - the API tests' fixtures, shared
from tests.conftest import FakeClock
from tests.helpers import World, make_world


@dataclass
class History:
    """A world with confirmed, cancelled and pending purchases."""

    world: World
    purchases: list[str]
    pending: UUID


def make_history(services: Services, clock: FakeClock, confirmed: int = 3) -> History:
    """~35 events: production, confirmed purchases, one cancelled, one pending."""
    app = services.ledger
    w = make_world(app)
    done = []
    for i in range(confirmed):
        pid, code = w.submitted([w.line(i % 2, str(10 + i))])
        app.validate_purchase(purchase_id=pid, buyer_id=w.buyer, code=code, actor="b")
        clock.advance(minutes=1)
        done.append(str(pid))
    pid, _ = w.submitted([w.line(0, "7")])
    app.cancel_purchase(purchase_id=pid, buyer_id=w.buyer, actor="b")
    pending, _ = w.submitted([w.line(1, "3.5")])  # a reservation stays
    return History(w, done, pending)


@pytest.fixture
def history(services: Services, clock: FakeClock) -> History:
    return make_history(services, clock)


@pytest.fixture
def audit(services: Services) -> AuditService:
    return build_audit(services)


@pytest.fixture
def store(services: Services) -> AuditStore:
    return recorder_of(services.ledger).audit


@pytest.fixture
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


class RawDB:
    """Direct SQL on the event and chain tables, bypassing the recorder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.is_sqlite():
            self.kind = "sqlite"
            self.path = settings.database_url.removeprefix("sqlite:///")
            self.events, self.pos, self.chain = "stored_events", "rowid", "ptm_chain"
        else:
            assert settings.is_postgres()
            self.kind = "postgres"
            url, _, query = settings.database_url.partition("?schema=")
            self.url, self.schema = url, query
            self.events = f'"{query}".ptmledger_events'
            self.pos = "notification_id"
            self.chain = f'"{query}".ptm_chain'

    def _ph(self, sql: str) -> str:
        return sql if self.kind == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.path)
            try:
                rows = conn.execute(sql, params).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as c:
            cur = c.execute(self._ph(sql), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def row(self, position: int) -> tuple[Any, ...]:
        oid = "originator_id" if self.kind == "sqlite" else "originator_id::text"
        return self.execute(
            f"SELECT {oid}, originator_version, topic, state FROM {self.events} "
            f"WHERE {self.pos} = ?",
            (position,),
        )[0]

    def positions(self) -> list[int]:
        return [r[0] for r in self.execute(f"SELECT {self.pos} FROM {self.events} ORDER BY 1")]

    def set_state(self, position: int, state: bytes) -> None:
        self.execute(f"UPDATE {self.events} SET state = ? WHERE {self.pos} = ?", (state, position))

    def delete(self, position: int, *, link_too: bool = False) -> None:
        self.execute(f"DELETE FROM {self.events} WHERE {self.pos} = ?", (position,))
        if link_too:
            self.execute(f"DELETE FROM {self.chain} WHERE position = ?", (position,))

    def swap_positions(self, p: int, q: int) -> None:
        tmp = -1
        for a, b in ((p, tmp), (q, p), (tmp, q)):
            self.execute(f"UPDATE {self.events} SET {self.pos} = ? WHERE {self.pos} = ?", (b, a))

    def swap_states(self, p: int, q: int) -> None:
        a, b = self.row(p)[3], self.row(q)[3]
        self.set_state(p, bytes(b))
        self.set_state(q, bytes(a))

    def insert(self, position: int, oid: str, version: int, topic: str, state: bytes) -> None:
        cols = f"{self.pos}, originator_id, originator_version, topic, state"
        self.execute(
            f"INSERT INTO {self.events} ({cols}) VALUES (?, ?, ?, ?, ?)",
            (position, oid, version, topic, state),
        )

    def set_link(self, position: int, link: bytes) -> None:
        self.execute(f"UPDATE {self.chain} SET link = ? WHERE position = ?", (link.hex(), position))


@pytest.fixture
def raw(settings: Settings) -> Iterator[RawDB]:
    yield RawDB(settings)
