"""Replay as of a position or instant, from the event log alone, equals the balances
read model at the same position — page after page of a projection run."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent

from audit import replay
from audit.chain import AuditStore
from audit.errors import RangeTooLargeError
from audit.service import AuditService
from kernel.errors import NotFoundError
from ledger.origin import OriginCode, origin_code_id
from projections import queries
from projections.balances import BalancesView
from projections.runner import ProjectionRunner
from ptm.bootstrap import Services
from tests.audit.conftest import History


def as_rows(result: replay.ReplayResult) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(r.holder_id, r.origin_code): (r.available, r.reserved) for r in result.rows}


def live_rows(services: Services) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {
        (r["holder_id"], r["origin_code"]): (r["available"], r["reserved"])
        for r in queries.all_balances(services.engine)
    }


def test_replay_equals_the_read_model_at_every_page(
    services: Services, audit: AuditService, history: History
) -> None:
    # A balances projection of its own, advanced a few events at a time.
    runner = ProjectionRunner(
        services.ledger.recorder,
        services.ledger.mapper,
        services.engine,
        views=[BalancesView()],
        page_size=3,
    )
    checked = 0
    while runner.run_page():
        position = runner.positions()["balances"]
        result = audit.replay(position=position)
        assert result.position == position
        assert as_rows(result) == live_rows(services), f"at position {position}"
        checked += 1
    assert checked >= 10
    diff = audit.diff()
    assert diff.rows == [] and diff.position == diff.read_model_position == runner.head()


def test_diff_at_an_earlier_position_shows_what_moved_since(
    services: Services, audit: AuditService, history: History, store: AuditStore
) -> None:
    services.runner.catch_up()
    last_transfer = [
        r.position
        for r in store.event_rows(0, 10_000, None, replay.TOPICS)
        if r.topic.endswith("Transferred")
    ][-1]
    diff = audit.diff(position=last_transfer - 1)
    w = history.world
    moved = {(r.holder_id, r.origin_code) for r in diff.rows}
    assert (str(w.buyer), w.codes[0]) in moved or (str(w.buyer), w.codes[1]) in moved


def test_replay_as_of_an_instant_maps_to_the_last_event_stamped_before_it(
    audit: AuditService, history: History, store: AuditStore
) -> None:
    decoder = replay.Decoder(audit.mapper)  # type: ignore[arg-type]
    rows = store.event_rows(0, 10_000, None, replay.TOPICS)
    for row in rows[::3]:
        stamped = decoder.timestamp(row)
        at_instant = audit.replay(timestamp=stamped)
        at_position = audit.replay(position=row.position)
        assert at_instant.last_event_position == row.position
        assert at_instant.excluded_late == 0
        assert as_rows(at_instant) == as_rows(at_position)
    before_all = audit.replay(timestamp=decoder.timestamp(rows[0]) - timedelta(seconds=1))
    assert before_all.rows == [] and before_all.events_folded == 0


def test_replay_of_one_origin_code_and_of_one_holder(audit: AuditService, history: History) -> None:
    w = history.world
    everything = audit.replay()
    one_code = audit.replay(origin_code=w.codes[1].lower())
    assert one_code.rows == [r for r in everything.rows if r.origin_code == w.codes[1]]
    buyer = audit.replay(holder_id=w.buyer)
    assert buyer.rows == [r for r in everything.rows if r.holder_id == str(w.buyer)]
    oc = w.app.get_origin_code(w.codes[1])
    rows = {r.holder_id: r for r in one_code.rows}
    for holder, available in oc.available.items():
        assert rows[holder].available == available
    assert sum(r.available + r.reserved for r in one_code.rows) == oc.produced


def test_unknown_origin_code_is_not_found(audit: AuditService, history: History) -> None:
    with pytest.raises(NotFoundError):
        audit.replay(origin_code="OC-NO-EXISTE")


class PlainTranscoder(JSONTranscoder):
    """Not the library's exact class: the replay must take the generic decoding path."""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_fast_and_generic_decoding_agree(
    services: Services, audit: AuditService, history: History, store: AuditStore
) -> None:
    mapper: Mapper[Any] = services.ledger.mapper
    transcoder = PlainTranscoder()
    services.ledger.register_transcodings(transcoder)
    generic = Mapper(transcoder, mapper.compressor, mapper.cipher)
    fast = replay.replay(store, mapper)
    slow = replay.replay(store, generic)
    assert replay.Decoder(generic).fast is False and replay.Decoder(mapper).fast is True
    assert fast.rows == slow.rows and fast.events_folded == slow.events_folded > 0


def test_cached_replays_continue_and_stay_exact(
    audit: AuditService, history: History, store: AuditStore
) -> None:
    cache = replay.ReplayCache()
    head = store.max_position()
    half = replay.replay(store, audit.mapper, position=head // 2, cache=cache)  # type: ignore[arg-type]
    full = replay.replay(store, audit.mapper, cache=cache)  # type: ignore[arg-type]
    again = replay.replay(store, audit.mapper, position=head // 2, cache=cache)  # type: ignore[arg-type]
    fresh = replay.replay(store, audit.mapper)  # type: ignore[arg-type]
    assert full.rows == fresh.rows and again.rows == half.rows
    with pytest.raises(RangeTooLargeError):
        replay.replay(store, audit.mapper, max_events=3)  # type: ignore[arg-type]
    with pytest.raises(RangeTooLargeError):
        code = history.world.codes[0]
        replay.replay(store, audit.mapper, origin_code=code, max_events=2)  # type: ignore[arg-type]
    assert {OriginCode.__name__} <= {t.split(":")[1].split(".")[0] for t in replay.TOPICS}


@pytest.mark.parametrize("backend", ["memory"])
def test_events_stamped_out_of_commit_order_are_kept_by_their_stamp(
    services: Services, audit: AuditService, history: History, store: AuditStore
) -> None:
    """Writer A stamps its event, writer B stamps a later one and commits first: as of
    an instant between the two stamps, B's event is in, A's (committed after) is out."""
    decoder = replay.Decoder(services.ledger.mapper)
    w = history.world
    base = max(decoder.timestamp(r) for r in store.event_rows(0, 10_000)) + timedelta(hours=1)
    recorded = []
    for code, late_s in ((w.codes[0], 10), (w.codes[1], 5)):  # A stamped later, recorded first
        rows = store.events_of(origin_code_id(code), None, 10_000)
        template = next(r for r in rows if r.topic.endswith("Reserved"))
        doc = json.loads(template.state)
        doc["timestamp"]["_data_"] = (base + timedelta(seconds=late_s)).isoformat()
        doc["purchase_id"]["_data_"] = uuid4().hex
        state = json.dumps(doc).encode()
        event = StoredEvent(
            origin_code_id(code), rows[-1].originator_version + 1, template.topic, state
        )
        services.ledger.recorder.insert_events([event])
        recorded.append(store.max_position())
    between = audit.replay(timestamp=base + timedelta(seconds=7))
    assert between.last_event_position == recorded[1]
    assert between.excluded_late == 1
    after = audit.replay(timestamp=base + timedelta(seconds=11))
    assert after.excluded_late == 0 and after.last_event_position == recorded[1]
    assert as_rows(after) == as_rows(audit.replay())
