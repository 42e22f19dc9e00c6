"""Wiring: build the ledger application (and later the workers) from settings."""

from __future__ import annotations

from datetime import timedelta

from ledger.application import Clock, Ledger, LedgerConfig, utc_now
from ledger.locks import ChainedLocker, KeyedLocks, Locker
from ledger.purchase import CodePolicy
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
