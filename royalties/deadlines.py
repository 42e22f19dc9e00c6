"""The procedure's dates: publication deadlines and the comments period.

- The resolution fixing the PBLRN of quarter *t* is published in the Diario Oficial by
  the last business day of the quarter's last month (March, June, September,
  December; procedure §5.1, Tabla 2). Business days exclude Saturdays, Sundays and the
  Colombian public holidays of the ``holidays`` package (its ``Colombia`` calendar;
  Ley 51 de 1983 moves many to Monday). The data are those of quarter *t−1*, so they
  exist in full only once *t* has begun; the royalties of *t* are liquidated after *t*
  ends, with this price.
- The draft and its external circulars are published for comments for at least
  :data:`COMMENTS_MIN_DAYS` calendar days counted from the day after publication
  (activity 19). Published on day P, comments run P+1 … P+15 and the resolution can be
  sent to the Diario Oficial from P+16 on; so the draft is due by the last business day
  on or before ``deadline − 16`` days.

Dates are Colombian civil dates (UTC−5, no daylight saving time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import holidays

from royalties.quarters import Quarter

COLOMBIA_TZ = timezone(timedelta(hours=-5), "COT")
"""Colombia's time zone: UTC−5 all year (no DST), so no tz database is needed."""
COMMENTS_MIN_DAYS = 15


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("CO", years=year).keys())


def is_business_day(day: date) -> bool:
    """Not a weekend day and not a Colombian public holiday."""
    return day.weekday() < 5 and day not in _holidays_of(day.year)


def holiday_name(day: date) -> str | None:
    """The holiday's name in Spanish, if ``day`` is one."""
    name = holidays.country_holidays("CO", years=day.year, language="es").get(day)
    return None if name is None else str(name)


def previous_business_day(day: date) -> date:
    """``day`` if it is a business day, else the closest business day before it."""
    for _ in range(31):
        if is_business_day(day):
            return day
        day -= timedelta(days=1)
    raise AssertionError("no business day in a month")  # pragma: no cover


def last_business_day(year: int, month: int) -> date:
    """The last business day of a month."""
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    return previous_business_day(first_of_next - timedelta(days=1))


def colombian_date(at: datetime) -> date:
    """The Colombian civil date of an aware instant."""
    assert at.tzinfo is not None, "naive datetime"
    return at.astimezone(COLOMBIA_TZ).date()


def comments_last_day(published: date) -> date:
    """Last day on which comments on a draft published on ``published`` are received."""
    return published + timedelta(days=COMMENTS_MIN_DAYS)


@dataclass(frozen=True)
class QuarterDeadlines:
    """The dates of one quarter's resolution."""

    quarter: Quarter
    data_quarter: Quarter
    comments_publication_due: date
    """Last day to publish the draft and circulars for comments (activities 19–20)."""
    comments_last_day_at_latest: date
    """Last comment day when the draft is published on its due date."""
    publication_due: date
    """Last business day to publish the resolution in the Diario Oficial."""


def deadlines_for(quarter: Quarter) -> QuarterDeadlines:
    """The publication deadline of ``quarter`` and the latest start of its comments."""
    last = quarter.last_month
    publication = last_business_day(last.year, last.month)
    comments_due = previous_business_day(publication - timedelta(days=COMMENTS_MIN_DAYS + 1))
    return QuarterDeadlines(
        quarter=quarter,
        data_quarter=quarter.previous(),
        comments_publication_due=comments_due,
        comments_last_day_at_latest=comments_last_day(comments_due),
        publication_due=publication,
    )


def deadlines_of_year(year: int) -> tuple[QuarterDeadlines, ...]:
    """The four quarters' deadlines of a year."""
    return tuple(deadlines_for(Quarter(year, n)) for n in (1, 2, 3, 4))
