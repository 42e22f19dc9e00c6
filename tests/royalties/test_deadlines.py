"""Publication deadlines 2025–2027, derived by hand from the Colombian holiday list.

Colombian holidays near quarter ends (Ley 51 de 1983 moves many to the next Monday):
- 2025: San José (Mar 19) → Mon Mar 24; Easter Apr 20, so Ascensión → Mon Jun 2,
  Corpus Christi → Mon Jun 23, Sagrado Corazón → Mon Jun 30, and San Pedro y San Pablo
  (Sun Jun 29) → Mon Jun 30 as well; no September holiday; Dec 8 (Mon), Dec 25 (Thu).
- 2026: San José → Mon Mar 23; Easter Apr 5 (Holy Thursday/Friday Apr 2–3, in April);
  Corpus Christi → Mon Jun 8, Sagrado Corazón → Mon Jun 15, San Pedro y San Pablo on
  Mon Jun 29 itself; Dec 8 (Tue), Dec 25 (Fri).
- 2027: San José → Mon Mar 22; Easter Mar 28, so Holy Thursday Mar 25 and Good Friday
  Mar 26; Sagrado Corazón → Mon Jun 7, San Pedro y San Pablo (Tue Jun 29) → Mon Jul 5;
  Dec 8 (Wed), Dec 25 (Sat).

Publication due = last business day of the quarter's last month:
- 2025: Mar 31 is a Monday and not a holiday → 2025-03-31. Jun 30 (Mon) is a holiday,
  Jun 28–29 a weekend → Fri 2025-06-27. Sep 30 is a Tuesday → 2025-09-30. Dec 31 is a
  Wednesday → 2025-12-31.
- 2026: Tue Mar 31, Tue Jun 30 (the holiday is the day before), Wed Sep 30, Thu Dec 31.
- 2027: Wed Mar 31 (Holy Week ended on the 26th), Wed Jun 30, Thu Sep 30, Fri Dec 31.

Draft for comments due = last business day on or before (publication due − 16 days)
(comments run 15 calendar days from the day after; the resolution goes out the day
after they end at the earliest):
- 2025-Q1: Mar 31 − 16 = Sat Mar 15 → Fri Mar 14; comments until Mar 29.
- 2025-Q2: Jun 27 − 16 = Wed Jun 11 → Jun 11; until Jun 26.
- 2025-Q3: Sep 30 − 16 = Sun Sep 14 → Fri Sep 12; until Sep 27.
- 2025-Q4: Dec 31 − 16 = Mon Dec 15 → Dec 15; until Dec 30.
- 2026-Q1: Sun Mar 15 → Fri Mar 13 (until Mar 28). Q2: Sun Jun 14 → Fri Jun 12 (until
  Jun 27). Q3: Mon Sep 14 (until Sep 29). Q4: Tue Dec 15 (until Dec 30).
- 2027-Q1: Mon Mar 15 (until Mar 30). Q2: Mon Jun 14 (until Jun 29). Q3: Tue Sep 14
  (until Sep 29). Q4: Wed Dec 15 (until Dec 30).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from royalties.deadlines import (
    colombian_date,
    deadlines_for,
    deadlines_of_year,
    holiday_name,
    is_business_day,
    last_business_day,
)
from royalties.quarters import Quarter

EXPECTED = {
    # quarter: (draft for comments due, last comment day, Diario Oficial due)
    "2025-Q1": ("2025-03-14", "2025-03-29", "2025-03-31"),
    "2025-Q2": ("2025-06-11", "2025-06-26", "2025-06-27"),
    "2025-Q3": ("2025-09-12", "2025-09-27", "2025-09-30"),
    "2025-Q4": ("2025-12-15", "2025-12-30", "2025-12-31"),
    "2026-Q1": ("2026-03-13", "2026-03-28", "2026-03-31"),
    "2026-Q2": ("2026-06-12", "2026-06-27", "2026-06-30"),
    "2026-Q3": ("2026-09-14", "2026-09-29", "2026-09-30"),
    "2026-Q4": ("2026-12-15", "2026-12-30", "2026-12-31"),
    "2027-Q1": ("2027-03-15", "2027-03-30", "2027-03-31"),
    "2027-Q2": ("2027-06-14", "2027-06-29", "2027-06-30"),
    "2027-Q3": ("2027-09-14", "2027-09-29", "2027-09-30"),
    "2027-Q4": ("2027-12-15", "2027-12-30", "2027-12-31"),
}


@pytest.mark.parametrize(("quarter", "expected"), sorted(EXPECTED.items()))
def test_deadlines_of_every_quarter(quarter: str, expected: tuple[str, str, str]) -> None:
    d = deadlines_for(Quarter.parse(quarter))
    assert (
        d.comments_publication_due.isoformat(),
        d.comments_last_day_at_latest.isoformat(),
        d.publication_due.isoformat(),
    ) == expected
    assert d.data_quarter == Quarter.parse(quarter).previous()


def test_deadlines_of_year_lists_the_four_quarters() -> None:
    assert [str(d.quarter) for d in deadlines_of_year(2026)] == [
        "2026-Q1",
        "2026-Q2",
        "2026-Q3",
        "2026-Q4",
    ]


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2025, 6, 30), False),  # Sagrado Corazón + San Pedro y San Pablo (moved)
        (date(2025, 3, 24), False),  # San José, moved to Monday
        (date(2025, 3, 19), True),  # San José's own date is a working Wednesday in 2025
        (date(2027, 3, 26), False),  # Good Friday
        (date(2026, 6, 29), False),  # San Pedro y San Pablo on a Monday
        (date(2026, 6, 30), True),
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), False),  # Sunday
        (date(2025, 12, 31), True),
    ],
)
def test_business_days(day: date, business: bool) -> None:
    assert is_business_day(day) is business


def test_last_business_day_skips_weekend_and_holiday() -> None:
    assert last_business_day(2025, 6) == date(2025, 6, 27)
    assert last_business_day(2025, 5) == date(2025, 5, 30)  # May 31 2025 is a Saturday
    assert holiday_name(date(2025, 6, 30)) is not None
    assert "San Pedro" in str(holiday_name(date(2025, 6, 30)))
    assert holiday_name(date(2025, 6, 27)) is None


def test_colombian_date_is_utc_minus_five() -> None:
    assert colombian_date(datetime(2025, 10, 1, 4, 59, tzinfo=UTC)) == date(2025, 9, 30)
    assert colombian_date(datetime(2025, 10, 1, 5, 0, tzinfo=UTC)) == date(2025, 10, 1)
