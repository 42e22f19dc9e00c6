"""The kernel's command runner on the library's in-memory store, with a toy aggregate:
replay of a key, retry of a version conflict (per policy), exhaustion, positions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, EventSourcingError, event
from eventsourcing.persistence import IntegrityError, OperationalError

from kernel.commands import CommandRunner, Failure, Outcome, StaleRead, Unit
from kernel.errors import (
    ConcurrencyError,
    ConflictError,
    IdempotencyKeyReusedError,
    ValidationError,
)


class Counter(Aggregate):
    """A number that only goes up."""

    @event("Started")
    def __init__(self) -> None:
        self.n = 0

    @event("Incremented")
    def increment(self, by: int) -> None:
        self.n += by


class Busy(ConflictError):
    code = "busy"


@pytest.fixture
def app() -> Iterator[Application[UUID]]:
    a: Application[UUID] = Application()
    yield a
    a.close()


def started(app: Application[UUID]) -> UUID:
    c = Counter()
    app.save(c)
    return c.id


def runner(app: Application[UUID], **kw: Any) -> CommandRunner[Unit]:
    return CommandRunner(app, unit_type=Unit, max_attempts=kw.pop("max_attempts", 3), **kw)


def increment(cid: UUID, by: int = 1) -> Any:
    def body(u: Unit) -> Outcome:
        c = u.get(Counter, cid)
        c.increment(by)
        return {"n": c.n}

    return body


def test_a_key_replays_the_first_outcome_and_refuses_another_request(
    app: Application[UUID],
) -> None:
    cid = started(app)
    r = runner(app)
    first = r.run(
        command="inc", actor="a", idempotency_key="k", request={"by": 1}, body=increment(cid)
    )
    again = r.run(
        command="inc", actor="a", idempotency_key="k", request={"by": 1}, body=increment(cid)
    )
    assert first == again == {"n": 1}
    assert app.repository.get(cid).n == 1  # the second run wrote nothing
    with pytest.raises(IdempotencyKeyReusedError):
        r.run(command="inc", actor="a", idempotency_key="k", request={"by": 2}, body=increment(cid))
    # Another caller (scope) or command with the same key is another record.
    assert r.run(
        command="inc", actor="b", idempotency_key="k", request={"by": 1}, body=increment(cid)
    ) == {"n": 2}


def test_a_recorded_failure_is_saved_and_replayed_as_the_same_error(
    app: Application[UUID],
) -> None:
    cid = started(app)
    r = runner(app)

    def body(u: Unit) -> Outcome | Failure:
        u.get(Counter, cid).increment(5)
        return u.fail(ConflictError("Ocupado.", field="counter", code="busy"))

    for _ in range(2):
        with pytest.raises(ConflictError) as caught:
            r.run(command="inc", actor="a", idempotency_key="f", request={}, body=body)
        assert (caught.value.code, caught.value.field) == ("busy", "counter")
    assert app.repository.get(cid).n == 5  # recorded once, then replayed


def test_a_runner_without_failure_records_keeps_the_outcome_itself(
    app: Application[UUID],
) -> None:
    cid = started(app)
    r = runner(app, record_failures=False, track_positions=False)
    assert r.run(
        command="inc", actor="a", idempotency_key="k", request=lambda: {}, body=increment(cid)
    ) == {"n": 1}
    assert r.last_position() == 0  # positions not tracked
    records = [a for a in _aggregates(app) if not isinstance(a, Counter)]
    assert [rec.outcome for rec in records] == [{"n": 1}]


def test_an_invalid_key_is_refused_with_the_runners_error_class(app: Application[UUID]) -> None:
    class KeyError_(ValidationError):
        code = "bad_key"

    r = runner(app, key_error=KeyError_)
    with pytest.raises(KeyError_):
        r.run(command="c", actor="a", idempotency_key="", request={}, body=increment(UUID(int=1)))


def test_a_version_conflict_runs_the_body_again_on_the_new_state(app: Application[UUID]) -> None:
    cid = started(app)
    r = runner(app)
    raced = []

    def body(u: Unit) -> Outcome:
        c = u.get(Counter, cid)
        if not raced:  # another writer commits between our load and our save
            other = app.repository.get(cid)
            other.increment(10)
            app.save(other)
            raced.append(1)
        c.increment(1)
        return {"n": c.n}

    assert r.run(command="inc", actor="a", idempotency_key=None, request={}, body=body) == {"n": 11}
    assert r.conflicts == 1
    assert r.last_position() == app.recorder.max_notification_id()


def test_the_runner_gives_up_after_its_attempts(app: Application[UUID]) -> None:
    cid = started(app)
    r = runner(app, max_attempts=3)
    attempts = []

    def body(u: Unit) -> Outcome:
        attempts.append(1)
        c = u.get(Counter, cid)
        other = app.repository.get(cid)
        other.increment(1)
        app.save(other)  # someone always gets there first
        c.increment(1)
        return {}

    with pytest.raises(ConcurrencyError):
        r.run(command="inc", actor="a", idempotency_key=None, request={}, body=body)
    assert len(attempts) == 3 == r.conflicts

    r2 = runner(app, max_attempts=2, exhausted=lambda command, agg: Busy(command, counter=agg))
    with pytest.raises(Busy) as caught:
        r2.run(command="inc", actor="a", idempotency_key=None, request={}, body=body)
    assert caught.value.context["counter"] == cid


def test_a_conflict_with_nothing_changed_is_retried_or_raised_by_policy(
    app: Application[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = started(app)
    real_save = app.save
    failures = [IntegrityError("unique violation, no other writer")]

    def flaky_save(*aggs: Any, **kw: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_save(*aggs, **kw)

    monkeypatch.setattr(app, "save", flaky_save)
    # The ledger's policy: any conflict error is run again.
    assert runner(app).run(
        command="inc", actor="a", idempotency_key=None, request={}, body=increment(cid)
    ) == {"n": 1}
    # The royalties' policy: no other writer changed it, so it is no collision: raised.
    failures.append(IntegrityError("unique violation, no other writer"))
    with pytest.raises(IntegrityError):
        runner(app, only_when_changed=True).run(
            command="inc", actor="a", idempotency_key=None, request={}, body=increment(cid)
        )
    assert app.repository.get(cid).n == 1


def test_errors_outside_retry_on_are_not_retried(
    app: Application[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = started(app)
    calls = []

    def down(*_: Any, **__: Any) -> Any:
        calls.append(1)
        raise OperationalError("database unavailable")

    monkeypatch.setattr(app, "save", down)
    with pytest.raises(OperationalError):
        runner(app).run(
            command="inc", actor="a", idempotency_key=None, request={}, body=increment(cid)
        )
    assert calls == [1]


def test_a_conflict_on_the_keys_record_replays_the_winner(
    app: Application[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same request sent twice at once: the loser's save collides on the record and
    returns the winner's outcome without running again."""
    cid = started(app)
    r = runner(app)
    real_save = app.save
    sneaked = []

    def racing_save(*aggs: Any, **kw: Any) -> Any:
        if not sneaked:  # the twin request commits first, with the same key
            sneaked.append(1)
            r.run(
                command="inc",
                actor="a",
                idempotency_key="twin",
                request={"by": 1},
                body=increment(cid, by=1),
            )
        return real_save(*aggs, **kw)

    monkeypatch.setattr(app, "save", racing_save)
    out = r.run(
        command="inc", actor="a", idempotency_key="twin", request={"by": 1}, body=increment(cid)
    )
    assert out == {"n": 1}
    assert app.repository.get(cid).n == 1  # applied once


