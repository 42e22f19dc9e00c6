"""The nickel royalty base price (PBLRN) of a quarter, from the data of quarter t−1.

Pure functions on :class:`~decimal.Decimal`; no floats, no I/O. Formulas (docs/domain.md §7,
procedure §5.1–5.2, Resolución ANM 293 de 2015):

- ``PTIN_m = LME3M_m + mean(EU_m, US_m)``, each premium the mean of its low and high;
- ``TE_bdi_m = Flete0 × BDI_m / BDI0``; ``TE_m = min(TE_real_m, TE_bdi_m)``;
- ``FOB_m = PTIN_m − TE_m``; ``PFOB = Σ FOB_m·V_m / Σ V_m`` (V = lb produced);
- ``CPH = Σ CPHT_m / Σ V_m``, ``CM = Σ CMT_m / Σ V_m``, ``CTP = Σ CTPT_m / Σ V_m``;
- ``PBLRN_t = PFOB × TRM − factor × (CPH + CM + CTP)`` in COP/lb, factor 0,75.

Precision: every operation runs in :data:`CONTEXT` (50 significant digits, half-even).
Sums, differences, products and the means and BDI adjustment (divisions by 2 and by
BDI0 = 800 terminate) are exact for any realistic input; only the divisions by a total
volume can be inexact, and are then correct to 50 significant digits (relative error
below 1e-49). Nothing is rounded to cents here: :func:`present` does that, for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from royalties.constants import DEFAULT_CONSTANTS, BaseConstants
from royalties.errors import RoyaltiesInputError
from royalties.quarters import Month, Quarter

PRECISION_DIGITS = 50
CONTEXT = Context(
    prec=PRECISION_DIGITS,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
"""The context of every calculation; a trap turns an impossible operation into an error
instead of a NaN or an infinity travelling silently into a resolution."""

PLACES_COP = 2
"""Decimals shown for COP and COP/lb figures (the resolution's PBLRN is in COP/lb)."""
PLACES_USD = 4
"""Decimals shown for USD/lb figures: the procedure's own tables show USD/lb to four
decimals (Flete0 = 0,0568); two would hide the freight comparison TE_real vs TE_bdi."""

TWO = Decimal(2)
ZERO = Decimal(0)

TE_SOURCE_REPORTED = "reportado"
TE_SOURCE_BDI = "bdi"


@dataclass(frozen=True)
class MonthInput:
    """One month of quarter t−1: market data, the producer's report and its costs."""

    month: Month
    lme_3m_usd_per_lb: Decimal
    premium_eu_low_usd_per_lb: Decimal
    premium_eu_high_usd_per_lb: Decimal
    premium_us_low_usd_per_lb: Decimal
    premium_us_high_usd_per_lb: Decimal
    bdi: Decimal
    freight_reported_usd_per_lb: Decimal
    produced_lb: Decimal
    exported_lb: Decimal
    furnace_cost_cop: Decimal
    handling_cost_cop: Decimal
    transport_port_cost_cop: Decimal


MONTH_NUMBER_FIELDS: tuple[str, ...] = (
    "lme_3m_usd_per_lb",
    "premium_eu_low_usd_per_lb",
    "premium_eu_high_usd_per_lb",
    "premium_us_low_usd_per_lb",
    "premium_us_high_usd_per_lb",
    "bdi",
    "freight_reported_usd_per_lb",
    "produced_lb",
    "exported_lb",
    "furnace_cost_cop",
    "handling_cost_cop",
    "transport_port_cost_cop",
)
"""The numeric fields of a month, in the order of the input file."""


@dataclass(frozen=True)
class QuarterInput:
    """Everything the price of ``quarter`` depends on."""

    quarter: Quarter
    trm_cop_per_usd: Decimal
    months: tuple[MonthInput, ...]
    constants: BaseConstants = DEFAULT_CONSTANTS


@dataclass(frozen=True)
class MonthResult:
    """Every intermediate of one month."""

    month: Month
    premium_eu_usd_per_lb: Decimal
    premium_us_usd_per_lb: Decimal
    premium_usd_per_lb: Decimal
    lme_3m_usd_per_lb: Decimal
    ptin_usd_per_lb: Decimal
    bdi: Decimal
    te_real_usd_per_lb: Decimal
    te_bdi_usd_per_lb: Decimal
    te_usd_per_lb: Decimal
    te_source: str
    fob_usd_per_lb: Decimal
    produced_lb: Decimal
    exported_lb: Decimal
    furnace_cost_cop: Decimal
    handling_cost_cop: Decimal
    transport_port_cost_cop: Decimal


@dataclass(frozen=True)
class PblrnResult:
    """The base price of a quarter and every figure that leads to it."""

    quarter: Quarter
    trm_cop_per_usd: Decimal
    constants: BaseConstants
    months: tuple[MonthResult, ...]
    produced_total_lb: Decimal
    exported_total_lb: Decimal
    pfob_usd_per_lb: Decimal
    pfob_cop_per_lb: Decimal
    pfob_exported_weighted_usd_per_lb: Decimal | None
    """PFOB weighted by lb exported (methodology text §5.2 e), shown in the annex only;
    ``None`` when nothing was exported."""
    furnace_total_cop: Decimal
    handling_total_cop: Decimal
    transport_port_total_cop: Decimal
    cph_cop_per_lb: Decimal
    cm_cop_per_lb: Decimal
    ctp_cop_per_lb: Decimal
    costs_cop_per_lb: Decimal
    deduction_cop_per_lb: Decimal
    pblrn_cop_per_lb: Decimal


def _err(field: str, message: str) -> RoyaltiesInputError:
    return RoyaltiesInputError(f"{field}: {message}", field=field)


def validate(data: QuarterInput) -> None:
    """Check what the formulas need; raise :class:`RoyaltiesInputError` naming the field.

    The months must be exactly the three of quarter t−1 (any order); no price, index,
    cost or volume may be negative; BDI, BDI0, Flete0 and the TRM must be positive; each
    low premium must not exceed its high; the lb produced in the quarter must be
    positive (they divide), and the cost factor lies in [0, 1].
    """
    expected = data.quarter.data_months
    if len(data.months) != 3:
        raise _err(
            "months",
            f"se requieren exactamente 3 meses (los del trimestre anterior a "
            f"{data.quarter}: {', '.join(map(str, expected))}); llegaron {len(data.months)}",
        )
    seen: set[Month] = set()
    for i, m in enumerate(data.months):
        where = f"months[{i}]"
        if m.month not in expected:
            raise _err(
                f"{where}.month",
                f"{m.month} no es un mes del trimestre anterior a {data.quarter} "
                f"({', '.join(map(str, expected))})",
            )
        if m.month in seen:
            raise _err(f"{where}.month", f"el mes {m.month} está repetido")
        seen.add(m.month)
        for name in MONTH_NUMBER_FIELDS:
            if getattr(m, name) < ZERO:
                raise _err(f"{where}.{name}", "no puede ser negativo")
        if m.bdi == ZERO:
            raise _err(f"{where}.bdi", "el índice BDI debe ser mayor que cero")
        for market in ("eu", "us"):
            low = getattr(m, f"premium_{market}_low_usd_per_lb")
            high = getattr(m, f"premium_{market}_high_usd_per_lb")
            if low > high:
                raise _err(
                    f"{where}.premium_{market}_low_usd_per_lb",
                    f"la prima baja ({low}) supera a la alta ({high})",
                )
    if data.trm_cop_per_usd <= ZERO:
        raise _err("trm_cop_per_usd", "la TRM debe ser mayor que cero")
    with localcontext(CONTEXT):
        if sum((m.produced_lb for m in data.months), ZERO) <= ZERO:
            raise _err(
                "months[*].produced_lb",
                "el total de libras producidas en el trimestre debe ser mayor que cero",
            )
    c = data.constants
    if c.bdi_base <= ZERO:
        raise _err("constants.bdi_base", "BDI0 debe ser mayor que cero")
    if c.freight_base_usd_per_lb <= ZERO:
        raise _err("constants.freight_base_usd_per_lb", "Flete0 debe ser mayor que cero")
    if not ZERO <= c.cost_factor <= Decimal(1):
        raise _err("constants.cost_factor", "el factor de costos debe estar entre 0 y 1")


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def _month(m: MonthInput, c: BaseConstants) -> MonthResult:
    eu = (m.premium_eu_low_usd_per_lb + m.premium_eu_high_usd_per_lb) / TWO
    us = (m.premium_us_low_usd_per_lb + m.premium_us_high_usd_per_lb) / TWO
    premium = (eu + us) / TWO
    ptin = m.lme_3m_usd_per_lb + premium
    te_bdi = c.freight_base_usd_per_lb * m.bdi / c.bdi_base
    te_real = m.freight_reported_usd_per_lb
    # On a tie either source gives the same TE; call it the reported one.
    te, source = (te_real, TE_SOURCE_REPORTED) if te_real <= te_bdi else (te_bdi, TE_SOURCE_BDI)
    return MonthResult(
        month=m.month,
        premium_eu_usd_per_lb=eu,
        premium_us_usd_per_lb=us,
        premium_usd_per_lb=premium,
        lme_3m_usd_per_lb=m.lme_3m_usd_per_lb,
        ptin_usd_per_lb=ptin,
        bdi=m.bdi,
        te_real_usd_per_lb=te_real,
        te_bdi_usd_per_lb=te_bdi,
        te_usd_per_lb=te,
        te_source=source,
        fob_usd_per_lb=ptin - te,
        produced_lb=m.produced_lb,
        exported_lb=m.exported_lb,
        furnace_cost_cop=m.furnace_cost_cop,
        handling_cost_cop=m.handling_cost_cop,
        transport_port_cost_cop=m.transport_port_cost_cop,
    )


def compute(data: QuarterInput) -> PblrnResult:
    """The PBLRN of ``data.quarter`` and all its intermediates (validates first)."""
    validate(data)
    c = data.constants
    with localcontext(CONTEXT):
        months = tuple(_month(m, c) for m in sorted(data.months, key=lambda m: m.month))
        produced = _sum(m.produced_lb for m in months)
        exported = _sum(m.exported_lb for m in months)
        pfob_usd = _sum(m.fob_usd_per_lb * m.produced_lb for m in months) / produced
        pfob_exported = (
            _sum(m.fob_usd_per_lb * m.exported_lb for m in months) / exported
            if exported > ZERO
            else None
        )
        furnace = _sum(m.furnace_cost_cop for m in months)
        handling = _sum(m.handling_cost_cop for m in months)
        transport = _sum(m.transport_port_cost_cop for m in months)
        cph = furnace / produced
        cm = handling / produced
        ctp = transport / produced
        costs = cph + cm + ctp
        deduction = c.cost_factor * costs
        pfob_cop = pfob_usd * data.trm_cop_per_usd
        pblrn = pfob_cop - deduction
    return PblrnResult(
        quarter=data.quarter,
        trm_cop_per_usd=data.trm_cop_per_usd,
        constants=c,
        months=months,
        produced_total_lb=produced,
        exported_total_lb=exported,
        pfob_usd_per_lb=pfob_usd,
        pfob_cop_per_lb=pfob_cop,
        pfob_exported_weighted_usd_per_lb=pfob_exported,
        furnace_total_cop=furnace,
        handling_total_cop=handling,
        transport_port_total_cop=transport,
        cph_cop_per_lb=cph,
        cm_cop_per_lb=cm,
        ctp_cop_per_lb=ctp,
        costs_cop_per_lb=costs,
        deduction_cop_per_lb=deduction,
        pblrn_cop_per_lb=pblrn,
    )


def present(value: Decimal, places: int = PLACES_COP) -> Decimal:
    """``value`` rounded for display: ``places`` decimals, half-up (ties away from zero,
    as Excel's ROUND does). Never feed the result back into a calculation."""
    with localcontext(CONTEXT):
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """A decimal as a plain string: no exponent (``1E+2`` → ``100``) and no trailing
    fractional zeros (``22344.60000`` → ``22344.6``); the value is unchanged."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
