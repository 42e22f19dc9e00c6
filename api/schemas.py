"""Request and response models of the API. Quantities and prices travel as decimal
strings (JSON numbers would pass through floats)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as ExactDecimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ledger.values import MINERALS

Decimal = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,12})?$", max_length=28),
    Field(description="Número decimal exacto como texto, con punto decimal", examples=["125.50"]),
]
Text = Annotated[str, StringConstraints(max_length=200)]
Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,12}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth ------------------------------------------------------------------------------


class LoginRequest(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginStarted(BaseModel):
    attempt_id: UUID
    factors: list[Literal["email", "sms", "totp"]]
    expires_at: datetime


class SendCodeRequest(Strict):
    channel: Literal["email", "sms"]


class CodeSent(BaseModel):
    sent_to: str
    expires_at: datetime
    resends_left: int


class VerifyRequest(Strict):
    code: Code | None = None
    totp: Code | None = None


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_at: datetime
    user_id: UUID
    role: str


class Me(BaseModel):
    user_id: UUID
    username: str
    name: str
    role: str
    organisation_id: UUID
    organisation_name: str
    totp_enabled: bool


class TotpEnrolment(BaseModel):
    provisioning_uri: str
    secret: str
    qr_svg: str


class TotpConfirm(Strict):
    code: Code


class PasswordChange(Strict):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


# --- purchases -----------------------------------------------------------------------


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
    quantity: Decimal
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


class PageMeta(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None


class PurchasePage(BaseModel):
    items: list[PurchaseSummary]
    page: PageMeta


class Balance(BaseModel):
    origin_code: str
    mineral: str
    unit: str
    available: str
    reserved: str
    department_code: str
    municipality_code: str
    period: str
    expediente: str


class BalancePage(BaseModel):
    items: list[Balance]
    page: PageMeta


class Movement(BaseModel):
    position: int
    kind: str
    from_holder: str | None
    to_holder: str | None
    quantity: str
    purchase_id: str | None
    at: datetime


class CustodyPage(BaseModel):
    origin_code: str
    items: list[Movement]
    page: PageMeta


class ReportRow(BaseModel):
    mineral: str
    unit: str
    department_code: str
    municipality_code: str
    month: str
    currency: str
    quantity: str
    value: str
    purchases: int


class ReportPage(BaseModel):
    items: list[ReportRow]
    page: PageMeta


# --- admin ---------------------------------------------------------------------------


class BuyerIn(Strict):
    nit: Annotated[str, StringConstraints(max_length=20)]
    name: Text
    rucom: Annotated[str, StringConstraints(max_length=30)]
    email: Annotated[str, StringConstraints(max_length=254)]
    mobile: Annotated[str, StringConstraints(max_length=20)]


class OperatorIn(Strict):
    doc_type: Annotated[str, StringConstraints(max_length=4)]
    doc_number: Annotated[str, StringConstraints(max_length=24)]
    name: Text
    expedientes: Annotated[
        list[Annotated[str, StringConstraints(max_length=30)]], Field(min_length=1, max_length=50)
    ]
    email: Annotated[str, StringConstraints(max_length=254)]
    mobile: Annotated[str, StringConstraints(max_length=20)]


class ContactIn(Strict):
    email: Annotated[str, StringConstraints(max_length=254)]
    mobile: Annotated[str, StringConstraints(max_length=20)]


class OrganisationOut(BaseModel):
    id: UUID
    kind: str
    doc_type: str
    doc_number: str
    name: str
    email: str
    mobile: str
    rucom: str | None
    expedientes: list[str]
    origin_codes: list[str]


class UserIn(Strict):
    username: Annotated[str, StringConstraints(min_length=3, max_length=64)]
    name: Text
    email: Annotated[str, StringConstraints(max_length=254)]
    mobile: Annotated[str, StringConstraints(max_length=20)]
    role: Literal["buyer", "seller", "auditor", "analyst", "admin"]
    organisation_id: UUID
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UserOut(BaseModel):
    id: UUID
    username: str
    name: str
    role: str
    organisation_id: UUID


class ProductionIn(Strict):
    operator_id: UUID
    mineral: Annotated[str, StringConstraints(max_length=32)]
    quantity: Decimal
    expediente: Annotated[str, StringConstraints(max_length=30)]
    department_code: Annotated[str, StringConstraints(max_length=2)]
    municipality_code: Annotated[str, StringConstraints(max_length=5)]
    period: Annotated[str, StringConstraints(max_length=7)]
    code: Annotated[str, StringConstraints(max_length=40)] | None = None


class ProductionOut(BaseModel):
    code: str
    operator_id: UUID
    mineral: str
    unit: str
    produced: str


class Created(BaseModel):
    id: UUID


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    head: int
    projection_lag: dict[str, int]


class MineralOut(BaseModel):
    code: str
    name: str
    unit: str
    scale: int


def page_meta(total: int, offset: int, limit: int, next_offset: int | None) -> PageMeta:
    return PageMeta(total=total, offset=offset, limit=limit, next_offset=next_offset)


def quantity_text(value: Any, mineral: str) -> str:
    """A quantity written with its mineral's decimal scale (``125.50`` g of gold)."""
    m = MINERALS.get(mineral)
    d = ExactDecimal(str(value))
    return format(d.quantize(ExactDecimal(1).scaleb(-m.scale)) if m else d, "f")
