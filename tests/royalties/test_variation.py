"""Causes of variation: parts that sum exactly to the change, and the Spanish text."""

from __future__ import annotations

from dataclasses import replace
from decimal import Context, localcontext
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from royalties.calculation import QuarterInput, compute
from royalties.errors import RoyaltiesInputError
from royalties.quarters import Quarter
from royalties.variation import FACTORS, decompose, format_es

from .data import QUARTER_A, doc, quarter
from .test_calculation import months_st


def previous_of_a() -> QuarterInput:
    """Quarter A's data moved one quarter back (2025-Q2 from January–March 2025)."""
    d = doc(QUARTER_A)
    d["quarter"] = "2025-Q2"
    for m, label in zip(d["months"], ("2025-01", "2025-02", "2025-03"), strict=True):
        m["month"] = label
    return quarter(d)


def test_only_trm_changes() -> None:
    """Same data, TRM 4000 → 4100: only the TRM moves the price.

    ΔPBLRN = PFOB × ΔTRM = 7.27365 × 100 = 727.365 COP/lb (quarter A's PFOB, worked by
    hand in test_calculation), +3.2552… % of 22,344.6.
    """
    old = previous_of_a()
    new = replace(quarter(QUARTER_A), trm_cop_per_usd=D(4100))
    v = decompose(old, new)
    assert v.change_cop_per_lb == D("727.365")
    assert v.contributions["trm"] == D("727.365")
    assert all(v.contributions[f] == 0 for f in FACTORS if f != "trm")
    assert v.text_es.startswith(
        "El precio base para liquidar regalías de níquel (PBLRN) de 2025-Q3 (23.071,97 COP/lb) "
        "aumentó 727,37 COP/lb (+3,3 %) frente al trimestre anterior (2025-Q2: 22.344,60 COP/lb), "
        "principalmente por la tasa de cambio (TRM) (+727,37 COP/lb)."
    )
    assert "En sentido contrario" not in v.text_es


def test_costs_up_and_lme_up() -> None:
    """LME +0.10 USD/lb every month and furnace costs +400e6 COP in May.

    LME alone: every FOB +0.10 → PFOB +0.10 → +0.10 × 4000 = +400 COP/lb, whatever the
    order (the two effects are additive: the LME does not touch the costs).
    Costs alone: CPH +400e6/4e6 = +100 COP/lb → −0.75 × 100 = −75 COP/lb.
    Total +325 COP/lb; text: increase "principalmente por" the LME, costs against.
    """
    old = previous_of_a()
    new_doc = doc(QUARTER_A)
    for m in new_doc["months"]:
        m["lme_3m_usd_per_lb"] = str(D(m["lme_3m_usd_per_lb"]) + D("0.10"))
    new_doc["months"][1]["furnace_cost_cop"] = "16400000000"
    v = decompose(old, quarter(new_doc))
    assert v.change_cop_per_lb == D(325)
    assert v.contributions["lme"] == D(400)
    assert v.contributions["costos"] == D(-75)
    assert v.forward == v.reverse == v.contributions | {}
    assert "principalmente por el precio LME del níquel a 3 meses (+400,00 COP/lb)" in v.text_es
    assert "En sentido contrario actuó los costos aplicables" in v.text_es


def test_interaction_is_split_between_the_two_orders() -> None:
    """TRM and LME both change: the cross term ΔPFOB × ΔTRM goes half to each.

    LME +0.10 every month (ΔPFOB = 0.10), TRM 4000 → 4100 (ΔTRM = 100).
    Forward (LME first): LME 0.10 × 4000 = 400; TRM 7.37365 × 100 = 737.365.
    Reverse (TRM first): TRM 7.27365 × 100 = 727.365; LME 0.10 × 4100 = 410.
    Means: LME 405, TRM 732.365; total 1,137.365 = 0.10×4000 + 7.37365×100 … exactly.
    """
    old = previous_of_a()
    new_doc = doc(QUARTER_A)
    new_doc["trm_cop_per_usd"] = "4100"
    for m in new_doc["months"]:
        m["lme_3m_usd_per_lb"] = str(D(m["lme_3m_usd_per_lb"]) + D("0.10"))
    v = decompose(old, quarter(new_doc))
    assert v.forward["lme"] == D(400)
    assert v.forward["trm"] == D("737.365")
    assert v.reverse["trm"] == D("727.365")
    assert v.reverse["lme"] == D(410)
    assert v.contributions["lme"] == D(405)
    assert v.contributions["trm"] == D("732.365")
    assert v.change_cop_per_lb == D("1137.365")


