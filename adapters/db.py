"""Read-model database: the SQLAlchemy engine for the configured persistence, and
``upgrade`` (alembic migrations to head)."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

from alembic import command

#: The migrations' package: the checkout's top-level ``alembic/`` folder, installed under
#: this name (pyproject.toml ``[tool.setuptools] package-dir``). It has no ``__init__.py``
#: (a package named ``alembic`` would shadow the library), so it is a namespace package.
MIGRATIONS_PACKAGE = "ptm_migrations"
#: A source tree run without installing it (``PYTHONPATH=.``): the folder itself.
_SOURCE_TREE_DIR = Path(__file__).resolve().parent.parent / "alembic"


def _is_script_dir(path: Path) -> bool:
    return (path / "env.py").is_file() and (path / "versions").is_dir()


def migrations_dir() -> Path:
    """The alembic script directory: the installed ``ptm_migrations`` package (in an
    editable install, the checkout's ``alembic/``), else a source tree's ``alembic/``."""
    spec = importlib.util.find_spec(MIGRATIONS_PACKAGE)
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    for location in map(Path, locations):
        if _is_script_dir(location):
            return location
    if _is_script_dir(_SOURCE_TREE_DIR):
        return _SOURCE_TREE_DIR
    raise RuntimeError(
        f"alembic migrations not found: no {MIGRATIONS_PACKAGE} package with env.py and"
        f" versions/ (is ptm-ledger installed?), nor {_SOURCE_TREE_DIR}"
    )


def sqlalchemy_url(database_url: str) -> tuple[str, str | None]:
    """The SQLAlchemy URL and PostgreSQL schema for the one persistence setting."""
    url = database_url
    if url.startswith("memory:"):
        return "sqlite://", None
    if url.startswith("sqlite:"):
        return url, None
    parts = urlsplit(url)
    schema = parse_qs(parts.query).get("schema", [None])[0]
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, "", "")), schema


def make_engine(database_url: str) -> Engine:
    """An engine on the read-model database (the same database as the events)."""
    url, schema = sqlalchemy_url(database_url)
    if url == "sqlite://":
        # The in-memory event store keeps its read models in a private temporary SQLite
        # file: one shared in-memory connection cannot isolate a projection transaction
        # from concurrent readers.
        fd, path = tempfile.mkstemp(prefix="ptm-read-models-", suffix=".sqlite3")
        os.close(fd)
        atexit.register(_unlink, path)
        url = f"sqlite:///{path}"
    if url.startswith("sqlite:"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, connect_args=args, pool_size=5, max_overflow=10, pool_pre_ping=True)


def _unlink(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the read-model migrations up to ``revision``."""
    cfg = Config()
    # The option goes through configparser interpolation: a literal % must be doubled.
    cfg.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
