"""Test data: valid documents, a registered buyer and operator, production, drafts.

They live in ``testkit.world`` (the benchmarks use them too); the tests' names stay here.
"""

from __future__ import annotations

from testkit.world import (
    SHA,
    World,
    last_code,
    make_world,
    nit,
    outbox,
    today,
    wrong_nit,
)

__all__ = ["SHA", "World", "last_code", "make_world", "nit", "outbox", "today", "wrong_nit"]
