"""Causes of the variation of the PBLRN against the previous quarter.

Method: *polar average* of two chain substitutions (the structural-decomposition
practice of averaging the two "polar" decompositions). The inputs are grouped into six
factors, :data:`FACTORS`. Starting from the previous quarter's inputs, the forward chain
switches the factors to the new quarter's values one by one in the order of
:data:`FACTORS`; each factor's forward contribution is the change in PBLRN at its
switch. The reverse chain does the same in the opposite order. A factor's contribution
is the mean of its two.

Why the parts sum exactly to the total change: along each chain the contributions
telescope, ``Σ_k [f(S_k) − f(S_k−1)] = f(new) − f(old)``, so both chains sum to the same
total Δ and so does their mean ``(Δ + Δ) / 2``. To make that identity hold in decimal
arithmetic, not only on paper, the differences, sums and the halving run in
:data:`EXACT`: 200 digits with the *Inexact* trap on, so any rounding would raise
instead of leaving a residue (the PBLRN values have at most 50 significant digits and
dividing by 2 terminates). A full Shapley average over the 720 orderings would divide by
numbers with the factor 3, which do not terminate in decimal, and the parts would then
only add up approximately. Averaging the two opposite orders removes the bias of
favouring the first or the last factor, which a single chain has.

Months are matched by position (first month of quarter t−1 with the first month of
quarter t−2, and so on). Factor groups: the freight factor includes BDI0 and Flete0,
the cost factor the 0,75 factor, so a change of constants by a new resolution is
attributed too; the exported volumes do not affect the PBLRN and travel with volumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Context, Decimal, Inexact, localcontext

from royalties.calculation import (
    CONTEXT,
    PLACES_COP,
    MonthInput,
    PblrnResult,
    QuarterInput,
    compute,
    present,
)
from royalties.errors import RoyaltiesInputError

EXACT = Context(prec=200, traps=[Inexact])
"""Context in which the decomposition's arithmetic must not round (see module doc)."""

FACTORS: tuple[str, ...] = ("lme", "primas", "flete", "trm", "costos", "volumenes")

FACTOR_NAMES_ES: dict[str, str] = {
    "lme": "el precio LME del níquel a 3 meses",
    "primas": "las primas de mercado de Europa y Estados Unidos",
    "flete": "el costo de transporte externo (flete)",
    "trm": "la tasa de cambio (TRM)",
    "costos": "los costos aplicables (horno, manejo, transporte y portuarios)",
    "volumenes": "los volúmenes producidos (ponderación mensual)",
}

_MONTH_FIELDS: dict[str, tuple[str, ...]] = {
    "lme": ("lme_3m_usd_per_lb",),
    "primas": (
        "premium_eu_low_usd_per_lb",
        "premium_eu_high_usd_per_lb",
        "premium_us_low_usd_per_lb",
        "premium_us_high_usd_per_lb",
    ),
    "flete": ("bdi", "freight_reported_usd_per_lb"),
    "trm": (),
    "costos": ("furnace_cost_cop", "handling_cost_cop", "transport_port_cost_cop"),
    "volumenes": ("produced_lb", "exported_lb"),
}
_CONSTANT_FIELDS: dict[str, tuple[str, ...]] = {
    "flete": ("bdi_base", "freight_base_usd_per_lb"),
    "costos": ("cost_factor",),
}


@dataclass(frozen=True)
class Variation:
    """The change in PBLRN from ``previous`` to ``current`` and its causes."""

    current: PblrnResult
    previous: PblrnResult
    change_cop_per_lb: Decimal
    change_percent: Decimal | None
    """Relative change × 100 (50 digits); ``None`` when the previous PBLRN is zero."""
    contributions: dict[str, Decimal]
    """Factor → COP/lb, in the order of :data:`FACTORS`; sums exactly to the change."""
    forward: dict[str, Decimal]
    reverse: dict[str, Decimal]
    text_es: str


def _sorted_months(data: QuarterInput) -> tuple[MonthInput, ...]:
    return tuple(sorted(data.months, key=lambda m: m.month))


def _hybrid(old: QuarterInput, new: QuarterInput, switched: frozenset[str]) -> QuarterInput:
    """``old`` with the factors in ``switched`` taken from ``new``, months by position;
    months and quarter are labelled as in ``new`` (labels do not enter the formulas)."""
    months = []
    for o, n in zip(_sorted_months(old), _sorted_months(new), strict=True):
        values = {
            f: getattr(n if factor in switched else o, f)
            for factor, fields in _MONTH_FIELDS.items()
            for f in fields
        }
        months.append(MonthInput(month=n.month, **values))
    constants = old.constants
    for factor, fields in _CONSTANT_FIELDS.items():
        if factor in switched:
            constants = replace(constants, **{f: getattr(new.constants, f) for f in fields})
    return QuarterInput(
        quarter=new.quarter,
        trm_cop_per_usd=(new if "trm" in switched else old).trm_cop_per_usd,
        months=tuple(months),
        constants=constants,
    )


