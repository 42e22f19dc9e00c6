"""Balances as they were at any position or instant, from the event log alone.

The replay reads the stored OriginCode events (Produced, Reserved, ReservationReleased,
Transferred) in notification order and folds them into available / reserved per holder
and origin code — the same arithmetic as the balances read model, but independent of it
(no read-model table is read), so comparing the two checks the read model.

Decoding uses the application's mapper: its cipher and compressor undo encryption and
compression at rest. With the standard JSON transcoder the fold reads the few fields it
needs straight from the JSON (a ``{"_type_": …, "_data_": …}`` pair for ids, decimals and
datetimes) instead of building event objects, which is what makes it fast; any other
transcoder goes through ``mapper.to_domain_event``.

**Holders by name.** Every balance names its holder's razón social and document, taken
from the organisation's ``Registered`` event folded in the same pass: the names are those
on record as of the replayed position or instant, from the event log alone.

**Position or instant.** As of position *P* means every event with position ≤ *P*. As
of an instant *t* means every event whose stored ``timestamp`` ≤ *t*. A writer stamps an
event when it decides it and the log orders events when they commit, so across
aggregates timestamps are ordered only approximately (within one aggregate they are
ordered, versions being decided one after the other). The replay therefore scans up to
the first position whose event is stamped later than *t* + ``TIMESTAMP_SLACK_S`` (found by
bisection, assuming that bound) and keeps the events stamped ≤ *t*; it reports the
position of the last event kept and how many events before it were left out for being
stamped after *t* (almost always 0, in which case "as of *t*" equals "as of that
position").
"""

from __future__ import annotations

import contextlib
import threading
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from audit.chain import AuditStore, EventRow
from audit.errors import RangeTooLargeError, ReplayError
from audit.redact import redact
from ledger.origin import OriginCode, origin_code_id
from ledger.registry import Organisation
from projections.stored import document_reader, prefetch

PRODUCED, RESERVED, RELEASED, TRANSFERRED = 0, 1, 2, 3
# Event classes are made by the @event decorator, so they are looked up by name (and
# the lookup fails loudly here if one is ever renamed).
KINDS: dict[str, int] = {
    get_topic(getattr(OriginCode, name)): kind
    for name, kind in (
        ("Produced", PRODUCED),
        ("Reserved", RESERVED),
        ("ReservationReleased", RELEASED),
        ("Transferred", TRANSFERRED),
    )
}
TOPICS: tuple[str, ...] = tuple(KINDS)
#: An organisation's registration: the name and document of a holder.
REGISTERED = 4
HOLDER_TOPICS: tuple[str, ...] = tuple(
    get_topic(getattr(Organisation, name)) for name in ("Registered",)
)
#: What the replay reads from the log: origin-code events and holder registrations.
SCAN_TOPICS: tuple[str, ...] = TOPICS + HOLDER_TOPICS
_FOLDED: dict[str, int] = {**KINDS, **dict.fromkeys(HOLDER_TOPICS, REGISTERED)}

#: Notifications read per query.
PAGE_SIZE = 10_000
#: Events of one aggregate read at most (an origin code's whole history).
MAX_AGGREGATE_EVENTS = 10_000_000
#: How late (seconds) an event may commit after a later-stamped one (see the docstring).
TIMESTAMP_SLACK_S = 300.0
ZERO = Decimal(0)


@dataclass(frozen=True)
class Holder:
    """Who a holder is, as registered: razón social and document."""

    name: str
    doc_type: str
    doc_number: str

    @property
    def document(self) -> str:
        """Document type and number (``NIT 900512347-2``)."""
        return f"{self.doc_type} {self.doc_number}"


@dataclass(frozen=True)
class BalanceRow:
    """Balance of one holder on one origin code (the holder's name and document when
    its registration is in the replayed history)."""

    holder_id: str
    origin_code: str
    mineral: str
    unit: str
    available: Decimal
    reserved: Decimal
    holder: Holder | None = None


