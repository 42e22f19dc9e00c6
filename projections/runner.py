"""Running the read models over the ledger's event log.

The runner reads pages of stored events (position, originator, version, topic and the
stored bytes), takes each event's JSON document once (decrypted and decompressed with
the application's cipher and compressor, see ``projections.stored``), applies each page
to every projection behind it in ONE transaction together with their tracking positions,
and advances. The tracking update is conditional on the position it started from, so two
runners on the same database never apply a page twice: the loser rolls back.

Catching up on a backlog, the next page is read and decoded in a thread while the
current one is written: the database works in its own process, so its reads and writes
overlap the runner's Python work.

Waiting for new events: PostgreSQL wakes the runner with LISTEN/NOTIFY on the channel
the recorder notifies; SQLite and memory have no notifications, so the runner polls the
log (a polling subscription) every ``poll_s``.

Waiting for the read models (read-your-writes): :meth:`ProjectionRunner.wait` blocks its
thread (scripts, tests); :meth:`ProjectionRunner.wait_async` awaits a future instead and
holds no thread. The async waiters of a process are resolved by the runner itself as it
applies pages (same process), and by one watcher thread that reads the tracking
positions every ``watch_s`` while anyone waits (a runner in another process): however
many requests wait, they cost one thread and one small query per interval, and their
number is bounded (:class:`TooManyWaitersError`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from eventsourcing.persistence import ApplicationRecorder, Mapper, PersistenceError
from eventsourcing.utils import resolve_topic
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from projections import tables as t
from projections.documents import Item
from projections.readmodel import ReadModel
from projections.stored import (
    EventSource,
    RowsRecorder,
    document_reader,
    fewer_collections,
    prefetch,
)
from projections.views import ALL_VIEWS

log = logging.getLogger(__name__)

PAGE_SIZE = 5000
MAX_PAGE_SIZE = 10_000
#: Seconds between attempts to read past an event that could not be decoded.
UNREADABLE_RETRY_S = 30.0


class UnreadableEventError(Exception):
    """A stored event could not be decoded (wrong key, damaged row)."""

    def __init__(self, position: int, cause: Exception) -> None:
        super().__init__(
            f"No se pudo decodificar el evento de la posición {position} "
            f"({type(cause).__name__}): ¿clave de cifrado distinta o fila dañada?"
        )
        self.position = position


@dataclass(frozen=True, slots=True)
class Page:
    """Rows read from the log: the events the views want, decoded, and how far it went."""

    last: int  # position of the last row read (wanted or not)
    count: int  # rows read
    items: list[Item]


def event_source(recorder: ApplicationRecorder) -> EventSource:
    """The raw rows of a recorder: the recorders of ``adapters.storage`` offer them as ``audit``."""
    if not isinstance(recorder, RowsRecorder) or not isinstance(recorder.audit, EventSource):
        raise TypeError(
            f"{type(recorder).__name__} no ofrece sus filas almacenadas (atributo 'audit'); "
            "use los registradores de adapters.storage."
        )
    return recorder.audit


def refuse_upcasting(topic: str) -> None:
    """The views read stored documents as written: an event class that upcasts old
    documents (``class_version`` > 1) would be folded without its upcasters."""
    version = getattr(resolve_topic(topic), "class_version", 1)
    if version != 1:
        raise TypeError(
            f"{topic} tiene class_version {version}: las proyecciones leen el documento "
            "almacenado sin convertirlo; añada la conversión a las vistas antes de subirla."
        )


class TrackingConflictError(Exception):
    """Another runner advanced the same projection first; this page is rolled back."""


class TooManyWaitersError(Exception):
    """As many reads as allowed already wait for the read models in this process."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} reads already wait for the read models")
        self.limit = limit


