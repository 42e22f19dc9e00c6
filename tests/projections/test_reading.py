"""How the runner reads the log: JSON documents instead of event objects, pages read
ahead while the previous one is written, fewer garbage collections during a backlog —
and still every event applied exactly once."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import Mapper, Transcoder
from sqlalchemy import select

from projections import stored
from projections import tables as t
from projections.custody import CustodyView
from projections.purchases import PurchasesView
from projections.readmodel import ReadModel
from projections.runner import ProjectionRunner, UnreadableEventError, refuse_upcasting
from projections.views import ALL_VIEWS
from ptm.bootstrap import Services
from testkit.readmodels import assert_equals_fresh_replay
from tests.conftest import FakeClock
from tests.projections.test_read_models import scripted_history


def runner_for(
    services: Services, page_size: int, views: list[ReadModel] | None = None
) -> ProjectionRunner:
    """Another runner on the services' log and read models."""
    return ProjectionRunner(
        services.ledger.recorder,
        services.ledger.mapper,
        services.engine,
        views,
        page_size=page_size,
    )


def event_count_per_view(services: Services) -> dict[str, int]:
    """How many events each view consumes in the whole log."""
    store = services.runner.source
    rows = store.event_rows(0, 1_000_000)
    return {v.name: sum(1 for r in rows if r.topic in set(v.topics)) for v in services.runner.views}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("only", [None, "purchases", "custody"])
def test_concurrent_catch_ups_apply_each_event_exactly_once(
    services: Services, clock: FakeClock, only: str | None
) -> None:
    w = scripted_history(services, clock)
    for i in range(6):  # a longer log: more pages to race for
        pid, code = w.submitted([w.line(i % 2, "1.5")])
        services.ledger.validate_purchase(purchase_id=pid, buyer_id=w.buyer, code=code, actor="b")
    # Runners of one view only write new rows (plain inserts) first thing in a page:
    # the loser of a race must stop at the tracking update, not on a duplicate key.
    view_sets = {None: list(ALL_VIEWS), "purchases": [PurchasesView], "custody": [CustodyView]}
    for _ in range(ROUNDS):  # the race is timing-dependent: run it a few times
        race(services, [v() for v in view_sets[only]])
    if only is None:
        assert_equals_fresh_replay(services)


ROUNDS = 4


def race(services: Services, views: list[ReadModel]) -> None:
    """Empty the views, then let four runners catch them up at the same time."""
    with services.engine.begin() as conn:
        for view in views:
            view.reset(conn)
            conn.execute(t.tracking.delete().where(t.tracking.c.name == view.name))
    runners = [runner_for(services, size, [type(v)() for v in views]) for size in (2, 3, 5, 7)]
    start = threading.Barrier(len(runners))
    errors: list[BaseException] = []

    def run(r: ProjectionRunner) -> None:
        try:
            start.wait()
            while r.catch_up():  # returns early when another runner got a page first
                pass
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors
    while any(r.catch_up() for r in runners):  # whoever lost the last race finishes
        pass
    assert set(runners[0].lag().values()) == {0}
    # Every event applied once over all runners: the counts add up exactly.
    counts = event_count_per_view(services)
    assert sum(r.applied for r in runners) == sum(counts[v.name] for v in views)


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_catch_up_reads_ahead_and_equals_page_by_page(services: Services, clock: FakeClock) -> None:
    scripted_history(services, clock)
    ahead = runner_for(services, 4)
    head = ahead.head()
    assert head > 4 * stored.DEPTH  # more pages than the read-ahead holds
    assert ahead.catch_up() == head
    assert ahead.applied == sum(event_count_per_view(services).values())
    assert_equals_fresh_replay(services)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unreadable_event_is_reported_with_its_position(
    services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_history(services, clock)
    store = services.runner.source
    rows = store.event_rows(0, 10_000)
    victim = next(r for r in rows if r.topic.endswith("OriginCode.Reserved"))
    raw: Any = store  # the SQLite recorder's rows
    with raw.datastore.transaction(commit=True) as c:
        c.execute(
            f"UPDATE {raw.events_table} SET state = ? WHERE rowid = ?",
            (b'{"quantity": {"_data_": ', victim.position),
        )
    runner = runner_for(services, 5)
    # The long-running worker logs it and stays up (its lag shows on /health).
    stop = threading.Event()
    with caplog.at_level(logging.ERROR, logger="projections.runner"):
        worker = threading.Thread(target=runner.run_forever, args=(stop,))
        worker.start()
        deadline = time.monotonic() + 10
        while "unreadable event" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert f"posición {victim.position}" in caplog.text
    with pytest.raises(UnreadableEventError) as info:
        runner.catch_up()
    assert info.value.position == victim.position
    assert f"posición {victim.position}" in str(info.value)
    # Nothing at or after the damaged page was applied: each view stopped before it.
    assert max(runner.positions().values()) < victim.position
    with services.engine.connect() as conn:
        custody = conn.execute(select(t.custody.c.position)).scalars().all()
    assert all(p < victim.position for p in custody)


class OtherTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


def test_the_reader_refuses_documents_it_cannot_read() -> None:
    with pytest.raises(stored.UnsupportedTranscoderError, match="JSONTranscoder"):
        stored.document_reader(Mapper(transcoder=OtherTranscoder()))


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_fewer_collections_is_shared_and_restores_the_thresholds(
    default_thresholds: tuple[int, int, int],
) -> None:
    raised = (stored.BULK_GC_THRESHOLD, 10, stored.BULK_GC_FULL_THRESHOLD)
    with stored.fewer_collections():
        assert gc.get_threshold() == raised
        with stored.fewer_collections():  # a second user (another runner) shares it
            assert gc.get_threshold() == raised
        assert gc.get_threshold() == raised  # still in use by the first
    assert gc.get_threshold() == default_thresholds
    with pytest.raises(RuntimeError), stored.fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == default_thresholds


def test_prefetch_hands_over_reader_errors_and_stops_its_thread() -> None:
    def pages() -> Iterator[list[int]]:
        yield [1]
        yield [2]
        raise OSError("connection lost")

    got = []
    with pytest.raises(OSError, match="connection lost"):
        for page in stored.prefetch(pages()):
            got.append(page)
    assert got == [[1], [2]]

    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            n += 1
            produced.append(n)
            yield n

    before = threading.active_count()
    reader = stored.prefetch(endless(), depth=2)
    assert next(reader) == 1
    reader.close()  # the consumer gives up: the reader thread ends
    assert threading.active_count() == before
    assert len(produced) <= 2 + 3  # bounded read-ahead, not the endless source


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_catch_up_stops_between_pages_when_asked(services: Services, clock: FakeClock) -> None:
    scripted_history(services, clock)
    runner = runner_for(services, 3)
    stop = threading.Event()
    stop.set()
    assert runner.catch_up(stop=stop) == 0  # asked to stop before the first page
    stop.clear()
    pages: list[int] = []

    def one_page_then_stop(n: int) -> None:
        pages.append(n)
        stop.set()

    assert runner.catch_up(progress=one_page_then_stop, stop=stop) == 3
    assert pages == [3]
    assert set(runner.positions().values()) == {3}
    stop.clear()
    assert runner.catch_up(stop=stop) == runner.head() - 3  # and goes on from there


class Versioned:
    class_version = 2


def test_views_refuse_events_that_would_need_upcasting() -> None:
    refuse_upcasting("ledger.purchase:Purchase.Created")  # version 1: read as stored
    with pytest.raises(TypeError, match="class_version 2"):
        refuse_upcasting(f"{__name__}:Versioned")
