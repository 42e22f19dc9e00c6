"""Contract test cases for the recorders of :mod:`adapters.storage`, written once and run
on every backend — in the style of the library's own ``eventsourcing.tests.persistence``
(``ApplicationRecorderTestCase`` and friends): a base case holds the tests, a backend
mixin says how to get a fresh, empty recorder, and each ``test_*`` module combines them.

* :class:`OutboxStoreContract` — :class:`notifications.outbox.OutboxStore`, and the rows
  written in the same transaction as the events.
* :class:`AuditStoreContract` — :class:`audit.chain.AuditStore`, and the chain linked in
  the same transaction as the events; :class:`DurableAuditStoreContract` adds what only
  a database keeps (a new recorder goes on from the stored head).
* :class:`RecorderContract` — the recorder is a :class:`adapters.storage.recorder.PtmRecorder`.

Backends: :class:`MemoryBackend`, :class:`SQLiteBackend` (a file in ``tmp_path``) and
:class:`PostgresBackend` (a fresh schema per test, from ``tests/conftest.py``'s
``pg_schema``; never skipped).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import unquote, urlsplit
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent
from eventsourcing.utils import Environment

from adapters.storage.recorder import PtmRecorder
from audit.chain import (
    GENESIS,
    AuditedRecorder,
    AuditStore,
    ChainRow,
    Digest,
    EventRow,
    chain_link,
    link_rows,
)
from ledger.messages import Channel, OutboxMessage, event_id
from notifications.outbox import PENDING, REDACTED, SENT, OutboxRow, OutboxStore

APP_NAME = "PTMContract"
TOPIC_A = "ledger.contract:Happened"
TOPIC_B = "ledger.contract:Noticed"

# --- backends ------------------------------------------------------------------------


class Backend(ABC):
    """How a contract case gets its recorders: one factory per test, on empty storage."""

    name: ClassVar[str]

    @abstractmethod
    def environment(self, request: pytest.FixtureRequest) -> dict[str, str]:
        """The eventsourcing environment of a fresh store for one test."""

    @pytest.fixture
    def factory(self, request: pytest.FixtureRequest) -> Iterator[InfrastructureFactory]:
        env = {"CREATE_TABLE": "y", "ORIGINATOR_ID_TYPE": "uuid", **self.environment(request)}
        factory = InfrastructureFactory.construct(Environment(APP_NAME, env))
        yield factory
        factory.close()

    @pytest.fixture
    def recorder(self, factory: InfrastructureFactory) -> PtmRecorder:
        recorder = factory.application_recorder()
        assert isinstance(recorder, PtmRecorder), type(recorder)
        return recorder


class MemoryBackend(Backend):
    name = "memory"

    def environment(self, request: pytest.FixtureRequest) -> dict[str, str]:
        return {"PERSISTENCE_MODULE": "adapters.storage.memory:Factory"}


class SQLiteBackend(Backend):
    name = "sqlite"

    def environment(self, request: pytest.FixtureRequest) -> dict[str, str]:
        path = request.getfixturevalue("tmp_path") / "contract.sqlite3"
        return {
            "PERSISTENCE_MODULE": "adapters.storage.sqlite:Factory",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
        }


class PostgresBackend(Backend):
    name = "postgres"

    def environment(self, request: pytest.FixtureRequest) -> dict[str, str]:
        url: str = request.getfixturevalue("pg_url")  # fails the test if the server is down
        schema: str = request.getfixturevalue("pg_schema")
        parts = urlsplit(url)
        return {
            "PERSISTENCE_MODULE": "adapters.storage.postgres:Factory",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "2",
            "POSTGRES_CONNECT_TIMEOUT": "5",
        }


# --- helpers -------------------------------------------------------------------------


def event(
    oid: UUID, version: int = 1, topic: str = TOPIC_A, state: bytes | None = None
) -> StoredEvent:
    return StoredEvent(
        originator_id=oid,
        originator_version=version,
        topic=topic,
        state=state if state is not None else f'{{"v":{version}}}'.encode(),
    )


def message(
    oid: UUID,
    version: int = 1,
    n: int = 0,
    *,
    channel: Channel = "email",
    params: dict[str, str] | None = None,
    secret_params: Sequence[str] = (),
    recipient: str = "compras@andina.example.co",
) -> OutboxMessage:
    eid = event_id(oid, version)
    return OutboxMessage(
        key=f"{eid}/{channel}/{n}",
        event_id=eid,
        channel=channel,
        recipient=recipient,
        template="purchase_confirmed",
        params=params if params is not None else {"n": str(n)},
        secret_params=tuple(secret_params),
    )


def wall_clock() -> datetime:
    return datetime.now(tz=UTC)


def row_of(store: OutboxStore, key: str) -> OutboxRow:
    (row,) = [r for r in store.all() if r.key == key]
    return row


def keys(rows: Sequence[OutboxRow]) -> list[str]:
    return [r.key for r in rows]


# --- the recorder --------------------------------------------------------------------


class RecorderContract:
    """Each backend's recorder is a PtmRecorder made of its users' interfaces."""

    def test_is_a_ptm_recorder(self, recorder: PtmRecorder) -> None:
        assert isinstance(recorder, PtmRecorder)
        assert isinstance(recorder, AuditedRecorder)
        assert isinstance(recorder.outbox, OutboxStore)
        assert isinstance(recorder.audit, AuditStore)

    def test_events_part_records_and_reads_back(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        assert recorder.max_notification_id() is None
        ids = recorder.insert_events([event(oid, 1), event(oid, 2, TOPIC_B)])
        assert ids is not None and len(ids) == 2 and ids[0] < ids[1]
        assert [e.originator_version for e in recorder.select_events(oid)] == [1, 2]
        page = recorder.select_notifications(None, 10, topics=[TOPIC_B])
        assert [(n.id, n.topic) for n in page] == [(ids[1], TOPIC_B)]
        assert recorder.max_notification_id() == ids[1]


# --- the outbox ----------------------------------------------------------------------


class OutboxStoreContract:
    """:class:`notifications.outbox.OutboxStore` on one backend."""

    def test_rows_are_written_with_their_events(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        before = wall_clock() - timedelta(seconds=5)
        m1 = message(oid, 1, 0, params={"code": "482913", "name": "Ana"}, secret_params=["code"])
        m2 = message(oid, 1, 1, channel="sms", recipient="+573009998877")
        recorder.insert_events([event(oid, 1)], outbox=[m1, m2])
        after = wall_clock() + timedelta(seconds=5)

        rows = recorder.outbox.all()
        assert keys(rows) == [m1.key, m2.key]
        first = rows[0]
        assert (first.event_id, first.channel, first.recipient, first.template) == (
            m1.event_id,
            "email",
            m1.recipient,
            "purchase_confirmed",
        )
        assert first.params == {"code": "482913", "name": "Ana"}  # kept until delivered
        assert first.secret_params == ("code",)
        assert rows[1].channel == "sms" and rows[1].recipient == "+573009998877"
        for r in rows:
            assert r.status == PENDING and r.attempts == 0
            assert r.sent_at is None and r.last_error is None and r.provider_ref is None
            assert before <= r.created_at <= after
            assert r.next_attempt_at == r.created_at  # due at once

    def test_events_without_messages_write_no_row(self, recorder: PtmRecorder) -> None:
        recorder.insert_events([event(uuid4())])
        recorder.insert_events([event(uuid4())], outbox=[])
        assert recorder.outbox.all() == []

    def test_messages_of_a_batch_are_written_together(self, recorder: PtmRecorder) -> None:
        a, b = uuid4(), uuid4()
        ma, mb = message(a), message(b)
        ids = recorder.insert_events([event(a), event(b)], outbox=[ma, mb])
        assert ids is not None and len(ids) == 2
        assert keys(recorder.outbox.all()) == [ma.key, mb.key]

    def test_a_failed_insert_leaves_no_row(self, recorder: PtmRecorder) -> None:
        taken, fresh = uuid4(), uuid4()
        kept = message(taken)
        recorder.insert_events([event(taken)], outbox=[kept])
        head = recorder.max_notification_id()

        lost = message(fresh)
        with pytest.raises(IntegrityError):  # version 1 of ``taken`` exists: a conflict
            recorder.insert_events([event(fresh), event(taken)], outbox=[lost])

        assert keys(recorder.outbox.all()) == [kept.key]
        assert recorder.outbox.caused_by(str(fresh)) == []
        assert recorder.select_events(fresh) == []  # nor its event
        assert recorder.max_notification_id() == head
        # The recorder goes on writing events and rows afterwards.
        again = message(fresh, n=1)
        recorder.insert_events([event(fresh)], outbox=[again])
        assert keys(recorder.outbox.all()) == [kept.key, again.key]

    def test_a_key_is_written_once(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        first = message(oid, 1, recipient="primero@example.co")
        recorder.insert_events([event(oid, 1)], outbox=[first])
        again = OutboxMessage(
            key=first.key,
            event_id=event_id(oid, 2),
            channel="email",
            recipient="segundo@example.co",
            template="purchase_confirmed",
        )
        recorder.insert_events([event(oid, 2)], outbox=[again])  # the event is recorded
        assert [(r.key, r.recipient) for r in recorder.outbox.all()] == [
            (first.key, "primero@example.co")
        ]
        assert len(recorder.select_events(oid)) == 2

    def test_due_is_pending_rows_oldest_first_up_to_limit(self, recorder: PtmRecorder) -> None:
        before = wall_clock() - timedelta(seconds=5)
        written = []
        for _ in range(3):
            oid = uuid4()
            m = message(oid)
            recorder.insert_events([event(oid)], outbox=[m])
            written.append(m.key)
        oid = uuid4()
        pair = [message(oid, n=0), message(oid, n=1)]
        recorder.insert_events([event(oid)], outbox=pair)
        written += [m.key for m in pair]
        later = wall_clock() + timedelta(seconds=5)

        store = recorder.outbox
        assert keys(store.due(later, 100)) == written
        assert keys(store.due(later, 2)) == written[:2]
        assert keys(store.due(later, 1)) == written[:1]
        assert store.due(before, 100) == []  # created after ``before``: not yet due
        assert store.mark_sent(written[0], later, "ref")
        assert keys(store.due(later, 2)) == written[1:3]  # sent rows are never due

    def test_a_failed_attempt_backs_off(self, recorder: PtmRecorder) -> None:
        a, b = uuid4(), uuid4()
        ma, mb = message(a), message(b)
        recorder.insert_events([event(a)], outbox=[ma])
        recorder.insert_events([event(b)], outbox=[mb])
        store = recorder.outbox
        now = wall_clock() + timedelta(seconds=5)
        retry_at = now + timedelta(minutes=1)

        store.mark_failed(ma.key, now, "SMTP 451 intente más tarde", retry_at)
        row = row_of(store, ma.key)
        assert (row.status, row.attempts, row.last_error) == (
            PENDING,
            1,
            "SMTP 451 intente más tarde",
        )
        assert row.next_attempt_at == retry_at
        assert keys(store.due(now, 10)) == [mb.key]  # backed off
        assert keys(store.due(retry_at - timedelta(seconds=1), 10)) == [mb.key]
        assert keys(store.due(retry_at + timedelta(seconds=1), 10)) == [ma.key, mb.key]

        store.mark_failed(ma.key, retry_at, "timeout", retry_at + timedelta(minutes=2))
        row = row_of(store, ma.key)
        assert (row.attempts, row.last_error) == (2, "timeout")  # counted, error replaced
        assert row.next_attempt_at == retry_at + timedelta(minutes=2)

    def test_a_long_error_is_cut(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        m = message(oid)
        recorder.insert_events([event(oid)], outbox=[m])
        now = wall_clock()
        recorder.outbox.mark_failed(m.key, now, "x" * 2000, now)
        assert row_of(recorder.outbox, m.key).last_error == "x" * 500

    def test_mark_sent_is_idempotent(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        m = message(oid)
        recorder.insert_events([event(oid)], outbox=[m])
        store = recorder.outbox
        now = wall_clock() + timedelta(seconds=1)
        store.mark_failed(m.key, now, "caído", now)

        sent_at = now + timedelta(seconds=30)
        assert store.mark_sent(m.key, sent_at, "SM123") is True
        assert store.mark_sent(m.key, sent_at + timedelta(seconds=5), "SM456") is False
        row = row_of(store, m.key)
        assert (row.status, row.provider_ref, row.sent_at) == (SENT, "SM123", sent_at)
        assert row.attempts == 2  # the failure and the delivery; the second call changed nothing
        assert row.last_error is None
        assert store.due(sent_at + timedelta(days=1), 10) == []

    def test_secret_params_are_blanked_once_sent(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        params = {"code": "482913", "link": "https://x.example/t/abc", "name": "Ana"}
        m = message(oid, params=params, secret_params=["code", "link"])
        other = message(oid, n=1, params={"code": "111111"}, secret_params=["code"])
        recorder.insert_events([event(oid)], outbox=[m, other])
        store = recorder.outbox
        assert store.mark_sent(m.key, wall_clock(), None)

        row = row_of(store, m.key)
        assert row.params == {"code": REDACTED, "link": REDACTED, "name": "Ana"}
        assert row.secret_params == ("code", "link")  # which ones were blanked stays known
        assert row.provider_ref is None
        assert row_of(store, other.key).params == {"code": "111111"}  # pending: intact

    def test_mark_failed_only_touches_pending_rows(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        m = message(oid)
        recorder.insert_events([event(oid)], outbox=[m])
        store = recorder.outbox
        now = wall_clock()
        assert store.mark_sent(m.key, now, "ref")
        sent = row_of(store, m.key)

        store.mark_failed(m.key, now, "late failure report", now + timedelta(hours=1))
        assert row_of(store, m.key) == sent
        assert sent.status == SENT and sent.attempts == 1 and sent.last_error is None

    def test_unknown_keys_change_nothing(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        m = message(oid)
        recorder.insert_events([event(oid)], outbox=[m])
        store = recorder.outbox
        rows = store.all()
        now = wall_clock()
        assert store.mark_sent("no-such-key", now, "ref") is False
        store.mark_failed("no-such-key", now, "boom", now)
        assert store.all() == rows

    def test_caused_by_finds_the_rows_of_one_aggregate(self, recorder: PtmRecorder) -> None:
        a, b = uuid4(), uuid4()
        a1, a2, b1 = message(a, 1), message(a, 2, channel="sms", recipient="+573001"), message(b)
        recorder.insert_events([event(a, 1)], outbox=[a1])
        recorder.insert_events([event(b, 1)], outbox=[b1])
        recorder.insert_events([event(a, 2)], outbox=[a2])
        store = recorder.outbox

        assert keys(store.caused_by(str(a))) == [a1.key, a2.key]
        assert keys(store.caused_by(str(b))) == [b1.key]
        assert store.caused_by(str(uuid4())) == []
        assert store.caused_by(str(a)[:8]) == []  # a whole aggregate id, not a prefix
        assert store.mark_sent(a1.key, wall_clock(), "r")
        assert [r.status for r in store.caused_by(str(a))] == [SENT, PENDING]  # sent too


# --- the audit chain -----------------------------------------------------------------


def record(recorder: PtmRecorder, *events: StoredEvent) -> list[int]:
    ids = recorder.insert_events(list(events))
    assert ids is not None and len(ids) == len(events)
    return list(ids)


def assert_chain_complete(store: AuditStore) -> None:
    """Every stored event has its link, computed from the one recorded before it."""
    rows = store.event_rows(0, 10_000)
    assert list(store.chain_rows(0, 10_000)) == list(link_rows(GENESIS, rows))


def digest(position: int, key_id: str, seconds: int = 0) -> Digest:
    return Digest(
        position=position,
        link=f"{position:02x}" * 32,
        signed_at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC) + timedelta(seconds=seconds),
        signature=f"{key_id}{position}".encode().hex(),
        key_id=key_id,
    )


class AuditStoreContract:
    """:class:`audit.chain.AuditStore` on one backend."""

    def test_an_empty_log(self, recorder: PtmRecorder) -> None:
        store = recorder.audit
        assert store.max_position() == 0
        assert store.event_rows(0, 10) == []
        assert store.events_of(uuid4(), None, 10) == []
        assert store.chain_head() is None
        assert store.chain_rows(0, 10) == []
        assert store.chain_row_before(1) is None
        assert store.digest_count() == 0
        assert store.latest_digests(0, 10) == []
        assert store.digests_after((0, ""), 10) == []

    def test_event_rows_are_the_stored_events(self, recorder: PtmRecorder) -> None:
        a, b = uuid4(), uuid4()
        raw = bytes(range(256))  # the stored bytes exactly, whatever they are
        ids = record(recorder, event(a, 1), event(a, 2, TOPIC_B, raw))
        ids += record(recorder, event(b, 1, state=b""))
        store = recorder.audit
        assert store.event_rows(0, 10) == [
            EventRow(ids[0], str(a), 1, TOPIC_A, b'{"v":1}'),
            EventRow(ids[1], str(a), 2, TOPIC_B, raw),
            EventRow(ids[2], str(b), 1, TOPIC_A, b""),
        ]
        assert store.max_position() == ids[2]

    def test_event_rows_by_position_range(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        topics = [TOPIC_A, TOPIC_B, TOPIC_A, TOPIC_B, TOPIC_A]
        ids = record(recorder, *(event(oid, v, t) for v, t in enumerate(topics, 1)))
        store = recorder.audit

        def positions(rows: Sequence[EventRow]) -> list[int]:
            return [r.position for r in rows]

        assert positions(store.event_rows(0, 100)) == ids
        assert positions(store.event_rows(ids[1], 100)) == ids[2:]  # ``after`` exclusive
        assert positions(store.event_rows(0, 100, stop=ids[2])) == ids[:3]  # ``stop`` inclusive
        assert positions(store.event_rows(ids[0], 2, stop=ids[4])) == ids[1:3]  # limit
        assert positions(store.event_rows(ids[4], 100)) == []
        assert positions(store.event_rows(0, 100, topics=[TOPIC_B])) == [ids[1], ids[3]]
        # The limit counts the rows that match the topics, not the rows scanned.
        assert positions(store.event_rows(0, 2, topics=[TOPIC_A])) == [ids[0], ids[2]]
        assert positions(store.event_rows(ids[1], 100, ids[3], [TOPIC_A])) == [ids[2]]
        assert store.event_rows(0, 100, topics=["ledger.contract:Never"]) == []

    def test_events_of_one_aggregate_in_version_order(self, recorder: PtmRecorder) -> None:
        a, b = uuid4(), uuid4()
        p2 = record(recorder, event(a, 2))[0]  # version 2 recorded before version 1
        record(recorder, event(b, 1))
        p1, p3 = record(recorder, event(a, 1), event(a, 3))
        store = recorder.audit

        rows = store.events_of(a, None, 10)
        assert [(r.originator_version, r.position) for r in rows] == [(1, p1), (2, p2), (3, p3)]
        assert all(r.originator_id == str(a) for r in rows)
        assert [r.originator_version for r in store.events_of(a, None, 2)] == [1, 2]
        # ``stop`` bounds the positions (the aggregate as of that point in the log).
        assert [r.originator_version for r in store.events_of(a, p2, 10)] == [2]
        assert [r.originator_version for r in store.events_of(a, p1, 10)] == [1, 2]
        assert store.events_of(b, p2, 10) == []
        assert store.events_of(uuid4(), None, 10) == []

    def test_links_are_written_with_the_events(self, recorder: PtmRecorder) -> None:
        a, b = uuid4(), uuid4()
        first = record(recorder, event(a, 1))
        store = recorder.audit
        link1 = chain_link(GENESIS, first[0], str(a), 1, TOPIC_A, b'{"v":1}')
        assert store.chain_head() == ChainRow(first[0], link1)

        batch = record(recorder, event(a, 2, TOPIC_B), event(b, 1))
        assert_chain_complete(store)
        head = store.chain_head()
        assert head is not None and head.position == batch[-1] == store.max_position()
        rows = store.chain_rows(0, 10)
        assert [r.position for r in rows] == first + batch
        assert rows[1].link == chain_link(link1, batch[0], str(a), 2, TOPIC_B, b'{"v":2}')

    def test_a_failed_insert_links_nothing(self, recorder: PtmRecorder) -> None:
        taken, fresh = uuid4(), uuid4()
        record(recorder, event(taken))
        store = recorder.audit
        head = store.chain_head()
        with pytest.raises(IntegrityError):
            recorder.insert_events([event(fresh), event(taken)])
        assert store.chain_head() == head
        assert len(store.chain_rows(0, 10)) == 1

        after = record(recorder, event(fresh))  # the chain goes on from the same head
        assert head is not None
        assert store.chain_rows(head.position, 10) == [
            ChainRow(after[0], chain_link(head.link, after[0], str(fresh), 1, TOPIC_A, b'{"v":1}'))
        ]
        assert_chain_complete(store)

    def test_chain_rows_by_position_range(self, recorder: PtmRecorder) -> None:
        oid = uuid4()
        ids = record(recorder, *(event(oid, v) for v in range(1, 6)))
        store = recorder.audit
        every = store.chain_rows(0, 100)
        assert [r.position for r in every] == ids

        assert store.chain_rows(ids[1], 100) == every[2:]  # ``after`` exclusive
        assert store.chain_rows(0, 100, stop=ids[2]) == every[:3]  # ``stop`` inclusive
        assert store.chain_rows(ids[0], 2, stop=ids[4]) == every[1:3]  # limit
        assert store.chain_rows(ids[4], 100) == []

        assert store.chain_row_before(ids[0]) is None  # strictly before
        assert store.chain_row_before(ids[3]) == every[2]
        assert store.chain_row_before(ids[4] + 100) == every[4] == store.chain_head()

    def test_digests_are_kept_once_per_position_and_key(self, recorder: PtmRecorder) -> None:
        store = recorder.audit
        d = digest(3, "k1")
        assert store.add_digest(d) is True
        assert store.add_digest(digest(3, "k1", seconds=60)) is False  # that key signed it
        assert store.add_digest(digest(3, "k2")) is True  # another key may sign it too
        assert store.digest_count() == 2
        assert store.latest_digests(0, 10) == [d, digest(3, "k2")]  # read back as written

    def test_latest_digests_newest_position_first(self, recorder: PtmRecorder) -> None:
        store = recorder.audit
        for position, key_id in [(2, "kb"), (5, "ka"), (2, "ka"), (9, "ka"), (5, "kb")]:
            assert store.add_digest(digest(position, key_id))
        order = [(d.position, d.key_id) for d in store.latest_digests(0, 10)]
        assert order == [(9, "ka"), (5, "ka"), (5, "kb"), (2, "ka"), (2, "kb")]
        page = [(d.position, d.key_id) for d in store.latest_digests(1, 2)]
        assert page == [(5, "ka"), (5, "kb")]  # offset, limit
        assert store.latest_digests(5, 10) == []
        assert store.digest_count() == 5

    def test_digests_after_a_position_and_key(self, recorder: PtmRecorder) -> None:
        store = recorder.audit
        for position, key_id in [(2, "kb"), (5, "ka"), (2, "ka"), (9, "ka"), (5, "kb")]:
            store.add_digest(digest(position, key_id))

        def after(pos: int, key: str, limit: int = 10, stop: int | None = None) -> list[object]:
            return [(d.position, d.key_id) for d in store.digests_after((pos, key), limit, stop)]

        assert after(0, "") == [(2, "ka"), (2, "kb"), (5, "ka"), (5, "kb"), (9, "ka")]
        assert after(2, "ka") == [(2, "kb"), (5, "ka"), (5, "kb"), (9, "ka")]  # exclusive
        assert after(5, "kb") == [(9, "ka")]
        assert after(0, "", limit=2) == [(2, "ka"), (2, "kb")]
        assert after(2, "kb", stop=5) == [(5, "ka"), (5, "kb")]  # ``stop`` inclusive
        assert after(9, "ka") == []
        (found,) = store.digests_after((8, ""), 10)
        assert found == digest(9, "ka")


class DurableAuditStoreContract(AuditStoreContract):
    """What a database adds: the chain outlives the recorder that wrote it."""

    def test_a_new_recorder_continues_the_chain(
        self, recorder: PtmRecorder, factory: InfrastructureFactory
    ) -> None:
        a = uuid4()
        first = record(recorder, event(a, 1), event(a, 2))
        recorder.audit.add_digest(digest(first[-1], "k1"))

        reopened = factory.application_recorder()  # creates no table, seals nothing again
        assert isinstance(reopened, PtmRecorder)
        store = reopened.audit
        assert store.chain_rows(0, 10) == recorder.audit.chain_rows(0, 10)
        assert store.latest_digests(0, 10) == [digest(first[-1], "k1")]

        more = record(reopened, event(a, 3))
        head = store.chain_head()
        assert head is not None and head.position == more[0]
        assert_chain_complete(store)
        assert recorder.audit.chain_head() == head  # one chain, whoever writes
