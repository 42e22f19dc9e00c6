"""The one command runner: unit of work, idempotent replay and bounded retry.

Every command of every application (the ledger, identity, the royalties cases) runs the
same way:

1. If the client sent an idempotency key, a record of that key is looked up first: the
   same request gets the first outcome again (an error included, when the first run
   recorded one); the same key with another request is refused.
2. The command's *body* runs in a fresh :class:`Unit` with the time of this attempt: it
   loads aggregates (each once per unit), decides, and may queue messages.
3. Every changed aggregate, the key's record and the queued messages are saved in one
   atomic write, so either all of them exist or none does.
4. If another writer got there first (a version conflict on any of them), the unit is
   thrown away and the body runs again on the new state, a bounded number of times.

Two applications use it with their own policy, kept from before they shared it: the
ledger retries the library's integrity and record-conflict errors whatever caused them;
the royalties cases retry any persistence error, but only when another writer really
changed the case (otherwise it is raised as it is).

Writers of the same keys (an origin code, say) can be serialised first with a
:class:`~kernel.locks.Locker`, so conflicts stay rare even on a hot key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, RecordConflictError

from kernel.errors import (
    ConcurrencyError,
    IdempotencyKeyReusedError,
    LedgerError,
    NotFoundError,
    ValidationError,
)
from kernel.idempotency import (
    IdempotencyRecord,
    check_key,
    fingerprint,
    idempotency_record_id,
    same_fingerprint,
)
from kernel.locks import KeyedLocks, Locker

#: What a save raises when another writer got there first.
CONFLICTS: tuple[type[Exception], ...] = (IntegrityError, RecordConflictError)

A = TypeVar("A", bound=Aggregate)
U = TypeVar("U", bound="Unit")

Clock = Callable[[], datetime]
Outcome = dict[str, Any]

MAX_ATTEMPTS = 100
"""Upper bound of the attempts any runner may be configured with."""


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(tz=UTC)


class StaleRead(Exception):  # noqa: N818 - a signal to the runner, not an error to report
    """Raised by a body that finds two aggregates it loaded out of step with each other:
    another writer committed between the two loads (say, a purchase loaded pending and an
    origin code loaded after an expiry released its reservation). Nothing is saved; the
    runner runs the body again on the new state, as after a version conflict."""


class Failure:
    """Returned by a command body that records events *and* ends in an error."""

    def __init__(self, error: LedgerError) -> None:
        self.error = error


class Unit:
    """The aggregates, messages and locks of one attempt of one command."""

    def __init__(
        self, app: Application[UUID], locker: Locker, now: datetime, stack: ExitStack
    ) -> None:
        self.app = app
        self.now = now
        self._locker = locker
        self._stack = stack
        self._locked = False
        self.loaded: dict[UUID, Aggregate] = {}
        #: Messages to record with the events (the recorder's ``outbox``), in order.
        self.outbox: list[Any] = []

    def lock(self, keys: Iterable[str]) -> None:
        """Serialise with other writers of these keys; once per unit (no lock order issues)."""
        assert not self._locked, "a unit locks once, all keys together"
        self._locked = True
        self._stack.enter_context(self._locker.hold(sorted(set(keys))))

    def get(self, cls: type[A], aggregate_id: UUID) -> A:
        """Load (once per unit) an aggregate; NotFoundError if absent or of another type."""
        if aggregate_id in self.loaded:
            agg = self.loaded[aggregate_id]
        else:
            try:
                agg = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(f"{cls.__name__} no existe.", code="not_found") from None
            self.loaded[aggregate_id] = agg
        if not isinstance(agg, cls):
            raise NotFoundError(f"{cls.__name__} no existe.", code="not_found")
        return agg

    def add(self, agg: Aggregate) -> None:
        """Include a new (or separately loaded) aggregate in the write."""
        assert agg.id not in self.loaded or self.loaded[agg.id] is agg
        self.loaded[agg.id] = agg

    def fail(self, error: LedgerError) -> Failure:
        """Save what was recorded, then raise ``error`` (and replay it for the same key)."""
        return Failure(error)

    def pending(self) -> list[Aggregate]:
        """The aggregates with events to save."""
        return [a for a in self.loaded.values() if a.pending_events]


class CommandRunner(Generic[U]):
    """Runs command bodies for one application (see the module's docstring).

    ``retry_on``: what a failed save may raise to be run again (a version conflict).
    ``only_when_changed``: retry only if one of the unit's aggregates has another version
    in the store than it was loaded with (a collision), else raise the error as it is.
    ``record_failures``: whether a body may end in :class:`Failure` and the key's record
    then keeps the error too (the record's outcome is ``{"ok": …}`` or ``{"error": …}``).
    Without it the record keeps the outcome itself, and only accepted commands are
    remembered (the royalties cases, whose records were always written that way).
    ``track_positions``: remember the log position of this thread's last write or replay
    (:meth:`last_position`, read-your-writes over HTTP).
    """

    def __init__(
        self,
        app: Application[UUID],
        *,
        unit_type: type[U],
        clock: Clock = utc_now,
        locker: Locker | None = None,
        max_attempts: int = 10,
        exhausted: Callable[[str, UUID | None], LedgerError] | None = None,
        key_error: type[ValidationError] = ValidationError,
        retry_on: tuple[type[Exception], ...] = CONFLICTS,
        only_when_changed: bool = False,
        record_failures: bool = True,
        track_positions: bool = True,
    ) -> None:
        assert 1 <= max_attempts <= MAX_ATTEMPTS
        self.app = app
        self.unit_type = unit_type
        self.clock = clock
        self.locker: Locker = locker or KeyedLocks()
        self.max_attempts = max_attempts
        self._exhausted = exhausted or (lambda command, _id: ConcurrencyError(command=command))
        self._key_error = key_error
        self._retry_on = retry_on
        self._only_when_changed = only_when_changed
        self._record_failures = record_failures
        self._track_positions = track_positions
        self._local = threading.local()
        self.conflicts = 0  # saves that raised a retry_on error, for benchmarks

    def run(
        self,
        *,
        command: str,
        actor: str,
        idempotency_key: str | None,
        request: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
        body: Callable[[U], Outcome | Failure],
    ) -> Outcome:
        """Run ``body`` in a unit with idempotency, bounded retries and one atomic write."""
        scope = f"{actor}\x1f{command}"
        request_print = ""
        if idempotency_key is not None:
            idempotency_key = check_key(str(idempotency_key), self._key_error)
            request_print = fingerprint(command, request() if callable(request) else request)
            replay = self._replay(scope, idempotency_key, request_print)
            if replay is not None:
                return replay
        last: UUID | None = None
        for _attempt in range(self.max_attempts):
            with ExitStack() as stack:
                unit = self.unit_type(self.app, self.locker, self.clock(), stack)
                try:
                    outcome = body(unit)
                except StaleRead:
                    self.conflicts += 1
                    continue
                if isinstance(outcome, Failure):
                    assert self._record_failures, f"{command}: this runner records no failures"
                    error: LedgerError | None = outcome.error
                    result: Outcome = {}
                else:
                    error, result = None, outcome
                to_save = unit.pending()
                bases = {a.id: a.version - len(a.pending_events) for a in to_save}
                if idempotency_key is not None:
                    to_save.append(
                        IdempotencyRecord(
                            scope=scope,
                            key=idempotency_key,
                            command=command,
                            fingerprint=request_print,
                            outcome=self._stored(result, error),
                            recorded_at=unit.now,
                        )
                    )
                if to_save:
                    last = to_save[0].id
                try:
                    if to_save:
                        saved = (
                            self.app.save(*to_save, outbox=unit.outbox)
                            if unit.outbox
                            else self.app.save(*to_save)
                        )
                        if self._track_positions:
                            self._local.position = max(r.notification.id for r in saved)
                except self._retry_on:
                    self.conflicts += 1
                    if idempotency_key is not None:
                        replay = self._replay(scope, idempotency_key, request_print)
                        if replay is not None:
                            return replay  # the same request, sent twice at once, won elsewhere
                    if self._only_when_changed and not self._changed_since(bases):
                        raise  # nobody else wrote: not a collision
                    # Someone else wrote first; the cache fast-forwards on the next load.
                    continue
            if error is not None:
                raise error
            return result
        raise self._exhausted(command, last)

    def last_position(self) -> int:
        """Notification id of this thread's latest write (or replayed command)."""
        return int(getattr(self._local, "position", 0))

    def _stored(self, result: Outcome, error: LedgerError | None) -> Outcome:
        if not self._record_failures:
            return result
        return {"error": error.as_dict()} if error else {"ok": result}

    def _replay(self, scope: str, key: str, request_print: str) -> Outcome | None:
        if self._track_positions:
            self._local.position = int(self.app.recorder.max_notification_id() or 0)
        try:
            rec: Aggregate = self.app.repository.get(idempotency_record_id(scope, key))
        except AggregateNotFoundError:
            return None
        assert isinstance(rec, IdempotencyRecord)
        if not same_fingerprint(rec.fingerprint, request_print):
            raise IdempotencyKeyReusedError(field="idempotency_key")
        if not self._record_failures:
            return dict(rec.outcome)
        if "error" in rec.outcome:
            raise LedgerError.from_dict(rec.outcome["error"])
        return cast(Outcome, rec.outcome["ok"])

    def _changed_since(self, bases: Mapping[UUID, int]) -> bool:
        """Whether any of these aggregates has another version in the store than loaded."""
        for aggregate_id, base in bases.items():
            stored: int
            try:
                stored = self.app.repository.get(aggregate_id, deepcopy_from_cache=False).version
            except AggregateNotFoundError:
                stored = 0
            if stored != base:
                return True
        return False


__all__ = [
    "CONFLICTS",
    "Clock",
    "CommandRunner",
    "Failure",
    "Outcome",
    "StaleRead",
    "Unit",
    "utc_now",
]
