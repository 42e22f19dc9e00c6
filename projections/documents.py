"""Reading fields out of stored event documents.

The read models fold each event's JSON document as the transcoder wrote it (see
``projections.stored``) rather than an event object: ids, decimals, dates and datetimes
are ``{"_type_": …, "_data_": text}`` pairs there, read with the helpers below.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple


class Item(NamedTuple):
    """One event to project: its place in the log and its stored JSON document.

    ``doc`` is the document as the JSON transcoder wrote it: ids, decimals, dates and
    datetimes are ``{"_type_": …, "_data_": text}`` pairs, read with the helpers below.
    """

    position: int
    kind: str  # the event class name, e.g. "Reserved"
    topic: str
    originator_id: str  # canonical text
    version: int
    doc: dict[str, Any]


def dec(v: dict[str, str]) -> Decimal:
    """A stored decimal."""
    return Decimal(v["_data_"])


def dt(v: dict[str, str]) -> str:
    """A stored datetime as its ISO 8601 text (with offset).

    Rows keep datetimes as that text: COPY hands it to PostgreSQL as is (formatting a
    datetime object costs ~1.1 µs a value, a third of a purchase row's COPY), and the
    statement path turns it back into a datetime (``projections.bulk.bindable``).
    """
    return v["_data_"]


def hyphenated(h: str) -> str:
    """A UUID's 32 hex digits in the canonical hyphenated text."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: Holders are few and recur on every event: their text form is cached (give it the
#: stored id's ``_data_``, the hex digits).
holder = lru_cache(maxsize=4096)(hyphenated)


def uid(v: dict[str, str]) -> str:
    """A stored UUID (hex) in the canonical hyphenated text of the read models."""
    return hyphenated(v["_data_"])


def text(v: Any) -> str | None:
    """A stored value as text: typed values (dates, decimals) by their ``_data_``."""
    if v is None:
        return None
    if isinstance(v, dict):
        return str(v["_data_"])
    return str(v)