@dataclass
class ReplayState:
    """Balances folded from the events up to ``position`` (a replay can continue)."""

    position: int = 0
    #: origin aggregate id (canonical text) → (code, mineral, unit)
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    #: origin aggregate id → holder id (hex) → [available, reserved]
    balances: dict[str, dict[str, list[Decimal]]] = field(default_factory=dict)
    #: holder id (hex) → its registered name and document
    holders: dict[str, Holder] = field(default_factory=dict)
    events_read: int = 0
    events_folded: int = 0
    last_event_position: int = 0
    excluded_late: int = 0

    def copy(self) -> ReplayState:
        """An independent copy (cached states are never mutated)."""
        return ReplayState(
            position=self.position,
            codes=dict(self.codes),
            balances={
                oid: {h: list(v) for h, v in per.items()} for oid, per in self.balances.items()
            },
            holders=dict(self.holders),
            events_read=self.events_read,
            events_folded=self.events_folded,
            last_event_position=self.last_event_position,
            excluded_late=self.excluded_late,
        )

    def rows(self, holder_id: UUID | None = None) -> list[BalanceRow]:
        """Balance rows sorted by holder and origin code (optionally one holder's)."""
        wanted = holder_id.hex if holder_id is not None else None
        out = []
        for oid, per in self.balances.items():
            code, mineral, unit = self.codes.get(oid, ("?", "?", "?"))
            for h, (available, reserved) in per.items():
                if wanted is not None and h != wanted:
                    continue
                out.append(
                    BalanceRow(
                        str(UUID(h)),
                        code,
                        mineral,
                        unit,
                        available,
                        reserved,
                        self.holders.get(h),
                    )
                )
        out.sort(key=lambda r: (r.holder_id, r.origin_code))
        return out

    def holders_by_id(self) -> dict[str, Holder]:
        """The registered holders, by id in its canonical text."""
        return {str(UUID(h)): who for h, who in self.holders.items()}


@dataclass(frozen=True)
class ReplayResult:
    """Balances as of a position or instant, and how they were obtained."""

    position: int
    timestamp: datetime | None
    head: int
    origin_code: str | None
    holder_id: UUID | None
    events_read: int
    events_folded: int
    last_event_position: int
    excluded_late: int
    rows: list[BalanceRow]
    #: Registered holders as of the replay, by id (canonical text).
    holders: dict[str, Holder] = field(default_factory=dict)


class Decoder:
    """Reads the stored OriginCode events with the application's mapper, quickly."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.fast = type(mapper.transcoder) is JSONTranscoder
        # With the JSON transcoder: the stored document, read as the projections read it.
        self.document = document_reader(mapper) if self.fast else None

    def plain(self, row: EventRow) -> Any:
        """The event's JSON document (decrypted and decompressed), as plain JSON."""
        assert self.document is not None, "only with the JSON transcoder"
        return redact(self.document(row.state))

    def timestamp(self, row: EventRow) -> datetime:
        """The stored timestamp of an event."""
        if self.fast:
            return datetime.fromisoformat(self.plain(row)["timestamp"]["_data_"])
        return self._event(row).timestamp  # type: ignore[no-any-return]

    def _event(self, row: EventRow) -> Any:
        oid: UUID | str = row.originator_id
        with contextlib.suppress(ValueError):  # text ids stay text
            oid = UUID(row.originator_id)
        return self.mapper.to_domain_event(
            StoredEvent(oid, row.originator_version, row.topic, row.state)
        )

    def as_plain(self, row: EventRow) -> dict[str, Any]:
        """The fields the fold reads, in the fast path's JSON shape, for any transcoder."""
        if self.fast:
            return self.plain(row)  # type: ignore[no-any-return]
        e = self._event(row)
        # Credentials (old user events) never leave the decoder in clear.

        def wrap(v: Any) -> Any:
            if isinstance(v, UUID):
                return {"_data_": v.hex}
            if isinstance(v, Decimal):
                return {"_data_": str(v)}
            if isinstance(v, datetime):
                return {"_data_": v.isoformat()}
            return v

        return redact({k: wrap(v) for k, v in vars(e).items()})  # type: ignore[no-any-return]


