"""In-memory persistence (unit tests): the library's POPO recorders plus an outbox and
the audit hash chain, both extended under the recorder's lock with the events."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from adapters.storage.recorder import PtmRecorder
from audit.chain import (
    ChainRow,
    Digest,
    EventRow,
    canonical_id,
    extend_links,
)
from ledger.messages import OutboxMessage
from notifications.outbox import PENDING, SENT, OutboxRow


class MemoryOutbox:
    """Outbox rows kept in a dict, guarded by the recorder's lock."""

    def __init__(self, recorder: MemoryApplicationRecorder) -> None:
        self._recorder = recorder
        self.rows: dict[str, OutboxRow] = {}

    def add(self, messages: Sequence[OutboxMessage]) -> None:
        now = datetime.now(tz=UTC)
        for m in messages:
            self.rows.setdefault(m.key, OutboxRow.from_message(m, now))

    def all(self) -> Sequence[OutboxRow]:
        with self._recorder.lock:
            return list(self.rows.values())

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        with self._recorder.lock:
            rows = [
                r
                for r in self.rows.values()
                if r.status == PENDING and (r.next_attempt_at is None or r.next_attempt_at <= now)
            ]
            return rows[:limit]

    def caused_by(self, aggregate_id: str) -> Sequence[OutboxRow]:
        with self._recorder.lock:
            prefix = f"{aggregate_id}:"
            return [r for r in self.rows.values() if r.event_id.startswith(prefix)]

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        with self._recorder.lock:
            row = self.rows.get(key)
            if row is None or row.status == SENT:
                return False
            self.rows[key] = row.as_sent(now, provider_ref)
            return True

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        with self._recorder.lock:
            row = self.rows.get(key)
            if row is None or row.status != PENDING:
                return
            self.rows[key] = replace(
                row,
                attempts=row.attempts + 1,
                last_error=error[:500],
                next_attempt_at=next_attempt_at,
            )


class MemoryAudit:
    """Chain links and digests in lists, guarded by the recorder's lock."""

    def __init__(self, recorder: MemoryApplicationRecorder) -> None:
        self._recorder = recorder
        self.chain: list[ChainRow] = []
        self._positions: list[int] = []  # chain positions, for bisect
        self.digests: list[Digest] = []  # sorted by (position, key id)

    def extend(self, ids: Sequence[int], stored_events: Sequence[StoredEvent]) -> None:
        """Link newly recorded events (called under the recorder's lock)."""
        head = self.chain[-1] if self.chain else None
        for row in extend_links(head, zip(ids, stored_events, strict=True)):
            self.chain.append(row)
            self._positions.append(row.position)

    def _row(self, index: int) -> EventRow:
        s = self._recorder.stored_events[index]
        return EventRow(
            index + 1, canonical_id(s.originator_id), s.originator_version, s.topic, s.state
        )

    def max_position(self) -> int:
        with self._recorder.lock:
            return len(self._recorder.stored_events)

    def event_rows(
        self, after: int, limit: int, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[EventRow]:
        with self._recorder.lock:
            end = len(self._recorder.stored_events) if stop is None else stop
            end = min(end, len(self._recorder.stored_events))
            out: list[EventRow] = []
            for i in range(max(after, 0), end):
                if topics and self._recorder.stored_events[i].topic not in topics:
                    continue
                out.append(self._row(i))
                if len(out) >= limit:
                    break
            return out

    def events_of(self, originator_id: UUID, stop: int | None, limit: int) -> Sequence[EventRow]:
        with self._recorder.lock:
            index = self._recorder.stored_events_index.get(str(originator_id), {})
            rows = [self._row(i) for _v, i in sorted(index.items())]
            return [r for r in rows if stop is None or r.position <= stop][:limit]

    def chain_head(self) -> ChainRow | None:
        with self._recorder.lock:
            return self.chain[-1] if self.chain else None

    def chain_rows(self, after: int, limit: int, stop: int | None = None) -> Sequence[ChainRow]:
        with self._recorder.lock:
            i = bisect.bisect_right(self._positions, after)
            rows = self.chain[i : i + limit]
            return [r for r in rows if stop is None or r.position <= stop]

    def chain_row_before(self, position: int) -> ChainRow | None:
        with self._recorder.lock:
            i = bisect.bisect_left(self._positions, position)
            return self.chain[i - 1] if i > 0 else None

    def add_digest(self, digest: Digest) -> bool:
        with self._recorder.lock:
            key = (digest.position, digest.key_id)
            if any((d.position, d.key_id) == key for d in self.digests):
                return False
            bisect.insort(self.digests, digest, key=lambda d: (d.position, d.key_id))
            return True

    def latest_digests(self, offset: int, limit: int) -> Sequence[Digest]:
        with self._recorder.lock:
            newest = sorted(self.digests, key=lambda d: (-d.position, d.key_id))
            return newest[offset : offset + limit]

    def digest_count(self) -> int:
        with self._recorder.lock:
            return len(self.digests)

    def digests_after(
        self, after: tuple[int, str], limit: int, stop: int | None = None
    ) -> Sequence[Digest]:
        with self._recorder.lock:
            rows = [
                d
                for d in self.digests
                if (d.position, d.key_id) > after and (stop is None or d.position <= stop)
            ]
            return rows[:limit]


class MemoryApplicationRecorder(POPOApplicationRecorder):
    """POPO application recorder that also records outbox messages and chain links
    atomically with the events."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox = MemoryOutbox(self)
        self.audit = MemoryAudit(self)

    @property
    def stored_events(self) -> list[StoredEvent]:
        return self._stored_events

    @property
    def stored_events_index(self) -> dict[str, dict[int, int]]:
        return self._stored_events_index

    @property
    def lock(self) -> Any:
        return self._database_lock

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Called by the library under the recorder's lock, after the uniqueness checks.
        ids = super()._update_table(stored_events, **kwargs)
        assert ids is not None
        self.outbox.add(kwargs.get("outbox") or ())
        self.audit.extend(ids, stored_events)
        return ids


#: mypy checks here that the recorder has every power of a PTM Ledger recorder.
_: type[PtmRecorder] = MemoryApplicationRecorder


class Factory(POPOFactory):
    """In-memory infrastructure with the outbox-aware application recorder."""

    def application_recorder(self) -> MemoryApplicationRecorder:
        return MemoryApplicationRecorder()
