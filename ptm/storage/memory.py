"""In-memory persistence (unit tests): the library's POPO recorders plus an outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.messages import OutboxMessage
from ptm.storage.outbox import PENDING, SENT, OutboxRow


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
            row = self.rows[key]
            if row.status == SENT:
                return False
            self.rows[key] = row.as_sent(now, provider_ref)
            return True

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        with self._recorder.lock:
            row = self.rows[key]
            if row.status != PENDING:
                return
            self.rows[key] = replace(
                row,
                attempts=row.attempts + 1,
                last_error=error[:500],
                next_attempt_at=next_attempt_at,
            )


class MemoryApplicationRecorder(POPOApplicationRecorder):
    """POPO application recorder that also records outbox messages atomically."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox = MemoryOutbox(self)

    @property
    def lock(self) -> Any:
        return self._database_lock

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        self.outbox.add(kwargs.get("outbox") or ())
        return ids


class Factory(POPOFactory):
    """In-memory infrastructure with the outbox-aware application recorder."""

    def application_recorder(self) -> ApplicationRecorder:
        return MemoryApplicationRecorder()
