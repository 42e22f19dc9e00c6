"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from ledger.application import Ledger
from ledger.values import MINERALS


def create_app(ledger: Ledger) -> FastAPI:
    """The HTTP face of the ledger."""
    app = FastAPI(title="PTM Ledger", version="0.1.0")
    app.state.ledger = ledger

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/minerals")
    def minerals() -> list[dict[str, object]]:
        return [
            {"code": m.code, "name": m.name, "unit": m.unit, "scale": m.scale}
            for m in MINERALS.values()
        ]

    return app
