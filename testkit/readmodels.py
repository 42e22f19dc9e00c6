"""Checks of the read models: against what the aggregates say, and against a fresh replay
of the whole log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Engine, select

from projections import queries
from projections import tables as t
from ptm.bootstrap import Services


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row, in a stable order."""
    out = {}
    with engine.connect() as conn:
        for table in (t.origin_codes, t.balances, t.purchases, t.custody, t.report):
            keys = list(table.primary_key.columns)
            out[table.name] = [
                dict(r._mapping) for r in conn.execute(select(table).order_by(*keys))
            ]
    return out


def assert_balances_match_aggregates(svc: Services, codes: list[str]) -> None:
    """Every holder's balance row of each origin code equals the aggregate's figures."""
    rows = {(r["holder_id"], r["origin_code"]): r for r in queries.all_balances(svc.engine)}
    for code in codes:
        oc = svc.ledger.get_origin_code(code)
        for holder, available in oc.available.items():
            r = rows[(holder, code)]
            assert r["available"] == available
            assert r["reserved"] == oc.reserved_by(UUID(holder))


def assert_equals_fresh_replay(svc: Services) -> None:
    """Rebuilding every read model from the log gives exactly the rows there are now."""
    incremental = dump(svc.engine)
    for view in svc.runner.views:
        svc.runner.rebuild(view.name)
    assert dump(svc.engine) == incremental
