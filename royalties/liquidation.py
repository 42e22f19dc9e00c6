"""Royalties due on a quantity of nickel: ``PBLRN × lb × rate``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from royalties.calculation import CONTEXT, PLACES_COP, present
from royalties.constants import NICKEL_ROYALTY_RATE, NICKEL_ROYALTY_RATE_SOURCE
from royalties.errors import RoyaltiesInputError


@dataclass(frozen=True)
class Liquidation:
    """The royalties due, exact and rounded to pesos with cents (half-up)."""

    pblrn_cop_per_lb: Decimal
    quantity_lb: Decimal
    rate: Decimal
    rate_source: str
    royalties_cop: Decimal

    @property
    def royalties_cop_presented(self) -> Decimal:
        """The amount rounded half-up to cents."""
        return present(self.royalties_cop, PLACES_COP)


def liquidate(
    *,
    pblrn_cop_per_lb: Decimal,
    quantity_lb: Decimal,
    rate: Decimal = NICKEL_ROYALTY_RATE,
    rate_source: str = NICKEL_ROYALTY_RATE_SOURCE,
) -> Liquidation:
    """Royalties on ``quantity_lb`` of nickel at the base price ``pblrn_cop_per_lb``.

    The rate is data (12 % for nickel, Ley 141 de 1994) so that a change of law is a
    change of argument, not of code.
    """
    if pblrn_cop_per_lb < 0:
        raise RoyaltiesInputError("pblrn: el precio base no puede ser negativo", field="pblrn")
    if quantity_lb < 0:
        raise RoyaltiesInputError("lb: la cantidad no puede ser negativa", field="lb")
    if not 0 <= rate <= 1:
        raise RoyaltiesInputError("rate: la tasa debe estar entre 0 y 1", field="rate")
    with localcontext(CONTEXT):
        due = pblrn_cop_per_lb * quantity_lb * rate
    return Liquidation(
        pblrn_cop_per_lb=pblrn_cop_per_lb,
        quantity_lb=quantity_lb,
        rate=rate,
        rate_source=rate_source,
        royalties_cop=due,
    )
