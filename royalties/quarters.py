"""Calendar quarters ("2025-Q3") and months ("2025-04") as small value objects."""

from __future__ import annotations

import re
from dataclasses import dataclass

from royalties.errors import RoyaltiesInputError

_QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")

# The methodology (Resolución ANM 293 de 2015) starts in 2015; the upper bound only
# keeps typos such as "20025" out.
MIN_YEAR = 2015
MAX_YEAR = 2999


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, *, field: str = "month") -> Month:
        """Parse ``YYYY-MM``; raise :class:`RoyaltiesInputError` naming ``field``."""
        match = _MONTH_RE.match(text)
        if match is None or not 1 <= int(match.group(2)) <= 12:
            raise RoyaltiesInputError(
                f"{field}: el mes debe tener la forma AAAA-MM (p. ej. 2025-04), no {text!r}",
                field=field,
            )
        year = int(match.group(1))
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise RoyaltiesInputError(
                f"{field}: año fuera de rango ({MIN_YEAR}-{MAX_YEAR}): {text!r}", field=field
            )
        return cls(year, int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter: the period for which a base price is fixed."""

    year: int
    number: int

    def __post_init__(self) -> None:
        assert 1 <= self.number <= 4, self.number

    @classmethod
    def parse(cls, text: str, *, field: str = "quarter") -> Quarter:
        """Parse ``YYYY-Qn``; raise :class:`RoyaltiesInputError` naming ``field``."""
        match = _QUARTER_RE.match(text)
        if match is None:
            raise RoyaltiesInputError(
                f"{field}: el trimestre debe tener la forma AAAA-Qn (p. ej. 2025-Q3), no {text!r}",
                field=field,
            )
        year = int(match.group(1))
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise RoyaltiesInputError(
                f"{field}: año fuera de rango ({MIN_YEAR}-{MAX_YEAR}): {text!r}", field=field
            )
        return cls(year, int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-Q{self.number}"

    @property
    def months(self) -> tuple[Month, Month, Month]:
        """The three months of this quarter, in order."""
        first = 3 * (self.number - 1) + 1
        return (
            Month(self.year, first),
            Month(self.year, first + 1),
            Month(self.year, first + 2),
        )

    def previous(self) -> Quarter:
        """The quarter immediately before this one."""
        if self.number == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.number - 1)

    @property
    def data_months(self) -> tuple[Month, Month, Month]:
        """The months whose data fix this quarter's price: those of quarter t−1."""
        return self.previous().months

    @property
    def last_month(self) -> Month:
        """The quarter's last month (March, June, September or December)."""
        return self.months[2]
