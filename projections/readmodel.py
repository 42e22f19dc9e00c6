"""What a read model is: a fold of events into rows.

A projection applies a *batch* of events (one page of the notification log) inside one
database transaction, together with its tracking position, so every event is applied
exactly once (``projections.runner``). Within a batch, rows are folded in memory and
written with a few multi-row statements at the end (``projections.bulk``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, delete

from projections.documents import Item


class ReadModel:
    """A projection: event topics it consumes, how to fold them, how to reset."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    tables: ClassVar[tuple[Table, ...]]

    def apply(self, conn: Connection, items: Sequence[Item]) -> None:
        """Fold the batch into rows within ``conn``'s transaction."""
        raise NotImplementedError

    def reset(self, conn: Connection) -> None:
        """Delete every row of this read model (before a rebuild)."""
        for table in reversed(self.tables):
            conn.execute(delete(table))


def topics_of(aggregate: type, *names: str) -> tuple[str, ...]:
    """The topics of an aggregate's event classes, by class name."""
    # Event classes are made by the @event decorator, so they are looked up by name
    # (and the lookup fails loudly here if an event is ever renamed).
    return tuple(get_topic(getattr(aggregate, n)) for n in names)
