"""The outbox rows shared by every backend, and the interface the sender uses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ledger.messages import OutboxMessage

PENDING = "pending"
SENT = "sent"
REDACTED = "«enviado»"


@dataclass(frozen=True)
class OutboxRow:
    """A message in the outbox with its delivery state."""

    key: str
    event_id: str
    channel: str
    recipient: str
    template: str
    params: dict[str, str]
    secret_params: tuple[str, ...]
    created_at: datetime
    status: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    provider_ref: str | None = None

    @staticmethod
    def from_message(m: OutboxMessage, now: datetime) -> OutboxRow:
        return OutboxRow(
            key=m.key,
            event_id=m.event_id,
            channel=m.channel,
            recipient=m.recipient,
            template=m.template,
            params=dict(m.params),
            secret_params=tuple(m.secret_params),
            created_at=now,
            next_attempt_at=now,
        )

    def redacted(self) -> dict[str, str]:
        """Params with secrets blanked, kept once the message is delivered."""
        return {k: (REDACTED if k in self.secret_params else v) for k, v in self.params.items()}

    def as_sent(self, now: datetime, provider_ref: str | None) -> OutboxRow:
        return replace(
            self,
            status=SENT,
            sent_at=now,
            attempts=self.attempts + 1,
            provider_ref=provider_ref,
            params=self.redacted(),
            last_error=None,
        )


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


@runtime_checkable
class OutboxStore(Protocol):
    """What the notification sender needs from the outbox.

    Every recorder of ``adapters.storage`` offers one as ``outbox``, its rows written in
    the same transaction as the events that cause them (``tests/adapters`` holds the
    contract every backend passes).
    """

    def all(self) -> Sequence[OutboxRow]:
        """Every row, oldest first (tests and the local outbox reader)."""
        ...

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        """Pending rows whose next attempt is due, oldest first."""
        ...

    def caused_by(self, aggregate_id: str) -> Sequence[OutboxRow]:
        """Rows caused by events of one aggregate, oldest first."""
        ...

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        """Mark delivered and blank its secrets; False if it was already sent (or the key
        is unknown). Idempotent: a retry, or a second sender racing on the same row, gets
        False and leaves the row as it is. It must not fail on ordinary contention (it is
        called after the provider accepted the message: a failure would send it again),
        so a backend waits for its write lock rather than refusing."""
        ...

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        """Count a failed attempt and schedule the next one (pending rows only; a sent or
        unknown row is left as it is)."""
        ...
