"""Balances, chain of custody and the traceability report."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from api.schemas.common import PageMeta


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
