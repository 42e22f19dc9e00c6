"""The chain is extended as events are recorded, in the same transaction, without gaps —
on every backend and with concurrent writers — and the platform signs its head."""

from __future__ import annotations

import contextlib
import hashlib
import struct
import threading
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import IntegrityError, StoredEvent

from audit import signing
from audit.chain import GENESIS, AuditStore, ChainError, chain_link, link_rows
from audit.errors import ChainIntegrityError, EmptyLogError
from audit.service import AuditService
from kernel.errors import ConcurrencyError
from ledger.application import Ledger
from ptm.bootstrap import Services, build_ledger
from ptm.settings import Settings
from tests.audit.conftest import History, RawDB, make_history
from tests.conftest import FakeClock
from tests.helpers import make_world


def assert_chain_complete(store: AuditStore) -> None:
    events = store.event_rows(0, 100_000)
    assert events, "no events"
    assert list(link_rows(GENESIS, events)) == list(store.chain_rows(0, 100_000))


def test_every_event_is_linked_as_it_is_recorded(
    audit: AuditService, history: History, store: AuditStore
) -> None:
    assert_chain_complete(store)
    head = store.chain_head()
    assert head is not None and head.position == store.max_position()
    report = audit.verify()
    assert report.ok and report.seed_position == 0


def test_link_formula_is_the_documented_one() -> None:
    state = b'{"a":1}'
    expected = hashlib.sha256(
        GENESIS
        + struct.pack(">Q", 7)
        + struct.pack(">I", 3)
        + b"abc"
        + struct.pack(">Q", 2)
        + struct.pack(">I", 5)
        + b"t.o.p"
        + struct.pack(">Q", len(state))
        + state
    ).digest()
    assert chain_link(GENESIS, 7, "abc", 2, "t.o.p", state) == expected
    assert hashlib.sha256(b"ptm-ledger/chain/v1").digest() == GENESIS