def _aggregates(app: Application[UUID]) -> list[Any]:
    ids = {n.originator_id for n in app.recorder.select_notifications(1, 100)}
    return [app.repository.get(i) for i in ids]


def test_a_stale_read_runs_the_body_again_and_saves_nothing_of_the_first_run(
    app: Application[UUID],
) -> None:
    cid = started(app)
    r = runner(app, max_attempts=2)
    runs: list[int] = []

    def body(u: Unit) -> Outcome:
        c = u.get(Counter, cid)
        c.increment(100 if not runs else 1)
        runs.append(1)
        if len(runs) == 1:
            raise StaleRead
        return {"n": c.n}

    assert r.run(command="inc", actor="a", idempotency_key=None, request={}, body=body) == {"n": 1}
    assert app.repository.get(cid).n == 1 and r.conflicts == 1

    def always_stale(u: Unit) -> Outcome:
        raise StaleRead

    with pytest.raises(ConcurrencyError):
        r.run(command="inc", actor="a", idempotency_key=None, request={}, body=always_stale)


def test_the_royalties_policy_retries_any_persistence_error_only_after_a_collision(
    app: Application[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = started(app)
    r = runner(app, retry_on=(EventSourcingError,), only_when_changed=True)
    real_save = app.save
    plan: list[str] = ["collide"]

    def save(*aggs: Any, **kw: Any) -> Any:
        if plan:
            step = plan.pop()
            if step == "collide":  # another writer changed the counter, then our save fails
                other = app.repository.get(cid)
                other.increment(10)
                real_save(other)
            raise OperationalError("lock timeout")
        return real_save(*aggs, **kw)

    monkeypatch.setattr(app, "save", save)
    body = increment(cid)
    assert r.run(command="inc", actor="a", idempotency_key=None, request={}, body=body) == {"n": 11}
    plan.append("alone")  # nobody else wrote: the error is the database's, raised
    with pytest.raises(OperationalError):
        r.run(command="inc", actor="a", idempotency_key=None, request={}, body=body)
    assert app.repository.get(cid).n == 11