def fold(
    state: ReplayState,
    rows: Iterable[EventRow],
    decoder: Decoder,
    *,
    until: datetime | None = None,
) -> None:
    """Fold origin-code events into ``state`` (events stamped after ``until`` skipped)."""
    kinds = _FOLDED
    codes, balances, holders = state.codes, state.balances, state.holders
    document = decoder.document
    dec, fromiso = Decimal, datetime.fromisoformat
    read = folded = late = pending_late = 0
    last = state.last_event_position
    position = 0
    try:
        for r in rows:
            position = r.position
            read += 1
            kind = kinds.get(r.topic)
            if kind is None:
                continue
            d = document(r.state) if document is not None else decoder.as_plain(r)
            if kind == REGISTERED:
                # Who a holder is; not a balance movement, so it is not counted.
                if until is None or fromiso(d["timestamp"]["_data_"]) <= until:
                    holders[UUID(r.originator_id).hex] = Holder(
                        d["name"], d["doc_type"], d["doc_number"]
                    )
                continue
            if until is not None:
                if fromiso(d["timestamp"]["_data_"]) > until:
                    pending_late += 1
                    continue
                # Only events stamped late BEFORE one that is kept count as left out.
                late += pending_late
                pending_late = 0
            oid = r.originator_id
            q = dec(d["quantity"]["_data_"])
            per = balances.get(oid)
            if per is None:
                per = balances[oid] = {}
            if kind == RESERVED:
                b = per.get(h := d["holder_id"]["_data_"])
                if b is None:
                    b = per[h] = [ZERO, ZERO]
                b[0] -= q
                b[1] += q
            elif kind == TRANSFERRED:
                b = per.get(h := d["from_holder_id"]["_data_"])
                if b is None:
                    b = per[h] = [ZERO, ZERO]
                b[1] -= q
                b = per.get(h := d["to_holder_id"]["_data_"])
                if b is None:
                    b = per[h] = [ZERO, ZERO]
                b[0] += q
            elif kind == RELEASED:
                b = per.get(h := d["holder_id"]["_data_"])
                if b is None:
                    b = per[h] = [ZERO, ZERO]
                b[0] += q
                b[1] -= q
            else:
                codes[oid] = (d["code"], d["mineral"], d["unit"])
                b = per.get(h := d["operator_id"]["_data_"])
                if b is None:
                    b = per[h] = [ZERO, ZERO]
                b[0] += q
            folded += 1
            last = position
    except (KeyError, TypeError, ValueError, InvalidOperation, InvalidTag, zlib.error) as e:
        raise ReplayError(
            f"No se pudo decodificar el evento de la posición {position} "
            f"({type(e).__name__}): ¿clave de cifrado distinta o fila dañada?",
            position=position,
        ) from e
    finally:
        state.events_read += read
        state.events_folded += folded
        state.excluded_late += late
        state.last_event_position = last


def _page_reads(store: AuditStore, after: int, stop: int) -> Iterator[Sequence[EventRow]]:
    while after < stop:
        rows = store.event_rows(after, PAGE_SIZE, stop, SCAN_TOPICS)
        if not rows:
            return
        yield rows
        after = rows[-1].position


def _pages(
    store: AuditStore, after: int, stop: int, progress: Callable[[int], object] | None
) -> Iterator[EventRow]:
    """The origin-code events after ``after`` up to ``stop``, read ahead."""
    position = after
    for page in prefetch(_page_reads(store, after, stop)):
        yield from page
        if progress is not None:
            progress(page[-1].position - position)
        position = page[-1].position
    if progress is not None and stop > position:
        progress(stop - position)


def advance(
    state: ReplayState,
    store: AuditStore,
    decoder: Decoder,
    stop: int,
    *,
    until: datetime | None = None,
    progress: Callable[[int], object] | None = None,
) -> ReplayState:
    """Fold the events after ``state.position`` up to ``stop`` into ``state``."""
    fold(state, _pages(store, state.position, stop, progress), decoder, until=until)
    state.position = max(state.position, stop)
    return state


def first_position_after(store: AuditStore, decoder: Decoder, instant: datetime, head: int) -> int:
    """Smallest position whose event is stamped after ``instant`` (head + 1 if none).

    Bisection over positions; it assumes stamps are ordered by position to within the
    slack the caller adds to ``instant``.
    """
    lo, hi = 1, head + 1  # answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        rows = store.event_rows(mid - 1, 1, None, ())  # first event at or after mid
        if not rows:
            hi = mid
            continue
        try:
            stamped = decoder.timestamp(rows[0])
        except (KeyError, TypeError, ValueError, InvalidTag, zlib.error) as e:
            raise ReplayError(
                f"No se pudo leer la fecha del evento de la posición {rows[0].position}.",
                position=rows[0].position,
            ) from e
        if stamped > instant:
            hi = mid
        else:
            # Every position from mid to this event's (a hole, then it) is stamped ≤ instant.
            lo = rows[0].position + 1
    return lo


class ReplayCache:
    """Recent replay states of one store, by position: a later replay continues from
    the nearest earlier state instead of the start of the log (positions never change
    what they hold, so a state stays valid)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._states: list[ReplayState] = []

    def nearest(self, position: int) -> ReplayState:
        """A copy of the cached state closest below ``position`` (or an empty one)."""
        with self._lock:
            best = None
            for s in self._states:
                if s.position <= position and (best is None or s.position > best.position):
                    best = s
            return best.copy() if best is not None else ReplayState()

    def keep(self, state: ReplayState) -> None:
        """Remember a state (the oldest is forgotten beyond ``size``)."""
        with self._lock:
            self._states = [s for s in self._states if s.position != state.position]
            self._states.append(state.copy())
            self._states = self._states[-self.size :]


_CACHES: weakref.WeakKeyDictionary[Any, ReplayCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(store: AuditStore) -> ReplayCache:
    """The replay cache of a store (one per recorder, for the life of the recorder)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = ReplayCache()
        return cache


