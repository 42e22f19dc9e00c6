"""What every use case of the ledger stands on: the application, its unit and runner.

The ledger is one ``eventsourcing`` application; its use cases are grouped by concern in
the modules of this package, each a class that adds its commands to
:class:`LedgerBase`, and :class:`ledger.application.Ledger` puts them together. Every
command runs on the kernel's one command runner (:mod:`kernel.commands`): one unit of
work, idempotent replay of a client key, bounded retry on a version conflict.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable
from uuid import UUID, uuid4

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from kernel.commands import Clock, CommandRunner, Failure, Outcome, Unit, utc_now
from kernel.locks import Locker
from ledger.guard import GuardPolicy, PairGuard, SellerGuard
from ledger.messages import Channel, OutboxMessage, event_id
from ledger.origin import OriginCode
from ledger.purchase import CodePolicy


class DateAsISO(Transcoding):
    """Calendar dates in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class LedgerConfig:
    """Secrets and limits of the ledger, supplied by the entry point's settings."""

    code_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    policy: CodePolicy = field(default_factory=CodePolicy)
    #: Budgets across purchases: wrong codes per (buyer, seller), messages per seller.
    guard: GuardPolicy = field(default_factory=GuardPolicy)
    statement_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    #: Runs of a command whose save collides with another writer's, before giving up.
    max_attempts: int = 10
    snapshot_interval: int = 200

    def __post_init__(self) -> None:
        assert len(self.code_key) >= 16, "code HMAC key shorter than 128 bits"
        assert 1 <= self.max_attempts <= 100, "attempts of a command out of 1..100"
        assert self.snapshot_interval >= 10


@runtime_checkable
class RecordsMessages(Protocol):
    """A recorder that writes outbox messages in the same transaction as the events
    (``insert_events(..., outbox=[OutboxMessage, ...])``) and keeps them in ``outbox``."""

    outbox: Any


class LedgerUnit(Unit):
    """A unit of the ledger: the kernel's unit, plus the messages its events cause."""

    def send(
        self,
        agg: Aggregate,
        *,
        channel: Channel,
        recipient: str,
        template: str,
        params: dict[str, str],
        secret_params: Sequence[str] = (),
    ) -> None:
        """Queue a message caused by ``agg``'s latest event (its id keys the message)."""
        eid = event_id(agg.id, agg.version)
        n = sum(1 for m in self.outbox if m.event_id == eid)
        self.outbox.append(
            OutboxMessage(
                key=f"{eid}/{channel}/{n}",
                event_id=eid,
                channel=channel,
                recipient=recipient,
                template=template,
                params=params,
                secret_params=tuple(secret_params),
            )
        )


class LedgerBase(Application[UUID]):
    """The ledger's application: persistence hooks and the command runner."""

    name = "PTMLedger"
    env = {  # noqa: RUF012 - the library reads this class attribute
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "IS_SNAPSHOTTING_ENABLED": "y",
        "ORIGINATOR_ID_TYPE": "uuid",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        config: LedgerConfig | None = None,
        clock: Clock = utc_now,
        locker: Locker | None = None,
    ) -> None:
        self.config = config or LedgerConfig()
        self.clock = clock
        super().__init__(env)
        if not isinstance(self.recorder, RecordsMessages):
            # The library's own recorders would silently drop the messages.
            self.close()
            raise TypeError(
                "the ledger needs a recorder that stores outbox messages with its events "
                "(PERSISTENCE_MODULE of the project's storage adapters)"
            )
        self.runner = CommandRunner(
            self,
            unit_type=LedgerUnit,
            clock=lambda: self.clock(),  # noqa: PLW0108 - tests swap self.clock
            locker=locker,
            max_attempts=self.config.max_attempts,
        )

    @property
    def locker(self) -> Locker:
        """Serialises writers of the same origin codes (in process; across processes too
        when the composition root chains an advisory locker)."""
        return self.runner.locker

    @locker.setter
    def locker(self, locker: Locker) -> None:
        self.runner.locker = locker

    @property
    def conflicts(self) -> int:
        """Version conflicts met so far (each ran the command again or replayed its key)."""
        return self.runner.conflicts

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # Snapshot from the aggregate in hand, never by replaying its history (the
        # library's default re-reads every event of the aggregate each time).
        if self.snapshots is None:
            return
        interval = self.config.snapshot_interval
        crossed = {
            e.originator_id for e in processing_event.events if e.originator_version % interval == 0
        }
        # The aggregates written over and over: origin codes, and the guards of a busy
        # seller or pair (their state is small, their history is not).
        snapshots = [
            type(agg).Snapshot.take(agg)
            for agg_id, agg in processing_event.aggregates.items()
            if agg_id in crossed and isinstance(agg, OriginCode | SellerGuard | PairGuard)
        ]
        if snapshots:
            self.snapshots.put(snapshots)

    def execute(
        self,
        *,
        command: str,
        actor: str,
        idempotency_key: str | None,
        request: dict[str, Any],
        body: Callable[[LedgerUnit], Outcome | Failure],
    ) -> Outcome:
        """Run a command body on the kernel's runner (see :mod:`kernel.commands`)."""
        return self.runner.run(
            command=command,
            actor=actor,
            idempotency_key=idempotency_key,
            request=request,
            body=body,
        )

    def last_position(self) -> int:
        """Notification id of this thread's latest write (or replayed command)."""
        return self.runner.last_position()

    @staticmethod
    def new_id() -> UUID:
        """A fresh random id."""
        return uuid4()


__all__ = ["LedgerBase", "LedgerConfig", "LedgerUnit", "RecordsMessages"]
