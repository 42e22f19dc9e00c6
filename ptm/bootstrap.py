"""Wiring: build the ledger application, read models and workers from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from ledger.application import Clock, Ledger, LedgerConfig, utc_now
from ledger.locks import ChainedLocker, KeyedLocks, Locker
from ledger.purchase import CodePolicy
from projections.runner import ProjectionRunner
from ptm.db import make_engine, upgrade
from ptm.settings import Settings, eventsourcing_env


def ledger_config(settings: Settings) -> LedgerConfig:
    """Limits and secrets of the ledger from settings."""
    return LedgerConfig(
        code_key=settings.secret("code_hmac_key"),
        policy=CodePolicy(
            digits=settings.code_digits,
            code_ttl=timedelta(seconds=settings.code_ttl_s),
            max_failed_attempts=settings.code_max_failed,
            max_resends=settings.code_max_resends,
            reservation_ttl=timedelta(seconds=settings.reservation_ttl_s),
        ),
        snapshot_interval=settings.snapshot_interval,
    )


def build_ledger(
    settings: Settings, *, clock: Clock = utc_now, create_table: bool = True
) -> Ledger:
    """The ledger on the configured persistence, with cross-process locks on PostgreSQL."""
    app = Ledger(
        eventsourcing_env(settings, create_table=create_table),
        config=ledger_config(settings),
        clock=clock,
    )
    if settings.is_postgres() and settings.advisory_locks:
        from ptm.storage.postgres import AdvisoryLocker  # noqa: PLC0415

        datastore = app.factory.datastore  # type: ignore[attr-defined]
        locker: Locker = ChainedLocker(KeyedLocks(), AdvisoryLocker(datastore))
        app.locker = locker
    return app


@dataclass
class Services:
    """Everything an entry point needs, wired for one persistence setting."""

    settings: Settings
    ledger: Ledger
    engine: Engine
    runner: ProjectionRunner

    def close(self) -> None:
        self.ledger.close()
        self.engine.dispose()


def build_services(
    settings: Settings, *, clock: Clock = utc_now, create_table: bool = True, migrate: bool = True
) -> Services:
    """Ledger, read-model engine (migrated to head) and projection runner."""
    ledger = build_ledger(settings, clock=clock, create_table=create_table)
    engine = make_engine(settings)
    if migrate:
        upgrade(engine)
    runner = ProjectionRunner(
        ledger.recorder, ledger.mapper, engine, page_size=settings.projection_page_size
    )
    return Services(settings=settings, ledger=ledger, engine=engine, runner=runner)
