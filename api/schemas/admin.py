"""Registry administration: organisations, users, production."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Quantity, Strict, Text


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
    quantity: Quantity
    expediente: Annotated[str, StringConstraints(max_length=30)]
    department_code: Annotated[str, StringConstraints(max_length=2)]
    municipality_code: Annotated[str, StringConstraints(max_length=5)]
    period: Annotated[
        str,
        StringConstraints(max_length=7, pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$"),
        Field(description="Periodo de producción AAAA-MM (años 2000 a 2099)"),
    ]
    code: Annotated[str, StringConstraints(max_length=40)] | None = None


class ProductionOut(BaseModel):
    code: str
    operator_id: UUID
    mineral: str
    unit: str
    produced: str


class Created(BaseModel):
    id: UUID
