"""Running the read models over the ledger's notification log.

The runner reads pages of notifications (decoded once, with the application's mapper,
so encryption and compression at rest are handled), applies each page to every
projection behind it in ONE transaction together with their tracking positions, and
advances. The tracking update is conditional on the position it started from, so two
runners on the same database never apply a page twice: the loser rolls back.

Waiting for new events: PostgreSQL wakes the runner with LISTEN/NOTIFY on the channel
the recorder notifies; SQLite and memory have no notifications, so the runner polls the
log (a polling subscription) every ``poll_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    Notification,
    PersistenceError,
)
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from projections import tables as t
from projections.views import ALL_VIEWS, Item, ReadModel, upsert

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000


class TrackingConflictError(Exception):
    """Another runner advanced the same projection first; this page is rolled back."""


class ProjectionRunner:
    """Applies pages of the notification log to a set of read models."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        engine: Engine,
        views: Sequence[ReadModel] | None = None,
        *,
        page_size: int = PAGE_SIZE,
        poll_s: float = 0.05,
    ) -> None:
        assert 1 <= page_size <= MAX_PAGE_SIZE
        self.recorder = recorder
        self.mapper = mapper
        self.engine = engine
        self.views = list(views) if views is not None else [v() for v in ALL_VIEWS]
        self.page_size = page_size
        self.poll_s = poll_s
        self._wake = threading.Event()
        self.applied = 0  # events applied by this runner (all views), for benchmarks

    # --- positions -----------------------------------------------------------------

    def positions(self, conn: Connection | None = None) -> dict[str, int]:
        """Tracking position of each view (0 = nothing applied)."""

        def read(c: Connection) -> dict[str, int]:
            rows = c.execute(select(t.tracking.c.name, t.tracking.c.position)).all()
            known = {r.name: int(r.position) for r in rows}
            return {v.name: known.get(v.name, 0) for v in self.views}

        if conn is not None:
            return read(conn)
        with self.engine.connect() as c:
            return read(c)

    def head(self) -> int:
        """Position of the newest event in the log."""
        return int(self.recorder.max_notification_id() or 0)

    def lag(self) -> dict[str, int]:
        """Events behind head, per view."""
        head = self.head()
        return {name: head - pos for name, pos in self.positions().items()}

    # --- applying ------------------------------------------------------------------

    def _decode(self, notifications: Sequence[Notification], topics: set[str]) -> list[Item]:
        return [
            Item(n.id, self.mapper.to_domain_event(n)) for n in notifications if n.topic in topics
        ]

    def run_page(self) -> int:
        """Apply the next page to the views behind; returns how many notifications it read."""
        positions = self.positions()
        start = min(positions.values())
        page = self.recorder.select_notifications(
            start=start, limit=self.page_size, inclusive_of_start=False
        )
        if not page:
            return 0
        last = page[-1].id
        decoded: dict[int, Item] = {}
        wanted = {topic for v in self.views for topic in v.topics}
        for item in self._decode(page, wanted):
            decoded[item.position] = item
        now = datetime.now(tz=UTC)
        try:
            with self.engine.begin() as conn:
                for view in self.views:
                    pos = positions[view.name]
                    if pos >= last:
                        continue
                    topics = set(view.topics)
                    items = [decoded[n.id] for n in page if n.id > pos and n.topic in topics]
                    view.apply(conn, items)
                    self._advance(conn, view.name, pos, last, now)
                    self.applied += len(items)
        except TrackingConflictError:
            log.info("another runner applied positions up to %s first", last)
            return 0
        return len(page)

    @staticmethod
    def _advance(conn: Connection, name: str, old: int, new: int, now: datetime) -> None:
        res = conn.execute(
            update(t.tracking)
            .where(t.tracking.c.name == name, t.tracking.c.position == old)
            .values(position=new, updated_at=now)
        )
        if res.rowcount == 1:
            return
        if old == 0:
            try:
                with conn.begin_nested():
                    conn.execute(
                        t.tracking.insert(), [{"name": name, "position": new, "updated_at": now}]
                    )
                return
            except IntegrityError:
                pass
        raise TrackingConflictError(name)

    def catch_up(self, progress: Callable[[int], object] | None = None) -> int:
        """Apply everything up to the head as it is now; returns notifications read."""
        total = 0
        while True:
            n = self.run_page()
            if n == 0:
                return total
            total += n
            if progress is not None:
                progress(n)

    def rebuild(self, name: str, progress: Callable[[int], object] | None = None) -> int:
        """Drop one view's rows and replay the whole log into it."""
        views = [v for v in self.views if v.name == name]
        if not views:
            raise KeyError(f"no projection named {name!r}: {[v.name for v in self.views]}")
        with self.engine.begin() as conn:
            views[0].reset(conn)
            conn.execute(t.tracking.delete().where(t.tracking.c.name == name))
        solo = ProjectionRunner(
            self.recorder, self.mapper, self.engine, views, page_size=self.page_size
        )
        return solo.catch_up(progress)

    # --- waiting -------------------------------------------------------------------

    def wait(self, position: int, timeout_s: float = 5.0) -> bool:
        """Block until every view reached ``position`` (bounded); True if it did."""
        deadline = time.monotonic() + timeout_s
        delay = 0.002
        while True:
            if min(self.positions().values()) >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Back off on the tracking table, never a blind fixed sleep.
            self._wake.wait(min(delay, remaining))
            delay = min(delay * 2, 0.1)

    def wake(self) -> None:
        """Tell a waiting runner that new events were written (same process)."""
        self._wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        """Apply new events as they arrive until ``stop`` is set."""
        listener = self._start_listener(stop)
        try:
            while not stop.is_set():
                try:
                    n = self.run_page()
                except (OperationalError, PersistenceError):
                    # The database is restarting or out of connections: wait and go on.
                    log.exception("read-model database unavailable; retrying")
                    stop.wait(1.0)
                    continue
                if n == 0:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
        finally:
            if listener is not None:
                listener.join(timeout=2)

    def _start_listener(self, stop: threading.Event) -> threading.Thread | None:
        channel = getattr(self.recorder, "channel_name", None)
        datastore = getattr(self.recorder, "datastore", None)
        if channel is None or datastore is None or not hasattr(datastore, "get_connection"):
            return None  # SQLite and memory: polling only

        def listen() -> None:
            from psycopg.sql import SQL, Identifier  # noqa: PLC0415

            while not stop.is_set():
                try:
                    with datastore.get_connection() as conn:
                        conn.execute(SQL("LISTEN {0}").format(Identifier(channel)))
                        while not stop.is_set():
                            for _ in conn.notifies(timeout=0.5, stop_after=1):
                                self._wake.set()
                except Exception:  # the runner still polls; reconnect after a pause
                    log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                    stop.wait(1.0)

        th = threading.Thread(target=listen, name="ptm-projections-listen", daemon=True)
        th.start()
        return th


def ensure_tracking_rows(engine: Engine, names: Sequence[str]) -> None:
    """Create zero tracking rows so runners only ever update them."""
    now = datetime.now(tz=UTC)
    with engine.begin() as conn:
        existing = {r.name for r in conn.execute(select(t.tracking.c.name))}
        upsert(
            conn,
            t.tracking,
            [{"name": n, "position": 0, "updated_at": now} for n in names if n not in existing],
        )