def test_signing_key_is_derived_from_the_seed(settings: Settings) -> None:
    a = signing.derive_private_key(settings.secret("signing_key_seed"))
    b = signing.derive_private_key(settings.secret("signing_key_seed"))
    assert signing.key_id(a.public_key()) == signing.key_id(b.public_key())
    other = signing.derive_private_key(b"x" * 64)
    assert signing.key_id(other.public_key()) != signing.key_id(a.public_key())
    pem = signing.public_key_pem(a.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert signing.key_id(signing.load_public_key(pem.encode())) == signing.key_id(a.public_key())
    with pytest.raises(ValueError, match="al menos"):
        signing.derive_private_key(b"short")


def test_sign_on_demand_is_idempotent_until_the_head_moves(
    audit: AuditService, history: History, store: AuditStore
) -> None:
    first, created = audit.sign()
    assert created
    again, created = audit.sign()
    assert not created and again == first
    w = history.world
    w.app.cancel_purchase(purchase_id=history.pending, buyer_id=w.buyer, actor="b")
    moved, created = audit.sign()
    assert created and moved.position > first.position
    assert signing.check_digest(moved, {moved.key_id: audit.public_key()}) == "ok"
    digests, total = audit.digests(offset=0, limit=10)
    assert total == 2 and [d.position for d in digests] == [moved.position, first.position]


def test_nothing_to_sign_on_an_empty_log(audit: AuditService) -> None:
    with pytest.raises(EmptyLogError):
        audit.sign()


def test_periodic_signer_signs_when_the_head_moves(
    services: Services, clock: FakeClock, audit: AuditService, store: AuditStore
) -> None:
    signer = audit.periodic_signer(interval_s=10)
    assert signer.run_once() is None  # empty log: nothing to do, no error
    history = make_history(services, clock, confirmed=1)
    first = signer.run_once()
    assert first is not None and first.position == store.max_position()
    assert signer.run_once() is None
    w = history.world
    w.app.cancel_purchase(purchase_id=history.pending, buyer_id=w.buyer, actor="b")
    stop = threading.Event()
    stop.set()
    thread = threading.Thread(target=signer.run_forever, args=(stop,))
    thread.start()  # run_forever signs once before its first wait, then sees the stop
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert store.digest_count() == 2 and signer.failures == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_signer_refuses_a_broken_chain_and_keeps_running(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    w = history.world
    w.app.cancel_purchase(purchase_id=history.pending, buyer_id=w.buyer, actor="b")
    raw.set_state(store.max_position(), b"{}")
    signer = audit.periodic_signer(interval_s=10)
    with pytest.raises(ChainIntegrityError):
        signer.run_once()
    stop = threading.Event()
    stop.set()
    signer.run_forever(stop)  # logs, counts, does not raise
    assert signer.failures == 1 and store.digest_count() == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_recorder_refuses_to_fork_after_its_last_row_is_deleted(
    history: History, store: AuditStore, raw: RawDB
) -> None:
    raw.delete(store.max_position())  # SQLite would give the next event that position again
    w = history.world
    with pytest.raises(ChainError):
        w.app.register_production(
            operator_id=w.seller,
            mineral="ORO",
            quantity="5",
            expediente="EXP-001",
            department_code="05",
            municipality_code="05001",
            period="2026-02",
            code="OC-ORO-0099",
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_log_recorded_before_the_chain_is_sealed_once(
    settings: Settings, clock: FakeClock, raw: RawDB
) -> None:
    app = build_ledger(settings, clock=clock)
    make_world(app)
    app.close()
    raw.execute(f"DELETE FROM {raw.chain}")  # as if recorded by an older version
    app = build_ledger(settings, clock=clock)  # creating the tables seals the log
    store: AuditStore = app.recorder.audit  # type: ignore[attr-defined]
    assert_chain_complete(store)
    # A non-empty chain is never extended over unlinked rows: those are reported.
    head = store.max_position()
    oid, version, topic, state = raw.row(head)
    raw.insert(head + 1, oid, int(version) + 100, topic, bytes(state))
    app.close()
    app = build_ledger(settings, clock=clock)
    store = app.recorder.audit  # type: ignore[attr-defined]
    assert store.chain_head() is not None
    assert store.chain_head().position == head  # type: ignore[union-attr]
    app.close()


WRITERS = 8
PURCHASES_EACH = 5


@pytest.mark.postgres
def test_no_gaps_in_the_chain_with_concurrent_writers(
    pg_url: str, pg_schema: str, tmp_path: Path, clock: FakeClock
) -> None:
    def settings() -> Settings:
        return Settings(
            env="test",
            database_url=f"{pg_url}?schema={pg_schema}",
            var_dir=tmp_path,
            code_hmac_key="k" * 32,  # type: ignore[arg-type]
            signing_key_seed="e" * 64,  # type: ignore[arg-type]
            postgres_pool_size=3,
            # No cross-process serialisation of origin codes: more contention, more
            # version conflicts, hence rolled-back inserts and holes in the positions.
            advisory_locks=False,
            aggregate_cache_size=0,
            # Many submits to one seller within the hour: a raised cap, not none.
            guard_seller_messages=100_000,
        )

    setup = build_ledger(settings(), clock=clock)
    world = make_world(setup, quantities=("1000", "1000"))
    apps: list[Ledger] = [build_ledger(settings(), clock=clock) for _ in range(WRITERS)]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        app = apps[n]
        try:
            for i in range(PURCHASES_EACH):
                line = {
                    "origin_code": world.codes[(n + i) % 2],  # shared codes: conflicts happen
                    "mineral": "ORO",
                    "quantity": "1",
                    "unit_price": "1000",
                }
                pid = app.create_purchase(
                    buyer_id=world.buyer,
                    seller=world.seller_ref(),
                    transaction=world.transaction(),
                    actor=f"w{n}",
                )
                app.load_seller_data(
                    purchase_id=pid, party_id=world.buyer, channel="txt", lines=[line], actor="w"
                )
                # Retries exhausted under this contention is a clean refusal, not a failure.
                with contextlib.suppress(ConcurrencyError):
                    app.submit_purchase(purchase_id=pid, buyer_id=world.buyer, actor=f"w{n}")
        except BaseException as e:  # surfaced by the main thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    store: AuditStore = setup.recorder.audit  # type: ignore[attr-defined]
    events = store.event_rows(0, 100_000)
    links = store.chain_rows(0, 100_000)
    assert [e.position for e in events] == [c.position for c in links]  # no event unlinked
    assert list(link_rows(GENESIS, events)) == list(links)  # linked in commit order
    key = signing.derive_private_key(b"e" * 64)
    audit = AuditService(store=store, mapper=setup.mapper, seed=lambda: b"e" * 64)
    audit.sign()
    report = audit.verify(keys=[key.public_key()])
    assert report.ok and report.anchored_position == events[-1].position
    for app in [setup, *apps]:
        app.close()


@pytest.mark.parametrize("backend", ["postgres"])
def test_positions_skipped_by_a_rolled_back_insert_do_not_break_the_chain(
    audit: AuditService, history: History, store: AuditStore, services: Services
) -> None:
    recorder = services.ledger.recorder
    taken = store.event_rows(0, 1)[0]
    duplicate = StoredEvent(UUID(taken.originator_id), 1, taken.topic, taken.state)
    with pytest.raises(IntegrityError):
        recorder.insert_events([duplicate])  # the sequence moved on anyway
    w = history.world
    w.app.cancel_purchase(purchase_id=history.pending, buyer_id=w.buyer, actor="b")
    positions = [e.position for e in store.event_rows(0, 10_000)]
    assert positions[-1] > len(positions)  # a hole
    assert_chain_complete(store)
    assert audit.verify().ok


def test_other_key_cannot_vouch_for_the_chain(
    audit: AuditService, history: History, other_key: Ed25519PrivateKey
) -> None:
    audit.sign()
    report = audit.verify(keys=[other_key.public_key()])
    assert not report.ok
    assert [p.kind for p in report.problems] == ["digest_unknown_key"]
    assert report.anchored_position == 0
