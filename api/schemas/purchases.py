"""Purchases: what the buyer sends and what it reads back."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Decimal, PageMeta, Quantity, Strict, Text


class SellerRef(Strict):
    expediente: Annotated[str, StringConstraints(max_length=30)]
    doc_type: Annotated[str, StringConstraints(max_length=4)]
    doc_number: Annotated[str, StringConstraints(max_length=24)]
    razon_social: Text


class TransactionData(Strict):
    invoice_date: date | None = None
    transaction_date: date | None = None
    sha256: Annotated[str, StringConstraints(max_length=64)] | None = None
    currency: Annotated[str, StringConstraints(max_length=3)] | None = None
    department_code: Annotated[str, StringConstraints(max_length=2)] | None = None
    municipality_code: Annotated[str, StringConstraints(max_length=5)] | None = None


class CreatePurchase(Strict):
    seller: SellerRef
    transaction: TransactionData = Field(default_factory=TransactionData)


class LineIn(Strict):
    origin_code: Annotated[str, StringConstraints(max_length=40)]
    mineral: Annotated[str, StringConstraints(max_length=32)] | None = None
    quantity: Quantity
    unit_price: Decimal


class SetLines(Strict):
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]


class ValidateRequest(Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=12)]


class CancelRequest(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] = (
        "Cancelada por el comprador"
    )


class LineOut(BaseModel):
    origin_code: str
    mineral: str
    quantity: str
    unit_price: str


class PurchaseOut(BaseModel):
    id: UUID
    status: str
    #: Spanish label of the status ("datos del vendedor recibidos", "vencida", …).
    status_label: str
    #: A draft the seller filled in through its URL or web service: resume it.
    seller_data_received: bool
    buyer_id: UUID
    seller_id: UUID
    seller: dict[str, str]
    transaction: dict[str, str]
    channel: str | None
    lines: list[LineOut]
    total: str
    missing: list[str]
    created_at: datetime
    saved_at: datetime | None
    submitted_at: datetime | None
    code_expires_at: datetime | None
    reservation_expires_at: datetime | None
    failed_attempts: int
    resends: int
    ended_at: datetime | None
    end_reason: str | None


class PurchaseSummary(BaseModel):
    id: UUID
    status: str
    status_label: str
    seller_data_received: bool
    buyer_id: UUID
    seller_id: UUID
    seller_name: str
    seller_document: str
    expediente: str
    channel: str | None
    currency: str | None
    total: str
    lines: list[dict[str, str]]
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    reservation_expires_at: datetime | None
    ended_at: datetime | None


class CommandResult(BaseModel):
    id: UUID
    status: str
    detail: str
    code_expires_at: datetime | None = None
    reservation_expires_at: datetime | None = None
    resends_left: int | None = None


class PurchasePage(BaseModel):
    items: list[PurchaseSummary]
    page: PageMeta
