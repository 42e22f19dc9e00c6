"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api import problems
from api.context import ApiContext
from api.limits import RequestLimits
from api.routes import (
    admin,
    audit,
    auth,
    balances,
    channels,
    meta,
    purchases,
    royalties,
    seller_pages,
)

DESCRIPTION = """
API del libro de transacciones de la Plataforma de Trazabilidad de Minerales (ANM).

* Inicie sesión en dos pasos (`/auth/login`, luego código por correo/SMS o autenticador)
  y envíe `Authorization: Bearer <token>`.
* Toda escritura acepta `Idempotency-Key`: un reintento con la misma clave devuelve la
  primera respuesta sin repetir el efecto; la misma clave con otro cuerpo es un 422.
* Las escrituras devuelven `X-PTM-Position`; una lectura con `X-PTM-Min-Position` espera
  (acotado) a que los modelos de lectura la alcancen; una posición que el registro aún no
  tiene es un 422 inmediato, y si ya esperan demasiadas lecturas, un 503 con
  `Retry-After`.
* Un cuerpo JSON que no está en UTF-8 es un 422 (`invalid_encoding`).
* Los errores son `application/problem+json` (RFC 9457) con `code` y `field`.
* Cantidades y precios viajan como texto decimal exacto.
"""


def create_app(ctx: ApiContext) -> FastAPI:
    """The HTTP face of the ledger."""
    app = FastAPI(title="PTM Ledger", version="1.0.0", description=DESCRIPTION)
    app.state.ctx = ctx
    problems.install(app, pages=seller_pages.http_error_page)
    app.add_middleware(RequestLimits)
    for module in (
        meta,
        auth,
        purchases,
        channels,
        balances,
        admin,
        audit,
        royalties,
        seller_pages,
    ):
        app.include_router(module.router)
    _declare_read_waits(app)
    return app


def _declare_read_waits(app: FastAPI) -> None:
    """Every operation that takes ``X-PTM-Min-Position`` may answer 503 (too many reads
    waiting, :func:`api.deps.wait_for_position`): declare it where the header is."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        busy = problems.responses(503)[503]
        busy = {
            "description": busy["description"],
            "content": busy["content"],
            "headers": {
                "Retry-After": {
                    "description": "Segundos a esperar antes de reintentar.",
                    "schema": {"type": "integer"},
                }
            },
        }
        for item in schema.get("paths", {}).values():
            for op in item.values():
                params = op.get("parameters", []) if isinstance(op, dict) else []
                if any(p.get("name") == "X-PTM-Min-Position" for p in params):
                    op.setdefault("responses", {}).setdefault("503", busy)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
