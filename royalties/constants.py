"""The data of the methodology that a later resolution can change.

Nothing here is a literal inside a formula: :mod:`royalties.calculation` receives a
:class:`BaseConstants` with every quarter's input, and the defaults below are those of
Resolución ANM 293 de 2015 (aclarada por la 778 de 2015, modificada por la 315 de 2018)
as the procedure's §5.2.4 tabulates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class BaseConstants:
    """Base-day freight constants and the share of applicable costs that is deducted."""

    bdi_base: Decimal = Decimal("800")
    """BDI0: Baltic Dry Index on the base day."""
    freight_base_usd_per_lb: Decimal = Decimal("0.0568")
    """Flete0: sea freight per lb on the base day (895,82 USD per 20' container / 15.763 lb,
    as the resolution rounds it; the rounded figure is the one the resolution fixes)."""
    cost_factor: Decimal = Decimal("0.75")
    """Share of CPH + CM + CTP deducted from the FOB price."""
    base_day: date = field(default=date(2015, 6, 30))
    """Día base of the freight adjustment (shown in the annex)."""
    freight_container_usd: Decimal = Decimal("895.82")
    """Freight of a 20' container on the base day, USD (documentation: annex §5.2.4)."""
    lb_per_container: Decimal = Decimal("15763")
    """Pounds of nickel per container on the base day (documentation: annex §5.2.4)."""


DEFAULT_CONSTANTS = BaseConstants()

NICKEL_ROYALTY_RATE = Decimal("0.12")
"""Royalty on nickel: 12 % of the value at the mine mouth (Ley 141 de 1994, art. 16)."""
NICKEL_ROYALTY_RATE_SOURCE = "Ley 141 de 1994, artículo 16 (níquel: 12 %)"

LEGAL_SOURCES = (
    "Resolución ANM 293 del 15 de mayo de 2015",
    "Resolución ANM 778 del 9 de noviembre de 2015",
    "Resolución ANM 315 del 18 de junio de 2018",
)
"""Resolutions that fix the methodology, cited in the annex."""