def _chain(order: Sequence[str], price: Callable[[frozenset[str]], Decimal]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    switched: frozenset[str] = frozenset()
    before = price(switched)
    with localcontext(EXACT):
        for factor in order:
            switched = switched | {factor}
            after = price(switched)
            out[factor] = after - before
            before = after
    return out


def decompose(previous: QuarterInput, current: QuarterInput) -> Variation:
    """Explain ``PBLRN(current) − PBLRN(previous)`` by factor (see the module doc).

    ``previous`` must be the quarter immediately before ``current``.
    """
    if current.quarter.previous() != previous.quarter:
        raise RoyaltiesInputError(
            f"variation-against: el trimestre de comparación debe ser "
            f"{current.quarter.previous()} (el inmediatamente anterior a {current.quarter}), "
            f"no {previous.quarter}",
            field="variation-against",
        )
    old_result = compute(previous)
    new_result = compute(current)
    cache: dict[frozenset[str], Decimal] = {}

    def price(switched: frozenset[str]) -> Decimal:
        if switched not in cache:
            cache[switched] = compute(_hybrid(previous, current, switched)).pblrn_cop_per_lb
        return cache[switched]

    assert price(frozenset()) == old_result.pblrn_cop_per_lb
    assert price(frozenset(FACTORS)) == new_result.pblrn_cop_per_lb
    forward = _chain(FACTORS, price)
    reverse = _chain(tuple(reversed(FACTORS)), price)
    with localcontext(EXACT):
        contributions = {f: (forward[f] + reverse[f]) / 2 for f in FACTORS}
        change = new_result.pblrn_cop_per_lb - old_result.pblrn_cop_per_lb
        assert sum(contributions.values(), Decimal(0)) == change
    percent: Decimal | None = None
    if old_result.pblrn_cop_per_lb != 0:
        with localcontext(CONTEXT):
            percent = change * 100 / abs(old_result.pblrn_cop_per_lb)
    return Variation(
        current=new_result,
        previous=old_result,
        change_cop_per_lb=change,
        change_percent=percent,
        contributions=contributions,
        forward=forward,
        reverse=reverse,
        text_es=variation_text_es(
            current=new_result,
            previous=old_result,
            change=change,
            percent=percent,
            contributions=contributions,
        ),
    )


def format_es(value: Decimal, places: int = PLACES_COP, *, signed: bool = False) -> str:
    """A number the Colombian way: ``1.234,56`` (thousands dot, decimal comma), rounded
    half-up to ``places``; ``signed`` adds ``+`` to positives."""
    rounded = present(value, places)
    sign = "-" if rounded < 0 else ("+" if signed and rounded > 0 else "")
    digits = f"{abs(rounded):,.{places}f}"
    return sign + digits.replace(",", "_").replace(".", ",").replace("_", ".")


def _join_es(items: Iterable[str]) -> str:
    parts = list(items)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " y " + parts[-1]


def _named(factor: str, value: Decimal) -> str:
    return f"{FACTOR_NAMES_ES[factor]} ({format_es(value, signed=True)} COP/lb)"


def variation_text_es(
    *,
    current: PblrnResult,
    previous: PblrnResult,
    change: Decimal,
    percent: Decimal | None,
    contributions: dict[str, Decimal],
) -> str:
    """The "causales de variación" paragraph, in Spanish.

    The main causes are the factors that moved the price in the direction of the
    change: the largest, and the second too when it is at least half the largest.
    Factors that pushed the other way are named after. Figures are rounded for reading
    (2 decimals, half-up), so the rounded parts may differ from the rounded total by a
    cent; the exact parts sum exactly.
    """
    head = (
        f"El precio base para liquidar regalías de níquel (PBLRN) de {current.quarter} "
        f"({format_es(current.pblrn_cop_per_lb)} COP/lb)"
    )
    shown_change = present(change)
    if shown_change == 0:
        return (
            f"{head} se mantuvo prácticamente igual frente al trimestre anterior "
            f"({previous.quarter}: {format_es(previous.pblrn_cop_per_lb)} COP/lb)."
        )
    verb = "aumentó" if change > 0 else "disminuyó"
    pct = ""
    if percent is not None:
        pct = f" ({format_es(percent, 1, signed=True)} %)"
    sentence = (
        f"{head} {verb} {format_es(abs(change))} COP/lb{pct} frente al trimestre anterior "
        f"({previous.quarter}: {format_es(previous.pblrn_cop_per_lb)} COP/lb)"
    )
    direction = 1 if change > 0 else -1
    with_change = sorted(
        (f for f in FACTORS if contributions[f] * direction > 0),
        key=lambda f: -abs(contributions[f]),
    )
    main = with_change[:1]
    if len(with_change) > 1 and abs(contributions[with_change[1]]) * 2 >= abs(
        contributions[with_change[0]]
    ):
        main = with_change[:2]
    if main:
        sentence += ", principalmente por " + _join_es(_named(f, contributions[f]) for f in main)
    sentence += "."
    against = [
        f for f in FACTORS if contributions[f] * direction < 0 and present(contributions[f]) != 0
    ]
    if against:
        verb_against = "actuó" if len(against) == 1 else "actuaron"
        sentence += (
            f" En sentido contrario {verb_against} "
            + _join_es(_named(f, contributions[f]) for f in against)
            + "."
        )
    detail = "; ".join(
        f"{FACTOR_NAMES_ES[f]}: {format_es(contributions[f], signed=True)}" for f in FACTORS
    )
    return f"{sentence} Aporte de cada factor, en COP/lb: {detail}."
