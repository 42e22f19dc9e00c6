"""Running the API with uvicorn on the configured persistence."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from ptm.bootstrap import build_ledger
from ptm.demo import seed_demo
from ptm.settings import Settings


def app_factory() -> FastAPI:
    """uvicorn factory: one ledger per worker process, tables already created."""
    settings = Settings()
    return create_app(build_ledger(settings, create_table=False))


def serve(*, host: str, port: int, workers: int, demo: bool) -> int:
    """Create tables once, optionally seed demo data, then serve."""
    settings = Settings()
    if workers > 1 and not settings.is_postgres():
        print(
            "--workers > 1 requiere PostgreSQL (PTM_DATABASE_URL=postgresql://…)", file=sys.stderr
        )
        return 2
    app = build_ledger(settings)  # creates the tables once, before any worker starts
    if demo:
        seed_demo(app)
    app.close()
    uvicorn.run(
        "ptm.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
    return 0
