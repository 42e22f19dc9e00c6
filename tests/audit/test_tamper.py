"""Tampering with the stored rows, by raw SQL, on SQLite and PostgreSQL: every edit,
deletion, insertion and reordering is detected and located (position and kind), and a
history rewritten together with its links is caught by the signed digest."""

from __future__ import annotations

import json

import pytest
from eventsourcing.utils import get_topic

from audit.chain import GENESIS, AuditStore, link_rows
from audit.errors import ChainIntegrityError
from audit.service import AuditService
from audit.verify import Report
from ledger.origin import OriginCode
from tests.audit.conftest import History, RawDB

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


def positions_of(store: AuditStore, kind: str) -> list[int]:
    topic = get_topic(getattr(OriginCode, kind))
    return [r.position for r in store.event_rows(0, 10_000, None, (topic,))]


def findings(report: Report) -> set[tuple[int, str]]:
    """Where and what, leaving out the digests that the change invalidates."""
    return {(p.position, p.kind) for p in report.problems if not p.kind.startswith("digest")}


def signed(audit: AuditService, report: Report) -> bool:
    """The digest signed before tampering no longer matches the recomputed chain."""
    return any(p.kind == "digest_mismatch" for p in report.problems)


def test_untouched_history_verifies_and_links_every_event(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    digest, created = audit.sign()
    assert created
    events = store.event_rows(0, 10_000)
    assert [e.position for e in events] == raw.positions()
    assert list(link_rows(GENESIS, events)) == list(store.chain_rows(0, 10_000))
    report = audit.verify()
    assert report.ok, report.problems
    assert report.events == report.links == len(events)
    assert report.anchored_position == digest.position == events[-1].position


def test_edited_state_is_located(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    p = positions_of(store, "Reserved")[0]
    doc = json.loads(bytes(raw.row(p)[3]))
    doc["quantity"]["_data_"] = "900.00"  # more than was reserved
    raw.set_state(p, json.dumps(doc).encode())
    report = audit.verify()
    assert findings(report) == {(p, "edited")}
    assert "Posición" in report.problems[0].detail
    assert signed(audit, report)


def test_deleted_row_is_located(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    p = positions_of(store, "Transferred")[0]
    raw.delete(p)
    report = audit.verify()
    assert findings(report) == {(p, "deleted")}
    assert signed(audit, report)


def test_row_deleted_with_its_link_is_located_at_the_next_position(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    p = positions_of(store, "Transferred")[0]
    raw.delete(p, link_too=True)
    report = audit.verify()
    after = next(x for x in raw.positions() if x > p)
    assert findings(report) == {(after, "edited")}
    assert "hueco" in report.problems[0].detail
    assert signed(audit, report)


def test_swapped_positions_are_located(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    p, q = positions_of(store, "Reserved")[:2]
    raw.swap_positions(p, q)
    report = audit.verify()
    assert findings(report) == {(p, "reordered"), (q, "reordered")}
    assert {x.related for x in report.problems if x.kind == "reordered"} == {p, q}


def test_swapped_states_are_located(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    p = positions_of(store, "Reserved")[0]
    q = positions_of(store, "Transferred")[-1]
    raw.swap_states(p, q)
    report = audit.verify()
    assert findings(report) == {(p, "state_swapped"), (q, "state_swapped")}


def test_forged_row_is_located(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    audit.sign()
    p = positions_of(store, "Transferred")[0]
    oid, version, topic, state = raw.row(p)
    head = store.max_position()
    # Another transfer of the same lot, as if a purchase had been confirmed twice.
    raw.insert(head + 1, oid, 1000 + int(version), topic, bytes(state))
    report = audit.verify()
    assert findings(report) == {(head + 1, "inserted")}
    assert report.anchored_position == head  # what was signed still holds


def test_moved_row_is_located_at_both_ends(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    p = positions_of(store, "Reserved")[-1]
    far = store.max_position() + 5
    raw.execute(f"UPDATE {raw.events} SET {raw.pos} = ? WHERE {raw.pos} = ?", (far, p))
    report = audit.verify()
    assert findings(report) == {(p, "moved"), (far, "moved")}


def test_edited_link_is_located(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    p = positions_of(store, "Produced")[0]
    raw.set_link(p, bytes(32))
    report = audit.verify()
    assert findings(report) == {(p, "edited")}  # the next positions verify again


def test_history_rewritten_with_its_links_is_caught_by_the_digest(
    audit: AuditService, history: History, store: AuditStore, raw: RawDB
) -> None:
    digest, _ = audit.sign()
    p = positions_of(store, "Transferred")[0]
    doc = json.loads(bytes(raw.row(p)[3]))
    doc["to_holder_id"]["_data_"] = "0" * 32  # the lot went to someone else
    raw.set_state(p, json.dumps(doc).encode())
    # Whoever has the database but not the key recomputes every link after the edit.
    before = store.chain_row_before(p)
    assert before is not None
    for row in link_rows(before.link, store.event_rows(p - 1, 10_000)):
        raw.set_link(row.position, row.link)
    report = audit.verify()
    assert findings(report) == set()  # the stored chain is consistent again…
    assert [(x.position, x.kind) for x in report.problems] == [
        (digest.position, "digest_mismatch")  # …but not what the platform signed
    ]
    w = history.world
    w.app.cancel_purchase(purchase_id=history.pending, buyer_id=w.buyer, actor="b")
    with pytest.raises(ChainIntegrityError) as refused:
        audit.sign()  # and the platform will not sign the rewrite
    assert refused.value.code == "chain_broken"