def test_no_change() -> None:
    v = decompose(previous_of_a(), quarter(QUARTER_A))
    assert v.change_cop_per_lb == 0
    assert all(c == 0 for c in v.contributions.values())
    assert "se mantuvo prácticamente igual" in v.text_es


def test_decrease_text_names_the_main_causes() -> None:
    """TRM 4000 → 3000, LME −1.60 USD/lb every month, April's handling cost to 0.

    TRM: forward (after LME) PFOB 5.67365 × −1000 = −5,673.65; reverse 7.27365 × −1000
      = −7,273.65; mean −6,473.65.
    LME: forward −1.60 × 4000 = −6,400; reverse −1.60 × 3000 = −4,800; mean −5,600.
    Costs: CM falls by 600e6/4e6 = 150 → +0.75 × 150 = +112.5 (against the fall).
    Total −6,473.65 − 5,600 + 112.5 = −11,961.15. The LME's −5,600 is at least half of
    the TRM's −6,473.65, so both are named as main causes, the TRM first.
    """
    new_doc = doc(QUARTER_A)
    new_doc["trm_cop_per_usd"] = "3000"
    for m in new_doc["months"]:
        m["lme_3m_usd_per_lb"] = str(D(m["lme_3m_usd_per_lb"]) - D("1.60"))
    new_doc["months"][0]["handling_cost_cop"] = "0"
    v = decompose(previous_of_a(), quarter(new_doc))
    assert v.contributions["trm"] == D("-6473.65")
    assert v.contributions["lme"] == D(-5600)
    assert v.contributions["costos"] == D("112.5")
    assert v.change_cop_per_lb == D("-11961.15")
    assert " disminuyó 11.961,15 COP/lb (-53,5 %) " in v.text_es
    assert (
        "principalmente por la tasa de cambio (TRM) (-6.473,65 COP/lb) y el precio LME del "
        "níquel a 3 meses (-5.600,00 COP/lb)." in v.text_es
    )
    assert "En sentido contrario actuó los costos aplicables" in v.text_es


def test_previous_must_be_the_quarter_before() -> None:
    with pytest.raises(RoyaltiesInputError) as info:
        decompose(quarter(QUARTER_A), quarter(QUARTER_A))
    assert info.value.field == "variation-against"


def test_format_es() -> None:
    assert format_es(D("1234.565")) == "1.234,57"
    assert format_es(D("-1234567.5"), signed=True) == "-1.234.567,50"
    assert format_es(D("3.25"), 1, signed=True) == "+3,3"
    assert format_es(D(0), signed=True) == "0,00"


@st.composite
def pairs(draw: st.DrawFn) -> tuple[QuarterInput, QuarterInput]:
    q = Quarter(draw(st.integers(2016, 2040)), draw(st.integers(1, 4)))
    trm = st.decimals(min_value=D(1000), max_value=D(6000), places=2)
    old = QuarterInput(
        quarter=q.previous(),
        trm_cop_per_usd=draw(trm),
        months=tuple(draw(months_st(m)) for m in q.previous().data_months),
    )
    new = QuarterInput(
        quarter=q,
        trm_cop_per_usd=draw(trm),
        months=tuple(draw(months_st(m)) for m in q.data_months),
    )
    return old, new


@settings(max_examples=100, deadline=None)
@given(pair=pairs())
def test_parts_sum_exactly_to_the_change(pair: tuple[QuarterInput, QuarterInput]) -> None:
    old, new = pair
    v = decompose(old, new)
    # The default context has 28 digits; compare in one wide enough not to round.
    with localcontext(Context(prec=300)):
        change = compute(new).pblrn_cop_per_lb - compute(old).pblrn_cop_per_lb
        assert v.change_cop_per_lb == change
        assert sum(v.contributions.values(), D(0)) == change
        assert sum(v.forward.values(), D(0)) == change
        assert sum(v.reverse.values(), D(0)) == change
    assert tuple(v.contributions) == FACTORS
