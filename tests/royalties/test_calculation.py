"""The PBLRN calculation: three quarters worked by hand, and its invariants.

Every expected figure below was worked out by hand from the inputs in
``tests/royalties/data.py``; the arithmetic is shown in each docstring.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from royalties.calculation import (
    TE_SOURCE_BDI,
    TE_SOURCE_REPORTED,
    MonthInput,
    QuarterInput,
    compute,
    present,
    validate,
)
from royalties.constants import DEFAULT_CONSTANTS
from royalties.errors import RoyaltiesInputError
from royalties.quarters import Month, Quarter

from .data import QUARTER_A, QUARTER_B, QUARTER_C, doc, quarter


def test_quarter_a_every_intermediate() -> None:
    """2025-Q3 from April–June 2025, default constants (BDI0 800, Flete0 0.0568, 0.75).

    April: EU = (0.10+0.20)/2 = 0.15; US = (0.30+0.50)/2 = 0.40; premium = 0.275;
      PTIN = 7.00 + 0.275 = 7.275. TE_bdi = 0.0568 × 1000 / 800 = 56.8/800 = 0.071.
      Reported 0.060 < 0.071 → TE = 0.060 (reported). FOB = 7.275 − 0.060 = 7.215.
    May: EU = 0.15; US = (0.40+0.60)/2 = 0.50; premium = 0.325; PTIN = 7.525.
      TE_bdi = 0.0568 × 1200 / 800 = 68.16/800 = 0.0852. Reported 0.090 > 0.0852
      → TE = 0.0852 (BDI). FOB = 7.525 − 0.0852 = 7.4398.
    June: EU = (0.12+0.18)/2 = 0.15; US = (0.30+0.40)/2 = 0.35; premium = 0.25;
      PTIN = 7.05. TE_bdi = 0.0568 × 800 / 800 = 0.0568. Reported 0.050 → TE = 0.050.
      FOB = 7.00.
    ΣV = 1e6 + 2e6 + 1e6 = 4e6 lb.
    Σ FOB·V = 7.215e6 + 14.8796e6 + 7.0e6 = 29,094,600 → PFOB = 7.27365 USD/lb;
      × TRM 4000 = 29,094.6 COP/lb.
    CPH = (8e9 + 16e9 + 8.4e9)/4e6 = 32.4e9/4e6 = 8,100; CM = 2.0e9/4e6 = 500;
      CTP = 1.6e9/4e6 = 400; sum 9,000; × 0.75 = 6,750.
    PBLRN = 29,094.6 − 6,750 = 22,344.6 COP/lb.
    Weighted by exported lb: (7.215 × 0.9e6 + 7.4398 × 2.1e6 + 7.00 × 1e6) / 4e6
      = (6,493,500 + 15,623,580 + 7,000,000) / 4e6 = 29,117,080 / 4e6 = 7.27927.
    Presentation: PFOB 7.27365 is a tie at 4 decimals → half-up 7.2737.
    """
    r = compute(quarter(QUARTER_A))
    apr, may, jun = r.months
    assert [str(m.month) for m in r.months] == ["2025-04", "2025-05", "2025-06"]
    assert (apr.premium_eu_usd_per_lb, apr.premium_us_usd_per_lb) == (D("0.15"), D("0.40"))
    assert apr.premium_usd_per_lb == D("0.275")
    assert apr.ptin_usd_per_lb == D("7.275")
    assert apr.te_bdi_usd_per_lb == D("0.071")
    assert apr.te_usd_per_lb == D("0.060")
    assert apr.te_source == TE_SOURCE_REPORTED
    assert apr.fob_usd_per_lb == D("7.215")
    assert may.premium_usd_per_lb == D("0.325")
    assert may.ptin_usd_per_lb == D("7.525")
    assert may.te_bdi_usd_per_lb == D("0.0852")
    assert may.te_usd_per_lb == D("0.0852")
    assert may.te_source == TE_SOURCE_BDI
    assert may.fob_usd_per_lb == D("7.4398")
    assert jun.premium_usd_per_lb == D("0.25")
    assert jun.ptin_usd_per_lb == D("7.05")
    assert jun.te_bdi_usd_per_lb == D("0.0568")
    assert jun.te_usd_per_lb == D("0.050")
    assert jun.fob_usd_per_lb == D("7.00")
    assert r.produced_total_lb == D(4_000_000)
    assert r.exported_total_lb == D(4_000_000)
    assert r.pfob_usd_per_lb == D("7.27365")
    assert r.pfob_cop_per_lb == D("29094.6")
    assert r.cph_cop_per_lb == D(8100)
    assert r.cm_cop_per_lb == D(500)
    assert r.ctp_cop_per_lb == D(400)
    assert r.costs_cop_per_lb == D(9000)
    assert r.deduction_cop_per_lb == D(6750)
    assert r.pblrn_cop_per_lb == D("22344.6")
    assert r.pfob_exported_weighted_usd_per_lb == D("7.27927")
    assert present(r.pfob_usd_per_lb, 4) == D("7.2737")
    assert present(r.pblrn_cop_per_lb) == D("22344.60")


def test_quarter_b_non_terminating_division() -> None:
    """2026-Q1 from October–December 2025; the BDI freight applies every month.

    Oct: premium = (0.10 + 0.25)/2 = 0.175; PTIN 6.675; TE_bdi = 0.0568×2000/800 = 0.142
      < reported 0.150 → TE 0.142; FOB 6.533.
    Nov: premium 0.175; PTIN 6.775; TE_bdi = 0.0568×1600/800 = 0.1136 < 0.12;
      FOB 6.6614.
    Dec: EU (0.09+0.13)/2 = 0.11, US (0.21+0.29)/2 = 0.25, premium 0.18; PTIN 6.58;
      TE_bdi = 0.071 < 0.08; FOB 6.509.
    Equal volumes (1e6 each): PFOB = (6.533 + 6.6614 + 6.509)/3 = 19.7034/3 = 6.5678;
      × 3900.50 = 25,614.42 + 3.2839 = 25,617.7039 COP/lb.
    CPH = 27.3e9/3e6 = 9,100; CTP = 1.5e9/3e6 = 500;
      CM = 2.0e9/3e6 = 666.666…: 50 significant digits, the last rounded up.
    On paper 0.75 × (9,100 + 2000/3 + 500) = 0.75 × 30,800/3 = 7,700 and
      PBLRN = 25,617.7039 − 7,700 = 17,917.7039; in 50-digit arithmetic the result is
      within 1e-40 of that and shows as 17,917.70.
    """
    r = compute(quarter(QUARTER_B))
    oct_, nov, dec = r.months
    assert (oct_.ptin_usd_per_lb, oct_.te_usd_per_lb, oct_.fob_usd_per_lb) == (
        D("6.675"),
        D("0.142"),
        D("6.533"),
    )
    assert (nov.ptin_usd_per_lb, nov.te_bdi_usd_per_lb, nov.fob_usd_per_lb) == (
        D("6.775"),
        D("0.1136"),
        D("6.6614"),
    )
    assert dec.premium_usd_per_lb == D("0.18")
    assert (dec.ptin_usd_per_lb, dec.te_usd_per_lb, dec.fob_usd_per_lb) == (
        D("6.58"),
        D("0.071"),
        D("6.509"),
    )
    assert {m.te_source for m in r.months} == {TE_SOURCE_BDI}
    assert r.pfob_usd_per_lb == D("6.5678")
    assert r.pfob_cop_per_lb == D("25617.7039")
    assert r.cph_cop_per_lb == D(9100)
    assert r.ctp_cop_per_lb == D(500)
    assert r.cm_cop_per_lb == D("666." + "6" * 46 + "7")
    assert abs(Fraction(r.pblrn_cop_per_lb) - Fraction("17917.7039")) < Fraction(1, 10**40)
    assert present(r.pblrn_cop_per_lb) == D("17917.70")
    assert present(r.cm_cop_per_lb) == D("666.67")


def test_quarter_c_constants_are_data() -> None:
    """2027-Q1 from Oct–Dec 2026 with BDI0 1000, Flete0 0.0600, factor 0.70 (months given
    out of order: Dec, Oct, Nov).

    Oct: premium (0.12 + 0.48)/2 = 0.30; PTIN 8.30; TE_bdi = 0.06×1500/1000 = 0.09 equals
      the reported 0.09 → TE 0.09 (a tie counts as reported); FOB 8.21.
    Nov: EU 0.12, US (0.40+0.48)/2 = 0.44, premium 0.28; PTIN 8.38;
      TE_bdi = 0.06×1250/1000 = 0.075 < 0.10 → TE 0.075; FOB 8.305.
    Dec: EU 0.14, US 0.48, premium 0.31; PTIN 8.51; TE_bdi = 0.06×2500/1000 = 0.15
      > reported 0.12 → TE 0.12; FOB 8.39.
    ΣV = 0.5e6 + 1.5e6 + 2e6 = 4e6; Σ FOB·V = 4,105,000 + 12,457,500 + 16,780,000
      = 33,342,500 → PFOB = 8.335625; × 4100 = 34,176.0625.
    CPH = 40e9/4e6 = 10,000; CM = 2e9/4e6 = 500; CTP = 1.2e9/4e6 = 300; sum 10,800;
      × 0.70 = 7,560. PBLRN = 34,176.0625 − 7,560 = 26,616.0625 → shown 26,616.06.
    Exported: (8.305 × 1.6e6 + 8.39 × 1.9e6)/3.5e6 = 29,229,000/3.5e6 = 8.3511428571…
    """
    r = compute(quarter(QUARTER_C))
    oct_, nov, dec = r.months
    assert str(oct_.month) == "2026-10"
    assert (oct_.ptin_usd_per_lb, oct_.te_bdi_usd_per_lb, oct_.te_usd_per_lb) == (
        D("8.30"),
        D("0.09"),
        D("0.09"),
    )
    assert oct_.te_source == TE_SOURCE_REPORTED
    assert oct_.fob_usd_per_lb == D("8.21")
    assert (nov.ptin_usd_per_lb, nov.te_usd_per_lb, nov.fob_usd_per_lb) == (
        D("8.38"),
        D("0.075"),
        D("8.305"),
    )
    assert nov.te_source == TE_SOURCE_BDI
    assert (dec.ptin_usd_per_lb, dec.te_bdi_usd_per_lb, dec.te_usd_per_lb) == (
        D("8.51"),
        D("0.15"),
        D("0.12"),
    )
    assert dec.fob_usd_per_lb == D("8.39")
    assert r.pfob_usd_per_lb == D("8.335625")
    assert r.pfob_cop_per_lb == D("34176.0625")
    assert (r.cph_cop_per_lb, r.cm_cop_per_lb, r.ctp_cop_per_lb) == (D(10000), D(500), D(300))
    assert r.deduction_cop_per_lb == D(7560)
    assert r.pblrn_cop_per_lb == D("26616.0625")
    assert present(r.pblrn_cop_per_lb) == D("26616.06")
    assert r.pfob_exported_weighted_usd_per_lb is not None
    assert present(r.pfob_exported_weighted_usd_per_lb, 4) == D("8.3511")
    assert abs(
        Fraction(r.pfob_exported_weighted_usd_per_lb) - Fraction(29_229_000, 3_500_000)
    ) < Fraction(1, 10**45)


def test_no_exports_leaves_the_exported_figure_empty() -> None:
    d = doc(QUARTER_A)
    for m in d["months"]:
        m["exported_lb"] = "0"
    r = compute(quarter(d))
    assert r.pfob_exported_weighted_usd_per_lb is None
    assert r.pblrn_cop_per_lb == D("22344.6")  # exports do not enter the PBLRN


def test_present_rounds_half_up_away_from_zero() -> None:
    assert present(D("2.345")) == D("2.35")
    assert present(D("2.335")) == D("2.34")
    assert present(D("-2.345")) == D("-2.35")
    assert present(D("0.00005"), 4) == D("0.0001")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda q: replace(q, months=q.months[:2]), "months"),
        (
            lambda q: replace(q, months=(q.months[0], q.months[0], q.months[2])),
            "months[1].month",
        ),
        (
            lambda q: replace(
                q, months=(replace(q.months[0], month=Month(2025, 7)), *q.months[1:])
            ),
            "months[0].month",
        ),
        (lambda q: replace(q, trm_cop_per_usd=D(0)), "trm_cop_per_usd"),
        (
            lambda q: replace(q, months=(replace(q.months[0], bdi=D(0)), *q.months[1:])),
            "months[0].bdi",
        ),
        (
            lambda q: replace(
                q, months=(q.months[0], replace(q.months[1], lme_3m_usd_per_lb=D(-1)), q.months[2])
            ),
            "months[1].lme_3m_usd_per_lb",
        ),
        (
            lambda q: replace(
                q,
                months=tuple(replace(m, produced_lb=D(0)) for m in q.months),
            ),
            "months[*].produced_lb",
        ),
        (
            lambda q: replace(
                q,
                months=(
                    replace(q.months[0], premium_us_low_usd_per_lb=D("0.9")),
                    *q.months[1:],
                ),
            ),
            "months[0].premium_us_low_usd_per_lb",
        ),
        (
            lambda q: replace(q, constants=replace(DEFAULT_CONSTANTS, cost_factor=D("1.5"))),
            "constants.cost_factor",
        ),
        (
            lambda q: replace(q, constants=replace(DEFAULT_CONSTANTS, bdi_base=D(0))),
            "constants.bdi_base",
        ),
    ],
)
def test_validate_names_the_field(change: object, field: str) -> None:
    bad = change(quarter(QUARTER_A))  # type: ignore[operator]
    with pytest.raises(RoyaltiesInputError) as info:
        validate(bad)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")
    assert info.value.code == "royalties_invalid_input"


# --- invariants -----------------------------------------------------------------------

price = st.decimals(min_value=D("0.5"), max_value=D("20"), places=4)
premium = st.decimals(min_value=D(0), max_value=D("1"), places=4)
freight = st.decimals(min_value=D(0), max_value=D("0.5"), places=4)
bdi = st.decimals(min_value=D(100), max_value=D(5000), places=0)
volume = st.decimals(min_value=D(1), max_value=D(10_000_000), places=0)
cost = st.decimals(min_value=D(0), max_value=D(200_000_000_000), places=0)


@st.composite
def months_st(draw: st.DrawFn, m: Month) -> MonthInput:
    eu_low, us_low = draw(premium), draw(premium)
    return MonthInput(
        month=m,
        lme_3m_usd_per_lb=draw(price),
        premium_eu_low_usd_per_lb=eu_low,
        premium_eu_high_usd_per_lb=eu_low + draw(premium),
        premium_us_low_usd_per_lb=us_low,
        premium_us_high_usd_per_lb=us_low + draw(premium),
        bdi=draw(bdi),
        freight_reported_usd_per_lb=draw(freight),
        produced_lb=draw(volume),
        exported_lb=draw(volume),
        furnace_cost_cop=draw(cost),
        handling_cost_cop=draw(cost),
        transport_port_cost_cop=draw(cost),
    )


@st.composite
def quarters_st(draw: st.DrawFn) -> QuarterInput:
    q = Quarter(draw(st.integers(2016, 2040)), draw(st.integers(1, 4)))
    return QuarterInput(
        quarter=q,
        trm_cop_per_usd=draw(st.decimals(min_value=D(1000), max_value=D(6000), places=2)),
        months=tuple(draw(months_st(m)) for m in q.data_months),
    )


COST_FIELDS = ("furnace_cost_cop", "handling_cost_cop", "transport_port_cost_cop")


@settings(max_examples=200, deadline=None)
@given(
    q=quarters_st(),
    index=st.integers(0, 2),
    field=st.sampled_from(COST_FIELDS),
    rise=st.decimals(min_value=D(1), max_value=D(10_000_000_000), places=0),
)
def test_pblrn_falls_when_any_cost_rises(q: QuarterInput, index: int, field: str, rise: D) -> None:
    months = list(q.months)
    months[index] = replace(months[index], **{field: getattr(months[index], field) + rise})
    assert compute(replace(q, months=tuple(months))).pblrn_cop_per_lb < compute(q).pblrn_cop_per_lb


@settings(max_examples=200, deadline=None)
@given(q=quarters_st(), order=st.permutations([0, 1, 2]))
def test_permuting_months_changes_nothing(q: QuarterInput, order: list[int]) -> None:
    permuted = replace(q, months=tuple(q.months[i] for i in order))
    assert compute(permuted) == compute(q)


@settings(max_examples=200, deadline=None)
@given(
    q=quarters_st(),
    factor=st.decimals(min_value=D("0.001"), max_value=D(1000), places=3),
)
def test_scaling_all_volumes_leaves_pfob_unchanged(q: QuarterInput, factor: D) -> None:
    scaled = replace(
        q,
        months=tuple(
            replace(m, produced_lb=m.produced_lb * factor, exported_lb=m.exported_lb * factor)
            for m in q.months
        ),
    )
    before, after = compute(q), compute(scaled)
    assert after.pfob_usd_per_lb == before.pfob_usd_per_lb
    assert after.pfob_exported_weighted_usd_per_lb == before.pfob_exported_weighted_usd_per_lb


@settings(max_examples=200, deadline=None)
@given(q=quarters_st())
def test_result_satisfies_the_formulas(q: QuarterInput) -> None:
    """Each month's FOB is PTIN − min(TE_real, TE_bdi) and the TE never exceeds either."""
    r = compute(q)
    for m in r.months:
        assert m.te_usd_per_lb <= m.te_real_usd_per_lb
        assert m.te_usd_per_lb <= m.te_bdi_usd_per_lb
        assert m.fob_usd_per_lb == m.ptin_usd_per_lb - m.te_usd_per_lb
    assert min(m.fob_usd_per_lb for m in r.months) <= r.pfob_usd_per_lb
    assert r.pfob_usd_per_lb <= max(m.fob_usd_per_lb for m in r.months)
