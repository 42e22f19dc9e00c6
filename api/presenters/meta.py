"""Health and reference data."""

from __future__ import annotations

from api.schemas.meta import MineralOut
from ledger.values import Mineral


def mineral_out(m: Mineral) -> MineralOut:
    return MineralOut(code=m.code, name=m.name, unit=m.unit, scale=m.scale)