def replay(
    store: AuditStore,
    mapper: Mapper[Any],
    *,
    position: int | None = None,
    timestamp: datetime | None = None,
    origin_code: str | None = None,
    holder_id: UUID | None = None,
    max_events: int | None = None,
    cache: ReplayCache | None = None,
    progress: Callable[[int], object] | None = None,
    on_total: Callable[[int], object] | None = None,
) -> ReplayResult:
    """Balances as of ``position`` (default: head) or as of ``timestamp``.

    ``max_events`` bounds the positions one call may read (the API's limit); the
    ``cache`` lets a call start from an earlier replay's state.
    """
    assert position is None or timestamp is None, "position or timestamp, not both"
    decoder = Decoder(mapper)
    head = store.max_position()
    until = None
    if timestamp is not None:
        if timestamp.tzinfo is None:
            raise ValueError("timestamp without time zone")
        until = timestamp
        stop = (
            first_position_after(
                store, decoder, timestamp + timedelta(seconds=TIMESTAMP_SLACK_S), head
            )
            - 1
        )
    else:
        stop = head if position is None else min(max(position, 0), head)

    if origin_code is not None:
        # One aggregate: its own events by id, not the whole log.
        most = MAX_AGGREGATE_EVENTS if max_events is None else min(max_events, MAX_AGGREGATE_EVENTS)
        rows = store.events_of(origin_code_id(origin_code), stop, most + 1)
        if len(rows) > most:
            raise RangeTooLargeError(
                f"El código de origen tiene más de {most} eventos; use «ptm audit replay».",
                field="origin_code",
            )
        state = ReplayState()
        fold(state, rows, decoder, until=until)
        for per in state.balances.values():
            for h in per:
                fold(state, store.events_of(UUID(h), stop, 1), decoder, until=until)
        state.position = stop
    else:
        state = cache.nearest(stop) if cache is not None and until is None else ReplayState()
        if max_events is not None and stop - state.position > max_events:
            raise RangeTooLargeError(
                f"La reproducción leería {stop - state.position} posiciones; el máximo por "
                f"consulta es {max_events}. Use «ptm audit replay» para historias largas.",
                field="position",
            )
        if on_total is not None:
            on_total(stop - state.position)
        advance(state, store, decoder, stop, until=until, progress=progress)
        if cache is not None and until is None:
            cache.keep(state)
    return ReplayResult(
        position=stop,
        timestamp=timestamp,
        head=head,
        origin_code=origin_code,
        holder_id=holder_id,
        events_read=state.events_read,
        events_folded=state.events_folded,
        last_event_position=state.last_event_position,
        excluded_late=state.excluded_late,
        rows=state.rows(holder_id),
        holders=state.holders_by_id(),
    )


@dataclass(frozen=True)
class DiffRow:
    """A balance that differs between the replay and the live read model."""

    holder_id: str
    origin_code: str
    mineral: str
    replay_available: Decimal
    replay_reserved: Decimal
    live_available: Decimal
    live_reserved: Decimal
    holder: Holder | None = None


def diff_balances(
    replayed: Sequence[BalanceRow],
    live: Sequence[dict[str, Any]],
    holders: dict[str, Holder] | None = None,
) -> list[DiffRow]:
    """Rows whose balances differ (a row missing on one side counts as zero), each with
    its holder's name and document from ``holders`` (id in canonical text → holder)."""
    known = holders or {}
    mine = {(r.holder_id, r.origin_code): r for r in replayed}
    theirs = {(str(r["holder_id"]), str(r["origin_code"])): r for r in live}
    out = []
    for key in sorted(set(mine) | set(theirs)):
        m, t = mine.get(key), theirs.get(key)
        ra, rr = (m.available, m.reserved) if m else (ZERO, ZERO)
        la = Decimal(t["available"]) if t else ZERO
        lr = Decimal(t["reserved"]) if t else ZERO
        if ra != la or rr != lr:
            mineral = m.mineral if m else str(t["mineral"]) if t else "?"
            who = m.holder if m and m.holder else known.get(key[0])
            out.append(DiffRow(key[0], key[1], mineral, ra, rr, la, lr, who))
    return out
