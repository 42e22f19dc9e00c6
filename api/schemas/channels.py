"""The seller's channels: the one-time URL, the web service and the TXT statement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Strict
from api.schemas.purchases import LineIn


class LinkIssued(BaseModel):
    id: UUID
    expires_at: datetime
    sent_to: str
    detail: str


class WebServiceIn(Strict):
    url: Annotated[
        str,
        StringConstraints(min_length=8, max_length=500),
        Field(
            description="Endpoint del ERP del vendedor: https, sin usuario ni contraseña, "
            "con un nombre que resuelva solo a direcciones públicas de Internet",
            examples=["https://erp.vendedor.com.co/ptm/notificaciones"],
        ),
    ]


class WebServiceOut(BaseModel):
    url: str
    secret: str
    detail: str


class StatementSent(BaseModel):
    statement_id: str
    sent_to: str


class WsLines(Strict):
    token: Annotated[str, StringConstraints(min_length=10, max_length=100)]
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]


class WsAccepted(BaseModel):
    purchase_id: UUID
    status: str
    lines: int
