"""Wiring of the nickel royalty base-price application (:class:`RoyaltiesApp`).

The one persistence setting (``PTM_DATABASE_URL``) chooses where the resolution cases
live, with the library's own factories (the ledger's outbox recorders are not needed
here) and never in the ledger's event tables:

- ``memory://``: its own in-memory store (``eventsourcing.popo``);
- ``sqlite:///var/ptm.sqlite3``: a separate file next to the ledger's,
  ``var/ptm-royalties.sqlite3`` (the library's SQLite table is always ``stored_events``,
  so sharing the file would mean sharing the table);
- ``postgresql://…[?schema=x]``: the same database and schema as the ledger, in the
  table ``royalties_events`` (the library prefixes the table with the application's
  name; the ledger's is ``ptmledger_events``).

Event encryption and compression follow the ledger's settings.
"""

from __future__ import annotations

from pathlib import Path

from kernel.commands import Clock, utc_now
from ptm.settings import Settings, eventsourcing_env
from royalties.application import RoyaltiesApp

SQLITE_SUFFIX = "-royalties"
#: Connections kept open on PostgreSQL: few analysts, short commands.
POSTGRES_POOL_SIZE = 1
_SHARED_KEYS = ("CIPHER_TOPIC", "CIPHER_KEY", "COMPRESSOR_TOPIC", "SQLITE_LOCK_TIMEOUT")


def royalties_sqlite_path(ledger_path: str) -> str:
    """The royalties' SQLite database beside the ledger's: ``var/ptm.sqlite3`` →
    ``var/ptm-royalties.sqlite3``; ``file:`` URIs keep their query; ``:memory:`` stays
    a private in-memory database."""
    if ledger_path == ":memory:":
        return ledger_path
    if ledger_path.startswith("file:"):
        name, sep, query = ledger_path[len("file:") :].partition("?")
        return "file:" + _with_suffix(name) + sep + query
    return _with_suffix(ledger_path)


def _with_suffix(path: str) -> str:
    p = Path(path)
    return str(p.with_name(p.stem + SQLITE_SUFFIX + p.suffix))


def royalties_env(settings: Settings, *, create_table: bool = True) -> dict[str, str]:
    """The eventsourcing environment of :class:`RoyaltiesApp` for ``settings``.

    Keys carry the application's name (``ROYALTIES_…``), which the library reads before
    the plain ones, so a stray ``PERSISTENCE_MODULE`` in the process environment cannot
    send the cases elsewhere.
    """
    ledger = eventsourcing_env(settings, create_table=create_table)
    env = {k: ledger[k] for k in _SHARED_KEYS if k in ledger}
    env["CREATE_TABLE"] = "y" if create_table else "n"
    env["ORIGINATOR_ID_TYPE"] = "uuid"
    if settings.is_memory():
        env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
    elif settings.is_sqlite():
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        env["SQLITE_DBNAME"] = royalties_sqlite_path(ledger["SQLITE_DBNAME"])
    else:
        assert settings.is_postgres(), settings.database_url
        env.update({k: v for k, v in ledger.items() if k.startswith("POSTGRES_")})
        env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
        env["POSTGRES_POOL_SIZE"] = str(POSTGRES_POOL_SIZE)
        env["POSTGRES_MAX_OVERFLOW"] = str(settings.postgres_pool_size)
        # The library's insert function is named per schema, not per table
        # (es_insert_events_uuid): two applications in one schema must not use it.
        env["POSTGRES_ENABLE_DB_FUNCTIONS"] = "n"
    prefix = RoyaltiesApp.name.upper() + "_"
    return {prefix + k: v for k, v in env.items()}


def build_royalties(
    settings: Settings, *, clock: Clock = utc_now, create_table: bool = True
) -> RoyaltiesApp:
    """The royalties application on the configured persistence (see the module doc).

    ``clock`` is the application's only source of time (tests pass a fake one);
    ``create_table=False`` for processes started after the tables were created.
    """
    return RoyaltiesApp(royalties_env(settings, create_table=create_table), clock=clock)
