"""Every backend's recorder is a PtmRecorder (tests/adapters/contract.py), and the typed
accessors hand out the recorder and the PostgreSQL datastore, or say why not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.storage.postgres import AdvisoryLocker, advisory_key, datastore_of
from adapters.storage.recorder import PtmRecorder, recorder_of
from tests.adapters.contract import (
    Backend,
    MemoryBackend,
    PostgresBackend,
    RecorderContract,
    SQLiteBackend,
)


class AccessorContract(Backend):
    """``recorder_of`` on an application built on the backend."""

    @pytest.fixture
    def app(self, request: pytest.FixtureRequest) -> Iterator[Application[Any]]:
        app: Application[Any] = Application(
            env={"ORIGINATOR_ID_TYPE": "uuid", **self.environment(request)}
        )
        yield app
        app.close()

    def test_recorder_of_is_the_apps_recorder(self, app: Application[Any]) -> None:
        recorder = recorder_of(app)
        library_view: object = app.recorder  # the same object, typed as the library's
        assert recorder is library_view
        assert recorder.outbox.all() == [] and recorder.audit.max_position() == 0


class TestMemoryRecorder(MemoryBackend, RecorderContract, AccessorContract):
    def test_no_datastore_without_postgres(self, app: Application[Any]) -> None:
        with pytest.raises(TypeError, match="PostgreSQL"):
            datastore_of(app)


class TestSQLiteRecorder(SQLiteBackend, RecorderContract, AccessorContract):
    def test_no_datastore_without_postgres(self, app: Application[Any]) -> None:
        with pytest.raises(TypeError, match="PostgreSQL"):
            datastore_of(app)


class TestPostgresRecorder(PostgresBackend, RecorderContract, AccessorContract):
    def test_datastore_of_serves_the_advisory_locks(
        self, app: Application[Any], pg_url: str
    ) -> None:
        datastore = datastore_of(app)
        assert datastore is getattr(app.recorder, "datastore", None)
        key = advisory_key(f"contract-{id(app)}")

        def free_elsewhere() -> bool:
            with psycopg.connect(pg_url, autocommit=True) as other:
                row = other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                assert row is not None
                if row[0]:
                    other.execute("SELECT pg_advisory_unlock(%s)", (key,))
                return bool(row[0])

        with AdvisoryLocker(datastore).hold([f"contract-{id(app)}"]):
            assert not free_elsewhere()
        assert free_elsewhere()


def test_recorder_of_refuses_a_library_recorder() -> None:
    app: Application[Any] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        assert not isinstance(app.recorder, PtmRecorder)
        with pytest.raises(TypeError, match="POPOApplicationRecorder"):
            recorder_of(app)
    finally:
        app.close()


def test_the_library_sqlite_recorder_is_not_one() -> None:
    env = Environment(
        "x", {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
    )
    factory = InfrastructureFactory.construct(env)
    try:
        assert not isinstance(factory.application_recorder(), PtmRecorder)
    finally:
        factory.close()
