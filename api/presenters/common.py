"""Shaping every area shares: pages, quantities, money (``money_text``, from the
domain's values), attachments."""

from __future__ import annotations

from decimal import Decimal as ExactDecimal
from typing import Any

from api.schemas.common import PageMeta
from ledger.values import MINERALS


def page_meta(total: int, offset: int, limit: int, next_offset: int | None) -> PageMeta:
    return PageMeta(total=total, offset=offset, limit=limit, next_offset=next_offset)


def slice_meta(total: int, offset: int, limit: int) -> PageMeta:
    """The page of ``offset``/``limit`` over ``total`` items counted in full."""
    return page_meta(total, offset, limit, offset + limit if offset + limit < total else None)


def plain_text(value: Any) -> str:
    """A decimal in plain fixed-point notation, never with an exponent (``4.3206E+7`` →
    ``43206000``); the value is unchanged."""
    d = value if isinstance(value, ExactDecimal) else ExactDecimal(str(value))
    return format(d, "f")


def quantity_text(value: Any, mineral: str) -> str:
    """A quantity written with its mineral's decimal scale (``125.50`` g of gold)."""
    m = MINERALS.get(mineral)
    d = ExactDecimal(str(value))
    return format(d.quantize(ExactDecimal(1).scaleb(-m.scale)) if m else d, "f")


def attachment(filename: str) -> dict[str, str]:
    """The header that makes a response a download named ``filename``."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
