"""Health and reference data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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
