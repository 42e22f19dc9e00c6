"""Types and models every area shares. Quantities and prices travel as decimal strings
(JSON numbers would pass through floats)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Decimal = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,12})?$", max_length=28),
    Field(description="Número decimal exacto como texto, con punto decimal", examples=["125.50"]),
]
#: A quantity of mineral: at most 12 integer digits (``ledger.values.MAX_QUANTITY`` is
#: 10^12 of the unit).
Quantity = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,12})?$", max_length=25),
    Field(
        description="Cantidad decimal exacta como texto, menor que 10^12 de la unidad",
        examples=["125.50"],
    ),
]
Text = Annotated[str, StringConstraints(max_length=200)]
Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,12}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageMeta(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None
