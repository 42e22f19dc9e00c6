"""Shared fixtures: a fake clock, and the one backend parameter (memory, SQLite,
PostgreSQL) that application, projection and API tests run on.

PostgreSQL is never skipped: if the server in ``PTM_TEST_POSTGRES_URL`` (default the
machine's ``postgresql://postgres@127.0.0.1:5432/test``) cannot be reached the tests
fail and say so. ``scripts/test`` starts a private server when none runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ledger.application import Ledger
from ptm.bootstrap import Services, build_ledger, build_services
from ptm.settings import Settings

PG_URL = os.environ.get("PTM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [
    b for b in os.environ.get("PTM_TEST_BACKENDS", "memory,sqlite,postgres").split(",") if b
]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return str(e)
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    problem = _pg_available()
    if problem is not None:
        pytest.fail(
            f"PostgreSQL is required and not reachable at {PG_URL}: {problem}\n"
            "Run the suite with scripts/test (it starts a private server), or set "
            "PTM_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    return PG_URL


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ptm.sqlite3'}"
    assert backend == "postgres", backend
    schema = request.getfixturevalue("pg_schema")
    url = request.getfixturevalue("pg_url")
    return f"{url}?schema={schema}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url(backend, request, tmp_path),
        var_dir=tmp_path / "var",
        code_hmac_key="k" * 32,  # type: ignore[arg-type]
        session_key="s" * 32,  # type: ignore[arg-type]
        statement_key="t" * 32,  # type: ignore[arg-type]
        signing_key_seed="e" * 64,  # type: ignore[arg-type]
        postgres_pool_size=20,
    )


@pytest.fixture
def ledger(settings: Settings, clock: FakeClock) -> Iterator[Ledger]:
    app = build_ledger(settings, clock=clock)
    yield app
    app.close()


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    """Ledger, migrated read models and projection runner on the test's backend."""
    svc = build_services(settings, clock=clock)
    yield svc
    svc.close()