@dataclass(eq=False, slots=True)
class _Waiter:
    """One awaiting read: the position it needs and the future that wakes it."""

    position: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]

    def release(self) -> None:
        """Resolve the future, from any thread (a closed loop has nobody to wake)."""
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


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
        watch_s: float = 0.02,
    ) -> None:
        assert 1 <= page_size <= MAX_PAGE_SIZE
        self.recorder = recorder
        self.source = event_source(recorder)
        self.mapper = mapper
        self.engine = engine
        self.views = list(views) if views is not None else [v() for v in ALL_VIEWS]
        self.page_size = page_size
        self.poll_s = poll_s
        self._read_document = document_reader(mapper)
        # topic → event class name, for every topic some view consumes
        self._kinds = {
            topic: topic.rpartition(".")[2] for view in self.views for topic in view.topics
        }
        self._topics = {view.name: frozenset(view.topics) for view in self.views}
        for topic in self._kinds:
            refuse_upcasting(topic)
        self._wake = threading.Event()
        self.applied = 0  # events applied by this runner (all views), for benchmarks
        #: Seconds between two reads of the tracking positions while reads wait.
        self.watch_s = watch_s
        # Highest position every view is known to have reached (monotonic; a cache of
        # the tracking table) and the highest head seen, so most reads ask nothing.
        self._reached = 0
        self._head_seen = 0
        self._waiters: set[_Waiter] = set()
        self._waiters_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._watch_wake = threading.Event()

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
        return self.source.max_position()

    def lag(self) -> dict[str, int]:
        """Events behind head, per view."""
        head = self.head()
        return {name: head - pos for name, pos in self.positions().items()}

    # --- applying ------------------------------------------------------------------

    def _read(self, after: int, stop: int | None = None) -> Page | None:
        """The page after ``after`` (up to ``stop``), decoded; None at the end."""
        rows = self.source.event_rows(after, self.page_size, stop)
        if not rows:
            return None
        kinds, read = self._kinds, self._read_document
        items = []
        for r in rows:
            kind = kinds.get(r.topic)
            if kind is None:
                continue
            try:
                doc = read(r.state)
            except (ValueError, TypeError, InvalidTag, zlib.error) as e:
                raise UnreadableEventError(r.position, e) from e
            items.append(
                Item(r.position, kind, r.topic, r.originator_id, r.originator_version, doc)
            )
        return Page(rows[-1].position, len(rows), items)

    def _apply(self, page: Page, positions: dict[str, int]) -> None:
        """Apply a page to the views behind it, in one transaction; updates ``positions``.

        Raises TrackingConflictError (everything rolled back) if another runner moved a
        view's position meanwhile.
        """
        now = datetime.now(tz=UTC)
        advanced = []
        applied = 0
        with self.engine.begin() as conn:
            for view in self.views:
                pos = positions[view.name]
                if pos >= page.last:
                    continue
                topics = self._topics[view.name]
                items = [it for it in page.items if it.position > pos and it.topic in topics]
                # The conditional tracking update first: a runner that lost the race
                # stops here (PostgreSQL: after waiting on the row lock), before it
                # writes a row the winner already wrote.
                self._advance(conn, view.name, pos, page.last, now)
                view.apply(conn, items)
                advanced.append(view.name)
                applied += len(items)
        for name in advanced:
            positions[name] = page.last
        self.applied += applied
        self._observe(min(positions.values(), default=0))

    def run_page(self) -> int:
        """Apply the next page to the views behind; returns how many events it read."""
        positions = self.positions()
        page = self._read(min(positions.values()))
        if page is None or not self._apply_unless_taken(page, positions):
            return 0
        return page.count

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

    def _pages(self, after: int, stop: int) -> Iterator[Page]:
        while after < stop:
            page = self._read(after, stop)
            if page is None:
                return
            yield page
            after = page.last

    def catch_up(
        self,
        progress: Callable[[int], object] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Apply everything up to the head; returns how many events it read.

        Page by page while the runner is near the head; after a full page (a backlog)
        the following pages, up to the head as it is then, are read ahead in a thread.
        Stops early (returning what it read) if another runner applies the same pages,
        or between two pages once ``stop`` is set.
        """
        total = 0
        while stop is None or not stop.is_set():
            positions = self.positions()
            first = self._read(min(positions.values()))
            if first is None:
                return total
            with closing(self._from(first)) as pages:
                for page in pages:
                    if not self._apply_unless_taken(page, positions):
                        return total
                    total += page.count
                    if progress is not None:
                        progress(page.count)
                    if stop is not None and stop.is_set():
                        return total
        return total

    def _from(self, first: Page) -> Generator[Page, None, None]:
        """``first``, then — if it was full, a backlog — the pages after it up to the head
        as it is now, read ahead in a thread (stopped when this generator is closed)."""
        yield first
        if first.count < self.page_size:
            return  # at the head, or nearly: the caller looks once more
        with fewer_collections(), closing(prefetch(self._pages(first.last, self.head()))) as rest:
            yield from rest

    def _apply_unless_taken(self, page: Page, positions: dict[str, int]) -> bool:
        try:
            self._apply(page, positions)
        except TrackingConflictError:
            log.info("another runner applied positions up to %s first", page.last)
            return False
        return True

    def rebuild(self, name: str, progress: Callable[[int], object] | None = None) -> int:
        """Drop one view's rows and replay the whole log into it."""
        views = [v for v in self.views if v.name == name]
        if not views:
            raise KeyError(f"no projection named {name!r}: {[v.name for v in self.views]}")
        with self.engine.begin() as conn:
            views[0].reset(conn)
            conn.execute(t.tracking.delete().where(t.tracking.c.name == name))
        with self._waiters_lock:
            self._reached = 0  # that view starts again from nothing
        solo = ProjectionRunner(
            self.recorder, self.mapper, self.engine, views, page_size=self.page_size
        )
        return solo.catch_up(progress)

    # --- waiting -------------------------------------------------------------------

    def wait(self, position: int, timeout_s: float = 5.0) -> bool:
        """Block until every view reached ``position`` (bounded); True if it did.

        Holds the calling thread: for scripts and tests. Requests use :meth:`wait_async`.
        """
        deadline = time.monotonic() + timeout_s
        delay = 0.002
        while True:
            if self.reached() >= position:
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

    def reached(self) -> int:
        """The position every view reached (read from the tracking table)."""
        reached = min(self.positions().values(), default=0)
        self._observe(reached)
        return reached

    def progress(self, position: int) -> tuple[int, int]:
        """``(reached, head)`` as far as ``position`` needs them: cached values when they
        already answer, otherwise read from the database (a quick query each)."""
        head = self._head_seen
        if position > head:
            head = self._head_seen = max(self._head_seen, self.head())
        reached = self._reached
        if reached < position <= head:
            reached = self.reached()
        return reached, head

    @property
    def waiting(self) -> int:
        """How many async reads wait for the read models now."""
        return len(self._waiters)

    async def wait_async(
        self, position: int, timeout_s: float = 5.0, *, max_waiters: int | None = None
    ) -> bool:
        """Await (bounded) until every view reached ``position``; True if it did.

        Holds no thread while it waits: the future it awaits is resolved by the runner
        when it applies the position, or by the watcher thread that reads the tracking
        table. Raises :class:`TooManyWaitersError` at once when ``max_waiters`` reads
        already wait.
        """
        if self._reached >= position:
            return True
        loop = asyncio.get_running_loop()
        waiter = _Waiter(position, loop, loop.create_future())
        with self._waiters_lock:
            if max_waiters is not None and len(self._waiters) >= max_waiters:
                raise TooManyWaitersError(max_waiters)
            self._waiters.add(waiter)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="ptm-read-waits", daemon=True
                )
                self._watcher.start()
        self._watch_wake.set()
        if self._reached >= position:  # reached between the first look and registering
            waiter.release()
        try:
            await asyncio.wait_for(waiter.future, timeout_s)
        except TimeoutError:
            return False
        finally:
            with self._waiters_lock:
                self._waiters.discard(waiter)
        return True

    async def progress_async(self, position: int) -> tuple[int, int]:
        """:meth:`progress` off the event loop: when it must read the database, in the
        loop's default executor (a bounded pool), never on the loop itself."""
        if self._reached >= position:
            return self._reached, max(self._head_seen, position)
        return await asyncio.to_thread(self.progress, position)

    def _observe(self, reached: int) -> None:
        """Every view reached ``reached``: wake the waiters it satisfies."""
        with self._waiters_lock:
            if reached <= self._reached:
                return
            self._reached = reached
            self._head_seen = max(self._head_seen, reached)
            ready = [w for w in self._waiters if w.position <= reached]
        for w in ready:
            w.release()

    def _watch(self) -> None:
        """While reads wait: read the tracking positions every ``watch_s``."""
        while True:
            with self._waiters_lock:
                if not self._waiters:
                    self._watcher = None
                    return
            try:
                self.reached()
            except Exception:  # the database is away: the waits time out, as bounded
                log.warning("could not read the projection positions", exc_info=True)
            self._watch_wake.wait(self.watch_s)
            self._watch_wake.clear()

    def run_forever(self, stop: threading.Event) -> None:
        """Apply new events as they arrive until ``stop`` is set."""
        listener = self._start_listener(stop)
        try:
            while not stop.is_set():
                try:
                    n = self.catch_up(stop=stop)
                except (OperationalError, PersistenceError):
                    # The database is restarting or out of connections: wait and go on.
                    log.exception("read-model database unavailable; retrying")
                    stop.wait(1.0)
                    continue
                except UnreadableEventError:
                    # Wrong cipher key or a damaged row: nothing past it is applied, the
                    # lag on /health grows, and the worker stays up to retry once the
                    # configuration is fixed (a dead thread would tell nobody).
                    log.exception("projections stopped at an unreadable event; retrying")
                    stop.wait(UNREADABLE_RETRY_S)
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
