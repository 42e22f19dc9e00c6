"""What every recorder of :mod:`adapters.storage` is: the library's application recorder
(the methods the product uses) plus the outbox and the audit chain written in the same
transaction as the events.

The extra powers are declared, not reached for: each backend checks structurally (mypy)
that its recorder class is a :class:`PtmRecorder`, and callers get a typed recorder from
:func:`recorder_of` instead of ``getattr`` or ``type: ignore``. The parts are the
interfaces their users own — :class:`notifications.outbox.OutboxStore` (the sender) and
:class:`audit.chain.AuditStore` (the auditors; a :class:`projections.stored.EventSource`
too, for the projections) — so those packages never import the adapters.

Like the library's own example of a recorder with extra powers
(``eventsourcing/examples/searchablecontent/persistence.py``), only the interface is
declared here; the backends implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, StoredEvent

from audit.chain import AuditedRecorder, AuditStore
from notifications.outbox import OutboxStore


@runtime_checkable
class EventRecorder(Protocol):
    """The methods of the library's ``ApplicationRecorder`` the product relies on: the
    application writes and reads aggregates, the ledger and royalties read the log."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write stored events atomically (``outbox=`` messages in the same transaction);
        the library's ``IntegrityError`` and nothing written on a version conflict."""
        ...

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The stored events of one aggregate."""
        ...

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """A page of the application's notification log."""
        ...

    def max_notification_id(self) -> int | None:
        """The last notification id (None when nothing is recorded)."""
        ...


@runtime_checkable
class PtmRecorder(EventRecorder, AuditedRecorder, Protocol):
    """A PTM Ledger recorder: events, plus the outbox and the audit chain written with them."""

    @property
    def outbox(self) -> OutboxStore:
        """The outbox rows written with the events that caused them."""
        ...

    @property
    def audit(self) -> AuditStore:
        """The raw stored rows, the hash chain linked with them, and the signed digests."""
        ...


def recorder_of(app: Application[Any]) -> PtmRecorder:
    """The application's recorder as a :class:`PtmRecorder`.

    ``TypeError`` if the application was built on another recorder (a library factory,
    or ``APPLICATION_RECORDER_TOPIC`` naming a class without the outbox and the chain).
    """
    recorder = app.recorder
    if not isinstance(recorder, PtmRecorder):
        raise TypeError(
            f"{type(recorder).__module__}.{type(recorder).__qualname__} no es un registrador "
            "de PTM Ledger (sin bandeja de salida ni cadena de auditoría): use las fábricas "
            "de adapters.storage (memory, sqlite, postgres)."
        )
    return recorder
