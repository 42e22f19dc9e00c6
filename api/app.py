"""The FastAPI application factory."""

from __future__ import annotations

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
  (acotado) a que los modelos de lectura la alcancen.
* Los errores son `application/problem+json` (RFC 9457) con `code` y `field`.
* Cantidades y precios viajan como texto decimal exacto.
"""


def create_app(ctx: ApiContext) -> FastAPI:
    """The HTTP face of the ledger."""
    app = FastAPI(title="PTM Ledger", version="1.0.0", description=DESCRIPTION)
    app.state.ctx = ctx
    problems.install(app)
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
    return app
